//! `Cidr`: an IPv4 or IPv6 network written as `address/prefix` (a bare address means a single
//! host), used by trunk allow lists to decide which source addresses may send carrier traffic.
//! Parsing is strict: host bits below the prefix must be zero, so `10.0.0.1/8` is rejected rather
//! than silently widened. Matching treats IPv4-mapped IPv6 sources (`::ffff:a.b.c.d`, as seen on
//! dual-stack sockets) as the IPv4 address they carry.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// An IP network: a base address plus a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix_len: u8,
}

/// Why a string is not a valid CIDR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("invalid CIDR {0:?}: not an IP address")]
    BadAddress(String),
    #[error("invalid CIDR {0:?}: prefix length is not a number")]
    BadPrefix(String),
    #[error("invalid CIDR {text:?}: prefix length must be at most {max}")]
    PrefixTooLong { text: String, max: u8 },
    #[error("invalid CIDR {text:?}: host bits are set (did you mean {suggestion}?)")]
    HostBitsSet { text: String, suggestion: String },
}

impl Cidr {
    /// A network from a base address and prefix length; fails if the prefix is longer than the
    /// address or if bits below the prefix are set.
    pub fn new(network: IpAddr, prefix_len: u8) -> Result<Self, CidrError> {
        let text = format!("{network}/{prefix_len}");
        let max = max_prefix_len(network);
        if prefix_len > max {
            return Err(CidrError::PrefixTooLong { text, max });
        }
        let masked = mask(network, prefix_len);
        if masked != network {
            return Err(CidrError::HostBitsSet { text, suggestion: format!("{masked}/{prefix_len}") });
        }
        Ok(Cidr { network, prefix_len })
    }

    /// The network's base address.
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The number of leading bits that are fixed.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether `ip` lies inside this network. An IPv4-mapped IPv6 address matches IPv4 networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.network, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            _ => ip,
        };
        match (self.network, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(ip, self.prefix_len) == self.network
            }
            _ => false,
        }
    }
}

fn max_prefix_len(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// `ip` with every bit after the first `prefix_len` cleared.
fn mask(ip: IpAddr, prefix_len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let keep = u32::MAX.checked_shl(32 - u32::from(prefix_len.min(32))).unwrap_or(0);
            IpAddr::V4((bits & keep).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let keep = u128::MAX.checked_shl(128 - u32::from(prefix_len.min(128))).unwrap_or(0);
            IpAddr::V6((bits & keep).into())
        }
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address.trim().parse().map_err(|_| CidrError::BadAddress(text.to_owned()))?;
        let prefix_len = match prefix {
            None => max_prefix_len(network),
            Some(prefix) => {
                let prefix = prefix.trim();
                if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(CidrError::BadPrefix(text.to_owned()));
                }
                let max = max_prefix_len(network);
                match prefix.parse::<u8>() {
                    Ok(len) if len <= max => len,
                    _ => return Err(CidrError::PrefixTooLong { text: text.to_owned(), max }),
                }
            }
        };
        Cidr::new(network, prefix_len).map_err(|err| match err {
            CidrError::HostBitsSet { suggestion, .. } => CidrError::HostBitsSet { text: text.to_owned(), suggestion },
            other => other,
        })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn parses_ipv4_networks_and_matches_members() {
        let loopback: Cidr = "127.0.0.0/8".parse().unwrap();
        assert_eq!(loopback.network(), ip("127.0.0.0"));
        assert_eq!(loopback.prefix_len(), 8);
        assert!(loopback.contains(ip("127.0.0.1")));
        assert!(loopback.contains(ip("127.255.255.255")));
        assert!(!loopback.contains(ip("128.0.0.1")));
        assert!(!loopback.contains(ip("::1")));
        assert_eq!(loopback.to_string(), "127.0.0.0/8");
    }

    #[test]
    fn parses_ipv6_networks_and_matches_members() {
        let doc: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(doc.contains(ip("2001:db8:1::7")));
        assert!(!doc.contains(ip("2001:db9::1")));
        assert!(!doc.contains(ip("127.0.0.1")));
        let host: Cidr = "::1/128".parse().unwrap();
        assert!(host.contains(ip("::1")));
        assert!(!host.contains(ip("::2")));
    }

    #[test]
    fn bare_address_is_a_single_host() {
        let host: Cidr = "192.0.2.7".parse().unwrap();
        assert_eq!(host.prefix_len(), 32);
        assert!(host.contains(ip("192.0.2.7")));
        assert!(!host.contains(ip("192.0.2.8")));
        let host6: Cidr = "2001:db8::7".parse().unwrap();
        assert_eq!(host6.prefix_len(), 128);
    }

    #[test]
    fn zero_prefix_matches_whole_family() {
        let all4: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all4.contains(ip("203.0.113.9")));
        assert!(!all4.contains(ip("2001:db8::1")));
        let all6: Cidr = "::/0".parse().unwrap();
        assert!(all6.contains(ip("2001:db8::1")));
        assert!(!all6.contains(ip("203.0.113.9")));
    }

    #[test]
    fn ipv4_mapped_ipv6_source_matches_ipv4_network() {
        let lan: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(lan.contains(ip("::ffff:10.1.2.3")));
        assert!(!lan.contains(ip("::ffff:10.2.2.3")));
    }

    #[test]
    fn odd_prefix_lengths_mask_correctly() {
        let net: Cidr = "192.168.4.0/22".parse().unwrap();
        assert!(net.contains(ip("192.168.7.255")));
        assert!(!net.contains(ip("192.168.8.0")));
        assert!(!net.contains(ip("192.168.3.255")));
    }

    #[test]
    fn rejects_malformed_text() {
        assert_eq!("10.0.0/8".parse::<Cidr>(), Err(CidrError::BadAddress("10.0.0/8".into())));
        assert_eq!("".parse::<Cidr>(), Err(CidrError::BadAddress("".into())));
        assert_eq!("10.0.0.0/".parse::<Cidr>(), Err(CidrError::BadPrefix("10.0.0.0/".into())));
        assert_eq!("10.0.0.0/x".parse::<Cidr>(), Err(CidrError::BadPrefix("10.0.0.0/x".into())));
        assert_eq!("10.0.0.0/-1".parse::<Cidr>(), Err(CidrError::BadPrefix("10.0.0.0/-1".into())));
        assert_eq!(
            "10.0.0.0/33".parse::<Cidr>(),
            Err(CidrError::PrefixTooLong { text: "10.0.0.0/33".into(), max: 32 })
        );
        assert_eq!("::/129".parse::<Cidr>(), Err(CidrError::PrefixTooLong { text: "::/129".into(), max: 128 }));
        assert_eq!(
            "10.0.0.0/999".parse::<Cidr>(),
            Err(CidrError::PrefixTooLong { text: "10.0.0.0/999".into(), max: 32 })
        );
    }

    #[test]
    fn rejects_host_bits_with_a_suggestion() {
        let err = "10.0.0.1/8".parse::<Cidr>().unwrap_err();
        assert_eq!(err.to_string(), "invalid CIDR \"10.0.0.1/8\": host bits are set (did you mean 10.0.0.0/8?)");
    }

    #[test]
    fn new_checks_prefix_and_host_bits() {
        assert!(Cidr::new(ip("10.0.0.0"), 8).is_ok());
        assert!(Cidr::new(ip("10.0.0.0"), 33).is_err());
        assert!(Cidr::new(ip("10.0.0.1"), 8).is_err());
    }
}
