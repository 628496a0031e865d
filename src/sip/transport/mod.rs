//! SIP transports, the thin IO shell under the sans-IO SIP core: one UDP socket and one TCP
//! listener on the configured address. Inbound datagrams and stream-framed messages go to the core
//! as [`Inbound`] values over a channel; the core's [`Transmit`]s come back through
//! [`SipTransports::send`]. TCP connections are keyed by peer address so responses go back on the
//! connection a request came in on (RFC 3261 18.2.2); the number of connections is capped, idle
//! ones are closed, and a stream that cannot be framed is handed up once (for a 400) and closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use dashmap::DashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch, Semaphore};

use crate::sip::message::{next_stream_item, StreamItem};
pub use crate::sip::transaction::{Transmit, Transport};

/// Largest UDP datagram we accept.
const MAX_DATAGRAM: usize = 65_535;
/// A TCP connection with no traffic for this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(300);
/// Bytes queued towards one TCP peer before further messages to it are dropped.
const TCP_SEND_QUEUE: usize = 256;

/// One message (or an unframeable stream chunk) from the network.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub transport: Transport,
    pub source: SocketAddr,
    pub payload: Bytes,
}

/// The sockets. Cheap to clone; all clones share the sockets and the connection table.
#[derive(Clone)]
pub struct SipTransports {
    local: SocketAddr,
    udp: Option<Arc<UdpSocket>>,
    tcp: Option<TcpSide>,
}

#[derive(Clone)]
struct TcpSide {
    conns: Arc<DashMap<SocketAddr, mpsc::Sender<Bytes>>>,
    limit: Arc<Semaphore>,
    inbound: mpsc::Sender<Inbound>,
    shutdown: watch::Receiver<bool>,
}

impl SipTransports {
    /// Binds the enabled transports on `listen` and starts their reader tasks.
    pub async fn bind(
        listen: SocketAddr,
        udp: bool,
        tcp: bool,
        max_tcp_connections: usize,
        inbound: mpsc::Sender<Inbound>,
        shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<SipTransports> {
        let udp_sock = if udp {
            let sock = Arc::new(UdpSocket::bind(listen).await?);
            tokio::spawn(udp_reader(sock.clone(), inbound.clone(), shutdown.clone()));
            Some(sock)
        } else {
            None
        };
        let tcp_side = if tcp {
            let listener = TcpListener::bind(listen).await?;
            let side = TcpSide {
                conns: Arc::new(DashMap::new()),
                limit: Arc::new(Semaphore::new(max_tcp_connections.max(1))),
                inbound,
                shutdown,
            };
            tokio::spawn(tcp_acceptor(listener, side.clone()));
            Some(side)
        } else {
            None
        };
        Ok(SipTransports { local: listen, udp: udp_sock, tcp: tcp_side })
    }

    /// The address SIP is served on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Sends one message without waiting. Over UDP a full socket buffer drops the datagram (SIP
    /// retransmits); over TCP it goes on the peer's connection, opening one if needed.
    pub fn send(&self, t: Transmit) {
        match t.transport {
            Transport::Udp => {
                if let Some(sock) = &self.udp {
                    if let Err(e) = sock.try_send_to(&t.payload, t.dest) {
                        metrics::counter!("meritline_sip_send_errors_total", "transport" => "udp").increment(1);
                        tracing::debug!(dest = %t.dest, error = %e, "udp send failed");
                    }
                }
            }
            Transport::Tcp => {
                if let Some(side) = &self.tcp {
                    side.send(t.dest, t.payload);
                }
            }
        }
    }
}

async fn udp_reader(sock: Arc<UdpSocket>, inbound: mpsc::Sender<Inbound>, mut shutdown: watch::Receiver<bool>) {
    let mut buf = BytesMut::with_capacity(MAX_DATAGRAM * 4);
    loop {
        if buf.capacity() < MAX_DATAGRAM {
            buf.reserve(MAX_DATAGRAM * 4);
        }
        // Reads into the spare capacity as it is: no 64 KiB zero-fill per datagram.
        buf.clear();
        let res = tokio::select! {
            r = sock.recv_buf_from(&mut buf) => r,
            _ = shutdown.changed() => return,
        };
        match res {
            Ok((_, source)) => {
                let payload = buf.split().freeze();
                if inbound.send(Inbound { transport: Transport::Udp, source, payload }).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                // ICMP errors from earlier sends surface here on Linux; they are not fatal.
                tracing::debug!(error = %e, "udp recv error");
                buf.clear();
            }
        }
    }
}

async fn tcp_acceptor(listener: TcpListener, side: TcpSide) {
    let mut shutdown = side.shutdown.clone();
    loop {
        let permit = tokio::select! {
            p = side.limit.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = shutdown.changed() => return,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let side = side.clone();
                tokio::spawn(async move {
                    side.run_connection(stream, peer).await;
                    drop(permit);
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "tcp accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

impl TcpSide {
    fn send(&self, dest: SocketAddr, payload: Bytes) {
        if let Some(tx) = self.conns.get(&dest).map(|c| c.clone()) {
            if tx.try_send(payload).is_err() {
                metrics::counter!("meritline_sip_send_errors_total", "transport" => "tcp").increment(1);
            }
            return;
        }
        // No connection to that peer: open one (an agent phone registered over TCP that dropped
        // its connection, or a contact we call first).
        let side = self.clone();
        tokio::spawn(async move {
            let Ok(permit) = side.limit.clone().try_acquire_owned() else {
                metrics::counter!("meritline_sip_send_errors_total", "transport" => "tcp").increment(1);
                return;
            };
            match tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(dest)).await {
                Ok(Ok(stream)) => {
                    let (tx, rx) = mpsc::channel(TCP_SEND_QUEUE);
                    let _ = tx.try_send(payload);
                    side.run_connection_with(stream, dest, tx, rx).await;
                }
                _ => {
                    metrics::counter!("meritline_sip_send_errors_total", "transport" => "tcp").increment(1);
                    tracing::debug!(%dest, "tcp connect failed");
                }
            }
            drop(permit);
        });
    }

    async fn run_connection(&self, stream: TcpStream, peer: SocketAddr) {
        let (tx, rx) = mpsc::channel(TCP_SEND_QUEUE);
        self.run_connection_with(stream, peer, tx, rx).await;
    }

    async fn run_connection_with(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        tx: mpsc::Sender<Bytes>,
        mut rx: mpsc::Receiver<Bytes>,
    ) {
        metrics::gauge!("meritline_sip_tcp_connections").increment(1.0);
        let pong_tx = tx.clone();
        self.conns.insert(peer, tx);
        let _ = stream.set_nodelay(true);
        let (mut reader, mut writer) = stream.into_split();
        let writer_task = tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                if writer.write_all(&msg).await.is_err() {
                    break;
                }
            }
            let _ = writer.shutdown().await;
        });
        let mut shutdown = self.shutdown.clone();
        let mut buf = BytesMut::with_capacity(8192);
        'read: loop {
            let read = tokio::select! {
                r = tokio::time::timeout(TCP_IDLE, reader.read_buf(&mut buf)) => r,
                _ = shutdown.changed() => break,
            };
            match read {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                Ok(Ok(_)) => {}
            }
            loop {
                match next_stream_item(&buf) {
                    Ok(Some(StreamItem::Message(len))) => {
                        let payload = buf.split_to(len).freeze();
                        if self
                            .inbound
                            .send(Inbound { transport: Transport::Tcp, source: peer, payload })
                            .await
                            .is_err()
                        {
                            break 'read;
                        }
                    }
                    Ok(Some(item @ StreamItem::Ping)) => {
                        // RFC 5626 keep-alive: answer the double-CRLF ping with a CRLF pong.
                        let _ = buf.split_to(item.len());
                        let _ = pong_tx.try_send(Bytes::from_static(b"\r\n"));
                    }
                    Ok(Some(item @ StreamItem::Pong)) => {
                        let _ = buf.split_to(item.len());
                    }
                    Ok(None) => break,
                    Err(e) => {
                        // Hand what we have up once so the core can answer 400 if it can read a
                        // Via, then stop reading: the stream cannot be resynchronised.
                        tracing::debug!(%peer, error = %e, "tcp framing error");
                        let payload = buf.split().freeze();
                        let _ = self.inbound.send(Inbound { transport: Transport::Tcp, source: peer, payload }).await;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        break 'read;
                    }
                }
            }
        }
        self.conns.remove(&peer);
        drop(pong_tx);
        // The writer ends once every sender is gone; give queued replies (a 400) time to leave.
        let abort = writer_task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(2), writer_task).await.is_err() {
            abort.abort();
        }
        metrics::gauge!("meritline_sip_tcp_connections").decrement(1.0);
    }
}
