//! Event sinks: consumers that carry the committed event log out of the switch. Each reads only
//! the store (never the call path), so a slow or dead receiver cannot delay a call. Today:
//! [`webhook`], batched HTTP POSTs with a durable cursor. The Server-Sent Events stream is served
//! by the API (`api::sse`), because it answers an HTTP request.

pub mod webhook;
