//! Pure decoders for what the supervisor reads out of a step's memory: socket addresses
//! (`struct sockaddr_*`) and DNS queries.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The well-known DNS port.
pub(crate) const DNS_PORT: u16 = 53;

/// Where a socket call wants to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Destination {
    /// An IPv4 address and port.
    Inet(Ipv4Addr, u16),
    /// An IPv6 address and port.
    Inet6(Ipv6Addr, u16),
    /// A Unix socket path (`@name` for the abstract namespace), empty when unnamed.
    Unix(String),
    /// Another family, by number.
    Other(u16),
}

impl Destination {
    /// The family name of the manifest: `inet`, `inet6`, `unix`, or `family N`.
    pub(crate) fn family(&self) -> String {
        match self {
            Destination::Inet(..) => "inet".into(),
            Destination::Inet6(..) => "inet6".into(),
            Destination::Unix(_) => "unix".into(),
            Destination::Other(n) => format!("family {n}"),
        }
    }

    /// The address as text (the Unix path for Unix sockets).
    pub(crate) fn address(&self) -> String {
        match self {
            Destination::Inet(ip, _) => ip.to_string(),
            Destination::Inet6(ip, _) => ip.to_string(),
            Destination::Unix(path) => path.clone(),
            Destination::Other(_) => String::new(),
        }
    }

    /// The port (0 where there is none).
    pub(crate) fn port(&self) -> u16 {
        match self {
            Destination::Inet(_, port) | Destination::Inet6(_, port) => *port,
            _ => 0,
        }
    }

    /// True for an IP destination on this host: the loopback network (127/8, ::1,
    /// ::ffff:127/104) or the unspecified address (0.0.0.0, ::, ::ffff:0.0.0.0), which
    /// Linux connects to the host itself (a test server listening on 0.0.0.0).
    pub(crate) fn is_loopback(&self) -> bool {
        let local_v4 = |v4: std::net::Ipv4Addr| v4.is_loopback() || v4.is_unspecified();
        match self {
            Destination::Inet(ip, _) => local_v4(*ip),
            Destination::Inet6(ip, _) => {
                ip.is_loopback() || ip.is_unspecified() || ip.to_ipv4_mapped().is_some_and(local_v4)
            }
            _ => false,
        }
    }

    /// True for a DNS server's port, on any address.
    pub(crate) fn is_dns(&self) -> bool {
        matches!(self, Destination::Inet(..) | Destination::Inet6(..)) && self.port() == DNS_PORT
    }
}

/// Unix socket paths of local resolvers: connecting to one is a host name lookup.
/// (nscd's socket is not one of them: the C library asks it for users and groups too,
/// so a connection says nothing about the network.)
pub(crate) const RESOLVER_SOCKETS: [&str; 1] = ["/run/systemd/resolve/io.systemd.Resolve"];

/// Decodes a `struct sockaddr` of `bytes.len()` bytes (the `addrlen` the caller passed).
/// `None` when it is too short for its family.
pub(crate) fn parse_sockaddr(bytes: &[u8]) -> Option<Destination> {
    let family = u16::from_ne_bytes(bytes.get(0..2)?.try_into().ok()?);
    match i32::from(family) {
        libc::AF_INET => {
            let port = u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?);
            let ip: [u8; 4] = bytes.get(4..8)?.try_into().ok()?;
            Some(Destination::Inet(Ipv4Addr::from(ip), port))
        }
        libc::AF_INET6 => {
            let port = u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?);
            let ip: [u8; 16] = bytes.get(8..24)?.try_into().ok()?;
            Some(Destination::Inet6(Ipv6Addr::from(ip), port))
        }
        libc::AF_UNIX => Some(Destination::Unix(unix_path(&bytes[2..]))),
        _ => Some(Destination::Other(family)),
    }
}

/// The path of a `sun_path`: up to the first NUL, or `@` + name for an abstract socket.
fn unix_path(sun_path: &[u8]) -> String {
    match sun_path.split_first() {
        None => String::new(),
        Some((0, rest)) => format!("@{}", String::from_utf8_lossy(rest).trim_end_matches('\0')),
        Some(_) => {
            let end = sun_path
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(sun_path.len());
            String::from_utf8_lossy(&sun_path[..end]).into_owned()
        }
    }
}

/// Longest DNS name (RFC 1035), and most labels followed (guards against pointer loops).
const MAX_NAME: usize = 255;
const MAX_LABELS: usize = 128;

/// The name of the first question of a DNS message; `tcp` messages start with their
/// 2-byte length. `None` unless it looks like a query with a well-formed question.
pub(crate) fn dns_query_name(message: &[u8], tcp: bool) -> Option<String> {
    let msg = if tcp { message.get(2..)? } else { message };
    let header = msg.get(..12)?;
    let is_response = header[2] & 0x80 != 0;
    let questions = u16::from_be_bytes([header[4], header[5]]);
    if is_response || questions == 0 {
        return None;
    }
    read_name(msg, 12)
}

/// Reads a (possibly compressed) domain name at `at`.
fn read_name(msg: &[u8], mut at: usize) -> Option<String> {
    let mut labels: Vec<String> = Vec::new();
    let mut length = 0usize;
    for _ in 0..MAX_LABELS {
        let len = usize::from(*msg.get(at)?);
        match len {
            0 => return finish_name(labels),
            l if l & 0xC0 == 0xC0 => {
                let low = usize::from(*msg.get(at + 1)?);
                at = ((l & 0x3F) << 8) | low;
            }
            l if l & 0xC0 != 0 => return None,
            l => {
                let label = msg.get(at + 1..at + 1 + l)?;
                length += l + 1;
                if length > MAX_NAME {
                    return None;
                }
                labels.push(label_text(label));
                at += 1 + l;
            }
        }
    }
    None
}

/// A label as text; bytes that would confuse a reader are escaped as `\DDD`.
fn label_text(label: &[u8]) -> String {
    let mut text = String::with_capacity(label.len());
    for &b in label {
        if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
            text.push(char::from(b));
        } else {
            text.push_str(&format!("\\{b:03}"));
        }
    }
    text
}

fn finish_name(labels: Vec<String>) -> Option<String> {
    if labels.is_empty() {
        Some(".".into())
    } else {
        Some(labels.join("."))
    }
}

/// Encodes a DNS query for `name` (type A), as resolvers send it. For tests.
#[cfg(test)]
pub(crate) fn encode_query(name: &str, id: u16) -> Vec<u8> {
    let mut msg = Vec::new();
    msg.extend_from_slice(&id.to_be_bytes());
    msg.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        msg.push(label.len() as u8);
        msg.extend_from_slice(label.as_bytes());
    }
    msg.extend_from_slice(&[0, 0, 1, 0, 1]);
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sockaddr_in(ip: [u8; 4], port: u16) -> Vec<u8> {
        let mut b = (libc::AF_INET as u16).to_ne_bytes().to_vec();
        b.extend_from_slice(&port.to_be_bytes());
        b.extend_from_slice(&ip);
        b.extend_from_slice(&[0; 8]);
        b
    }

    fn sockaddr_in6(ip: Ipv6Addr, port: u16) -> Vec<u8> {
        let mut b = (libc::AF_INET6 as u16).to_ne_bytes().to_vec();
        b.extend_from_slice(&port.to_be_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&ip.octets());
        b.extend_from_slice(&[0; 4]);
        b
    }

    #[test]
    fn inet_addresses_and_ports_are_decoded() {
        let dest = parse_sockaddr(&sockaddr_in([192, 0, 2, 1], 443)).unwrap();
        assert_eq!(dest, Destination::Inet(Ipv4Addr::new(192, 0, 2, 1), 443));
        assert_eq!(
            (dest.family(), dest.address(), dest.port()),
            ("inet".into(), "192.0.2.1".into(), 443)
        );
        assert!(!dest.is_loopback());
        let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dest = parse_sockaddr(&sockaddr_in6(v6, 80)).unwrap();
        assert_eq!(dest.address(), "2001:db8::1");
        assert_eq!(dest.family(), "inet6");
    }

    #[test]
    fn loopback_and_dns_are_recognised() {
        assert!(parse_sockaddr(&sockaddr_in([127, 0, 0, 53], 53))
            .unwrap()
            .is_loopback());
        assert!(parse_sockaddr(&sockaddr_in([127, 0, 0, 53], 53))
            .unwrap()
            .is_dns());
        let mapped: Ipv6Addr = "::ffff:127.0.0.1".parse().unwrap();
        assert!(parse_sockaddr(&sockaddr_in6(mapped, 1))
            .unwrap()
            .is_loopback());
        assert!(parse_sockaddr(&sockaddr_in6(Ipv6Addr::LOCALHOST, 1))
            .unwrap()
            .is_loopback());
        // The unspecified address reaches the host itself.
        assert!(parse_sockaddr(&sockaddr_in([0, 0, 0, 0], 8080))
            .unwrap()
            .is_loopback());
        assert!(parse_sockaddr(&sockaddr_in6(Ipv6Addr::UNSPECIFIED, 8080))
            .unwrap()
            .is_loopback());
        assert!(!parse_sockaddr(&sockaddr_in([10, 0, 0, 1], 8080))
            .unwrap()
            .is_loopback());
    }

    #[test]
    fn unix_paths_and_abstract_names_are_decoded() {
        let mut b = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        b.extend_from_slice(b"/run/nscd/socket\0garbage");
        assert_eq!(
            parse_sockaddr(&b),
            Some(Destination::Unix("/run/nscd/socket".into()))
        );
        let mut b = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        b.extend_from_slice(b"\0bus");
        assert_eq!(parse_sockaddr(&b), Some(Destination::Unix("@bus".into())));
    }

    #[test]
    fn short_addresses_are_rejected() {
        assert_eq!(parse_sockaddr(&[]), None);
        assert_eq!(parse_sockaddr(&sockaddr_in([1, 2, 3, 4], 5)[..6]), None);
    }

    #[test]
    fn a_query_name_is_read_from_udp_and_tcp_messages() {
        let query = encode_query("example.org", 7);
        assert_eq!(
            dns_query_name(&query, false).as_deref(),
            Some("example.org")
        );
        let mut tcp = (query.len() as u16).to_be_bytes().to_vec();
        tcp.extend_from_slice(&query);
        assert_eq!(dns_query_name(&tcp, true).as_deref(), Some("example.org"));
    }

    #[test]
    fn responses_and_compression_loops_are_not_names() {
        let mut response = encode_query("example.org", 7);
        response[2] |= 0x80;
        assert_eq!(dns_query_name(&response, false), None);
        let mut looped = encode_query("a", 1);
        looped.truncate(12);
        looped.extend_from_slice(&[0xC0, 12]);
        assert_eq!(dns_query_name(&looped, false), None);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), tcp: bool) {
            let _ = parse_sockaddr(&bytes);
            let _ = dns_query_name(&bytes, tcp);
        }

        #[test]
        fn encoded_names_come_back(labels in proptest::collection::vec("[a-z0-9-]{1,20}", 1..6), id: u16) {
            let name = labels.join(".");
            prop_assert_eq!(dns_query_name(&encode_query(&name, id), false), Some(name));
        }

        #[test]
        fn inet_sockaddrs_round_trip(ip: [u8; 4], port: u16) {
            prop_assert_eq!(
                parse_sockaddr(&sockaddr_in(ip, port)),
                Some(Destination::Inet(Ipv4Addr::from(ip), port))
            );
        }
    }
}
