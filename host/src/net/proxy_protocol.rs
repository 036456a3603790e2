//! HAProxy PROXY protocol (v1 text and v2 binary) headers: reading them off a socket without over-reading, and parsing them strictly.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// What a PROXY header says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyHeader {
    /// The proxy relayed a TCP connection from `source` (the player) to
    /// `destination` (the address the player connected to).
    Proxied {
        source: SocketAddr,
        destination: SocketAddr,
    },
    /// No client address to use: a v2 `LOCAL` command (health checks), v1
    /// `UNKNOWN`, or a v2 family other than TCP over IPv4/IPv6 (UNSPEC, UDP,
    /// UNIX). The caller keeps the socket's own peer address, as the spec asks.
    Local,
}

impl ProxyHeader {
    /// The address to treat as the client's: the relayed source, or `socket_peer`.
    pub fn client_or(self, socket_peer: SocketAddr) -> SocketAddr {
        match self {
            ProxyHeader::Proxied { source, .. } => source,
            ProxyHeader::Local => socket_peer,
        }
    }
}

/// Why no header could be read. After any error the number of bytes consumed
/// from the stream is unspecified, so the connection must be closed.
///
/// Messages are fixed strings on purpose: the bytes come from the network and
/// are not echoed into logs.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("no complete PROXY protocol header within the deadline")]
    Timeout,
    #[error("reading the PROXY protocol header failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the connection does not start with a PROXY protocol v1 or v2 signature")]
    NotProxyProtocol,
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(&'static str),
    #[error("PROXY protocol header longer than allowed")]
    TooLong,
}

/// The v1 line's maximum length including CRLF (spec section 2.1).
pub const V1_MAX_LEN: usize = 107;
/// The 12-byte v2 signature.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Signature, ver/cmd, fam/proto and the 2-byte length.
pub const V2_FIXED_LEN: usize = 16;
/// Largest v2 body (addresses + TLVs) accepted. The spec allows 65535, but
/// nothing we use needs that much: the largest address block is UNIX (216
/// bytes), and the TLVs real load balancers add (AWS, GCP, Azure, HAProxy's
/// SSL and unique-id TLVs) stay well under 1 KiB. A bound keeps a hostile
/// or broken "trusted" peer from making us buffer 64 KiB per connection.
pub const V2_MAX_BODY: usize = 216 + 1024;

const V1_PREFIX: &[u8] = b"PROXY ";
/// Bytes read before deciding v1 or v2. Every valid header of either version
/// is at least this long (v1's shortest, `PROXY UNKNOWN\r\n`, is 15; v2's is
/// 16), so this read can never eat into the data that follows.
const SNIFF_LEN: usize = 8;
/// The shortest v1 line, and so a safe second read for any v1 header.
const V1_MIN_LEN: usize = 15;
const V2_ADDR_LEN_INET: usize = 12;
const V2_ADDR_LEN_INET6: usize = 36;
const V2_ADDR_LEN_UNIX: usize = 216;

/// Reads exactly one PROXY header (v1 or v2) from `stream` within `deadline`,
/// never more: whatever follows (the Minecraft handshake) stays in the stream.
///
/// Without peeking, this works by only ever asking for as many bytes as the
/// header must still contain: 8 bytes to tell the versions apart, then for v2
/// the rest of the fixed part and exactly the announced length; for v1 the
/// rest of the shortest line (15 bytes), then repeatedly the minimum a valid
/// line could still need given the fields seen so far (the shortest
/// address for TCP4/TCP6, one digit per port, the CRLF). A typical TCP4 line
/// takes about eight reads (11 for a long TCP6 one) instead of one per byte.
pub async fn read_header<S: AsyncRead + Unpin>(
    stream: &mut S,
    deadline: Duration,
) -> Result<ProxyHeader, ProxyError> {
    match tokio::time::timeout(deadline, read_header_inner(stream)).await {
        Ok(result) => result,
        Err(_) => Err(ProxyError::Timeout),
    }
}

async fn read_header_inner<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<ProxyHeader, ProxyError> {
    // 107 bytes: room for the longest v1 line and the v2 fixed part.
    let mut buf = [0u8; V1_MAX_LEN];
    // Sniff with plain reads, checking each chunk, so a client that is not
    // speaking the PROXY protocol is refused at its first byte instead of
    // waiting for the deadline (its handshake may be shorter than 8 bytes).
    let mut filled = 0;
    while filled < SNIFF_LEN {
        let n = stream.read(&mut buf[filled..SNIFF_LEN]).await?;
        if n == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
        filled += n;
        let seen = &buf[..filled];
        let v1 = (seen.len() <= V1_PREFIX.len() && V1_PREFIX.starts_with(seen))
            || seen.starts_with(V1_PREFIX);
        if !v1 && !V2_SIGNATURE.starts_with(seen) {
            return Err(ProxyError::NotProxyProtocol);
        }
    }
    if buf[0] == b'P' {
        read_v1_rest(stream, &mut buf).await
    } else {
        read_v2_rest(stream, &mut buf).await
    }
}

async fn read_v1_rest<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut [u8; V1_MAX_LEN],
) -> Result<ProxyHeader, ProxyError> {
    stream.read_exact(&mut buf[SNIFF_LEN..V1_MIN_LEN]).await?;
    let mut len = V1_MIN_LEN;
    loop {
        if let Some(end) = find_crlf(&buf[..len]) {
            // By construction the CRLF of a valid line is the last byte read;
            // one earlier means the line is too short to be valid.
            if end + 2 != len {
                return Err(ProxyError::Malformed("v1 line ends before its fields"));
            }
            return parse_v1(&buf[..len]);
        }
        let need = v1_min_remaining(&buf[..len])?;
        if len + need > V1_MAX_LEN {
            return Err(ProxyError::TooLong);
        }
        stream.read_exact(&mut buf[len..len + need]).await?;
        len += need;
    }
}

async fn read_v2_rest<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut [u8; V1_MAX_LEN],
) -> Result<ProxyHeader, ProxyError> {
    stream.read_exact(&mut buf[SNIFF_LEN..V2_FIXED_LEN]).await?;
    if buf[..12] != V2_SIGNATURE {
        return Err(ProxyError::NotProxyProtocol);
    }
    // Check the version before trusting the length that follows it.
    if buf[12] >> 4 != 2 {
        return Err(ProxyError::Malformed("v2 version is not 2"));
    }
    let body_len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if body_len > V2_MAX_BODY {
        return Err(ProxyError::TooLong);
    }
    let mut whole = Vec::with_capacity(V2_FIXED_LEN + body_len);
    whole.extend_from_slice(&buf[..V2_FIXED_LEN]);
    whole.resize(V2_FIXED_LEN + body_len, 0);
    stream.read_exact(&mut whole[V2_FIXED_LEN..]).await?;
    parse_v2(&whole)
}

fn find_crlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

/// The fewest bytes a valid v1 line starting with `seen` (at least 15 bytes,
/// no CRLF yet) must still contain, so reading exactly that many can never
/// pass the CRLF. Also rejects early what can no longer become valid, so a
/// broken sender fails fast rather than at the deadline.
fn v1_min_remaining(seen: &[u8]) -> Result<usize, ProxyError> {
    // A trailing CR can only be followed by LF.
    let (body, pending_cr) = match seen.split_last() {
        Some((b'\r', rest)) => (rest, true),
        _ => (seen, false),
    };
    if body.iter().any(|&b| !(0x20..0x7f).contains(&b)) {
        return Err(ProxyError::Malformed(
            "v1 line has a control or non-ASCII byte",
        ));
    }
    let rest = &body[V1_PREFIX.len()..];
    let min_addr = if rest.starts_with(b"TCP4 ") {
        7 // "0.0.0.0"
    } else if rest.starts_with(b"TCP6 ") {
        2 // "::"
    } else if let Some(after) = rest.strip_prefix(b"UNKNOWN") {
        if after.first().is_some_and(|&b| b != b' ') {
            return Err(ProxyError::Malformed(
                "v1 protocol is not TCP4, TCP6 or UNKNOWN",
            ));
        }
        // Anything may follow "UNKNOWN " up to the CRLF (spec 2.1).
        return Ok(if pending_cr { 1 } else { 2 });
    } else {
        return Err(ProxyError::Malformed(
            "v1 protocol is not TCP4, TCP6 or UNKNOWN",
        ));
    };
    if pending_cr {
        return Ok(1);
    }
    // Fields after "TCPx ": source, destination, source port, destination port.
    let fields = &rest[5..];
    let index = fields.iter().filter(|&&b| b == b' ').count();
    if index > 3 {
        return Err(ProxyError::Malformed("v1 line has too many fields"));
    }
    let start = fields.iter().rposition(|&b| b == b' ').map_or(0, |p| p + 1);
    let current = &fields[start..];
    // Refuse impossible characters now rather than after the deadline.
    let allowed = |b: &u8| match (index, min_addr) {
        (0 | 1, 7) => b.is_ascii_digit() || *b == b'.',
        (0 | 1, _) => b.is_ascii_hexdigit() || *b == b':' || *b == b'.',
        _ => b.is_ascii_digit(),
    };
    if !fields
        .iter()
        .all(|b| *b == b' ' || b.is_ascii_hexdigit() || b":.".contains(b))
        || !current.iter().all(allowed)
    {
        return Err(ProxyError::Malformed(
            "v1 line has a character its field cannot hold",
        ));
    }
    let min_len: [usize; 4] = [min_addr, min_addr, 1, 1];
    let mut need = min_len[index].saturating_sub(current.len());
    for &later in &min_len[index + 1..] {
        need += 1 + later; // separator + field
    }
    Ok(need + 2) // CRLF
}

/// Parses one complete v1 line, CRLF included, strictly: single spaces,
/// addresses that parse and match the protocol, decimal ports 0-65535 without
/// sign or leading zeros, nothing after the destination port.
pub fn parse_v1(line: &[u8]) -> Result<ProxyHeader, ProxyError> {
    if line.len() > V1_MAX_LEN {
        return Err(ProxyError::TooLong);
    }
    let Some(rest) = line.strip_prefix(V1_PREFIX) else {
        return Err(ProxyError::NotProxyProtocol);
    };
    let Some(rest) = rest.strip_suffix(b"\r\n") else {
        return Err(ProxyError::Malformed("v1 line does not end with CRLF"));
    };
    if rest.iter().any(|&b| !(0x20..0x7f).contains(&b)) {
        return Err(ProxyError::Malformed(
            "v1 line has a control or non-ASCII byte",
        ));
    }
    // Checked ASCII above, so this cannot fail.
    let rest =
        std::str::from_utf8(rest).map_err(|_| ProxyError::Malformed("v1 line is not ASCII"))?;
    if rest == "UNKNOWN" || rest.starts_with("UNKNOWN ") {
        return Ok(ProxyHeader::Local);
    }
    let mut fields = rest.split(' ');
    let v6 = match fields.next() {
        Some("TCP4") => false,
        Some("TCP6") => true,
        _ => {
            return Err(ProxyError::Malformed(
                "v1 protocol is not TCP4, TCP6 or UNKNOWN",
            ));
        }
    };
    let (Some(src), Some(dst), Some(sport), Some(dport), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(ProxyError::Malformed(
            "v1 line does not have exactly 5 fields",
        ));
    };
    let ip = |s: &str| -> Result<IpAddr, ProxyError> {
        if v6 {
            s.parse::<Ipv6Addr>()
                .map(IpAddr::V6)
                .map_err(|_| ProxyError::Malformed("v1 TCP6 address is not an IPv6 address"))
        } else {
            // std rejects leading zeros in octets, which could mean octal elsewhere.
            s.parse::<Ipv4Addr>()
                .map(IpAddr::V4)
                .map_err(|_| ProxyError::Malformed("v1 TCP4 address is not an IPv4 address"))
        }
    };
    Ok(ProxyHeader::Proxied {
        source: SocketAddr::new(ip(src)?, parse_port(sport)?),
        destination: SocketAddr::new(ip(dst)?, parse_port(dport)?),
    })
}

fn parse_port(s: &str) -> Result<u16, ProxyError> {
    let canonical = !s.is_empty()
        && s.len() <= 5
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    if !canonical {
        return Err(ProxyError::Malformed(
            "v1 port is not a decimal number without leading zeros",
        ));
    }
    s.parse()
        .map_err(|_| ProxyError::Malformed("v1 port is above 65535"))
}

/// Parses one complete v2 header: the 16 fixed bytes followed by exactly the
/// announced number of body bytes. TLVs after the address block are skipped
/// unread; nothing here uses them, and rejecting a connection over an
/// extension we ignore would only make us fragile.
pub fn parse_v2(header_and_body: &[u8]) -> Result<ProxyHeader, ProxyError> {
    let Some((fixed, body)) = header_and_body.split_first_chunk::<V2_FIXED_LEN>() else {
        return Err(ProxyError::Malformed("v2 header shorter than 16 bytes"));
    };
    if fixed[..12] != V2_SIGNATURE {
        return Err(ProxyError::NotProxyProtocol);
    }
    if fixed[12] >> 4 != 2 {
        return Err(ProxyError::Malformed("v2 version is not 2"));
    }
    let body_len = usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    if body_len > V2_MAX_BODY {
        return Err(ProxyError::TooLong);
    }
    if body.len() != body_len {
        return Err(ProxyError::Malformed(
            "v2 length does not match the bytes given",
        ));
    }
    match fixed[12] & 0x0f {
        // LOCAL: the proxy's own connection (e.g. a health check). The spec
        // says to ignore the family and address block entirely.
        0x0 => return Ok(ProxyHeader::Local),
        0x1 => {}
        _ => {
            return Err(ProxyError::Malformed(
                "v2 command is neither LOCAL nor PROXY",
            ));
        }
    }
    // The spec lists these seven family/protocol pairs and says receivers
    // must reject any other.
    let addr_len = match fixed[13] {
        0x00 => 0,
        0x11 | 0x12 => V2_ADDR_LEN_INET,
        0x21 | 0x22 => V2_ADDR_LEN_INET6,
        0x31 | 0x32 => V2_ADDR_LEN_UNIX,
        _ => {
            return Err(ProxyError::Malformed(
                "v2 address family or protocol is unknown",
            ));
        }
    };
    if body.len() < addr_len {
        return Err(ProxyError::Malformed(
            "v2 length is shorter than the address block",
        ));
    }
    match fixed[13] {
        0x11 => {
            let ip = |at: usize| Ipv4Addr::from(read_array::<4>(body, at));
            let port = |at: usize| u16::from_be_bytes(read_array::<2>(body, at));
            Ok(ProxyHeader::Proxied {
                source: SocketAddr::new(ip(0).into(), port(8)),
                destination: SocketAddr::new(ip(4).into(), port(10)),
            })
        }
        0x21 => {
            let ip = |at: usize| Ipv6Addr::from(read_array::<16>(body, at));
            let port = |at: usize| u16::from_be_bytes(read_array::<2>(body, at));
            Ok(ProxyHeader::Proxied {
                source: SocketAddr::new(ip(0).into(), port(32)),
                destination: SocketAddr::new(ip(16).into(), port(34)),
            })
        }
        // UNSPEC, UDP and UNIX: valid headers, but no TCP client address we
        // could use in place of the socket's, so the socket peer stands.
        _ => Ok(ProxyHeader::Local),
    }
}

/// `N` bytes at `at`; callers have checked the address block's length.
fn read_array<const N: usize>(body: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&body[at..at + N]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio::io::AsyncWriteExt;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn proxied(src: &str, dst: &str) -> ProxyHeader {
        ProxyHeader::Proxied {
            source: sa(src),
            destination: sa(dst),
        }
    }

    fn malformed(r: &Result<ProxyHeader, ProxyError>) -> bool {
        matches!(r, Err(ProxyError::Malformed(_)))
    }

    /// A v2 header from its parts: ver/cmd, fam/proto, body.
    fn v2(ver_cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
        let mut out = V2_SIGNATURE.to_vec();
        out.push(ver_cmd);
        out.push(fam);
        out.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    fn v2_tcp4_body() -> Vec<u8> {
        let mut b = vec![192, 0, 2, 1, 198, 51, 100, 7];
        b.extend_from_slice(&54321u16.to_be_bytes());
        b.extend_from_slice(&25565u16.to_be_bytes());
        b
    }

    fn v2_tcp6_body() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        b.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        b.extend_from_slice(&1111u16.to_be_bytes());
        b.extend_from_slice(&2222u16.to_be_bytes());
        b
    }

    // ---- v1 golden lines ----

    #[test]
    fn v1_tcp4() {
        assert_eq!(
            parse_v1(b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n").unwrap(),
            proxied("1.2.3.4:1111", "5.6.7.8:2222")
        );
    }

    #[test]
    fn v1_tcp6() {
        assert_eq!(
            parse_v1(b"PROXY TCP6 2001:db8::1 ::1 65535 0\r\n").unwrap(),
            proxied("[2001:db8::1]:65535", "[::1]:0")
        );
        // IPv4-suffixed IPv6 is still IPv6.
        assert_eq!(
            parse_v1(b"PROXY TCP6 ::ffff:1.2.3.4 :: 1 2\r\n").unwrap(),
            proxied("[::ffff:1.2.3.4]:1", "[::]:2")
        );
    }

    #[test]
    fn v1_longest_line() {
        let line = b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
        assert!(line.len() <= V1_MAX_LEN);
        assert!(matches!(parse_v1(line), Ok(ProxyHeader::Proxied { .. })));
    }

    #[test]
    fn v1_unknown() {
        assert_eq!(parse_v1(b"PROXY UNKNOWN\r\n").unwrap(), ProxyHeader::Local);
        // Whatever follows UNKNOWN is ignored, per the spec.
        assert_eq!(
            parse_v1(b"PROXY UNKNOWN ffff:: ffff:: 65535 65535\r\n").unwrap(),
            ProxyHeader::Local
        );
        assert!(malformed(&parse_v1(b"PROXY UNKNOWNX\r\n")));
    }

    // ---- v1 malformed ----

    #[test]
    fn v1_rejects_bad_lines() {
        let bad: &[&[u8]] = &[
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\n",    // no CR
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222",      // no CRLF
            b"PROXY TCP4 1.2.3 5.6.7.8 1111 2222\r\n",    // short address
            b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",      // octet out of range
            b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",       // leading zero octet
            b"PROXY TCP4 ::1 5.6.7.8 1111 2222\r\n",      // IPv6 in TCP4
            b"PROXY TCP6 1.2.3.4 ::1 1111 2222\r\n",      // IPv4 in TCP6
            b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",       // zone id
            b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2222\r\n", // port too big
            b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 2222\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 0080 2222\r\n", // leading zero port
            b"PROXY TCP4 1.2.3.4 5.6.7.8 +80 2222\r\n",  // sign
            b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2222\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 \r\n", // missing port
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222 \r\n", // trailing space
            b"PROXY TCP4 1.2.3.4  5.6.7.8 1111 2222\r\n", // double space
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222 x\r\n", // extra field
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1111\r\n",  // missing field
            b"PROXY UDP4 1.2.3.4 5.6.7.8 1111 2222\r\n", // not TCP
            b"PROXY tcp4 1.2.3.4 5.6.7.8 1111 2222\r\n", // case
            b"PROXY TCP4 1.2.3.4\t5.6.7.8 1111 2222\r\n", // tab
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n\r\n", // CR inside
            b"PROXY \r\n",
        ];
        for line in bad {
            let r = parse_v1(line);
            assert!(
                malformed(&r),
                "{:?} gave {:?}",
                line.escape_ascii().to_string(),
                r
            );
        }
        assert!(matches!(
            parse_v1(b"proxy UNKNOWN\r\n"),
            Err(ProxyError::NotProxyProtocol)
        ));
        let mut long = b"PROXY UNKNOWN ".to_vec();
        long.resize(V1_MAX_LEN - 1, b'x');
        long.extend_from_slice(b"\r\n");
        assert!(matches!(parse_v1(&long), Err(ProxyError::TooLong)));
    }

    // ---- v2 golden headers ----

    #[test]
    fn v2_tcp4() {
        assert_eq!(
            parse_v2(&v2(0x21, 0x11, &v2_tcp4_body())).unwrap(),
            proxied("192.0.2.1:54321", "198.51.100.7:25565")
        );
    }

    #[test]
    fn v2_tcp4_exact_bytes() {
        // Hand-written, independent of the helpers above.
        let bytes =
            b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c\x0a\x00\x00\x01\x0a\x00\x00\x02\x04\xd2\x63\xdd";
        assert_eq!(
            parse_v2(bytes).unwrap(),
            proxied("10.0.0.1:1234", "10.0.0.2:25565")
        );
    }

    #[test]
    fn v2_tcp6() {
        assert_eq!(
            parse_v2(&v2(0x21, 0x21, &v2_tcp6_body())).unwrap(),
            proxied("[2001:db8::1]:1111", "[2001:db8::2]:2222")
        );
    }

    #[test]
    fn v2_local_ignores_family_and_body() {
        assert_eq!(parse_v2(&v2(0x20, 0x00, &[])).unwrap(), ProxyHeader::Local);
        assert_eq!(
            parse_v2(&v2(0x20, 0x11, &v2_tcp4_body())).unwrap(),
            ProxyHeader::Local
        );
        // Even an unknown family or a short block: LOCAL discards it all.
        assert_eq!(
            parse_v2(&v2(0x20, 0xff, &[1, 2])).unwrap(),
            ProxyHeader::Local
        );
    }

    #[test]
    fn v2_unspec_is_local() {
        assert_eq!(parse_v2(&v2(0x21, 0x00, &[])).unwrap(), ProxyHeader::Local);
        assert_eq!(
            parse_v2(&v2(0x21, 0x00, &[9; 20])).unwrap(),
            ProxyHeader::Local
        );
    }

    #[test]
    fn v2_tlvs_are_skipped() {
        let mut body = v2_tcp4_body();
        // PP2_TYPE_AUTHORITY "mc.example", PP2_TYPE_NOOP padding.
        body.extend_from_slice(&[0x02, 0x00, 0x0a]);
        body.extend_from_slice(b"mc.example");
        body.extend_from_slice(&[0x04, 0x00, 0x02, 0, 0]);
        assert_eq!(
            parse_v2(&v2(0x21, 0x11, &body)).unwrap(),
            proxied("192.0.2.1:54321", "198.51.100.7:25565")
        );
        let mut body6 = v2_tcp6_body();
        body6.extend_from_slice(&[0xee; 100]);
        assert!(matches!(
            parse_v2(&v2(0x21, 0x21, &body6)),
            Ok(ProxyHeader::Proxied { .. })
        ));
    }

    #[test]
    fn v2_udp_and_unix_are_local() {
        assert_eq!(
            parse_v2(&v2(0x21, 0x12, &v2_tcp4_body())).unwrap(),
            ProxyHeader::Local
        );
        assert_eq!(
            parse_v2(&v2(0x21, 0x22, &v2_tcp6_body())).unwrap(),
            ProxyHeader::Local
        );
        assert_eq!(
            parse_v2(&v2(0x21, 0x31, &[0; 216])).unwrap(),
            ProxyHeader::Local
        );
        assert_eq!(
            parse_v2(&v2(0x21, 0x32, &[0; 220])).unwrap(),
            ProxyHeader::Local
        );
    }

    // ---- v2 malformed ----

    #[test]
    fn v2_rejects_bad_headers() {
        let mut wrong_sig = v2(0x21, 0x11, &v2_tcp4_body());
        wrong_sig[11] = b'X';
        assert!(matches!(
            parse_v2(&wrong_sig),
            Err(ProxyError::NotProxyProtocol)
        ));
        for ver_cmd in [0x11, 0x31, 0x01, 0xf1] {
            assert!(
                malformed(&parse_v2(&v2(ver_cmd, 0x11, &v2_tcp4_body()))),
                "{ver_cmd:#x}"
            );
        }
        for cmd in [0x22, 0x2f] {
            assert!(
                malformed(&parse_v2(&v2(cmd, 0x11, &v2_tcp4_body()))),
                "{cmd:#x}"
            );
        }
        for fam in [0x01, 0x10, 0x13, 0x41, 0xff] {
            assert!(
                malformed(&parse_v2(&v2(0x21, fam, &v2_tcp4_body()))),
                "{fam:#x}"
            );
        }
        // Length shorter than the address block.
        assert!(malformed(&parse_v2(&v2(0x21, 0x11, &[0; 11]))));
        assert!(malformed(&parse_v2(&v2(0x21, 0x21, &[0; 35]))));
        assert!(malformed(&parse_v2(&v2(0x21, 0x31, &[0; 215]))));
        assert!(malformed(&parse_v2(&v2(0x21, 0x12, &[0; 4]))));
        // Length field disagreeing with the bytes given.
        let mut short = v2(0x21, 0x11, &v2_tcp4_body());
        short.pop();
        assert!(malformed(&parse_v2(&short)));
        let mut long = v2(0x21, 0x11, &v2_tcp4_body());
        long.push(0);
        assert!(malformed(&parse_v2(&long)));
        assert!(malformed(&parse_v2(&V2_SIGNATURE)));
        assert!(matches!(
            parse_v2(&v2(0x21, 0x11, &vec![0; V2_MAX_BODY + 1])),
            Err(ProxyError::TooLong)
        ));
    }

    #[test]
    fn parsers_never_panic_on_noise() {
        // A small deterministic xorshift: no rand dependency for a fuzz smoke test.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let len = (next() % 120) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if next() % 2 == 0 {
                let prefix: &[u8] = if next() % 2 == 0 {
                    b"PROXY TCP4 "
                } else {
                    &V2_SIGNATURE
                };
                bytes.splice(0..0, prefix.iter().copied());
            }
            let _ = parse_v1(&bytes);
            let _ = parse_v2(&bytes);
        }
    }

    // ---- reading from a stream ----

    const PAYLOAD: &[u8] = b"\x10\x00\xfd\x05\x09localhost\x63\xdd\x02"; // a handshake-like packet

    /// Writes `header` + PAYLOAD in one go (so any over-read would swallow
    /// payload bytes), then checks the header and that PAYLOAD is intact.
    async fn roundtrip(header: &[u8]) -> Result<ProxyHeader, ProxyError> {
        let (mut client, mut server) = tokio::io::duplex(4096);
        client.write_all(header).await.unwrap();
        client.write_all(PAYLOAD).await.unwrap();
        drop(client);
        let parsed = read_header(&mut server, Duration::from_secs(5)).await?;
        let mut rest = Vec::new();
        server.read_to_end(&mut rest).await.unwrap();
        assert_eq!(
            rest,
            PAYLOAD,
            "payload after {:?}",
            header.escape_ascii().to_string()
        );
        Ok(parsed)
    }

    #[tokio::test]
    async fn stream_keeps_payload_after_each_golden_header() {
        assert_eq!(
            roundtrip(b"PROXY UNKNOWN\r\n").await.unwrap(),
            ProxyHeader::Local
        );
        assert_eq!(
            roundtrip(b"PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n")
                .await
                .unwrap(),
            ProxyHeader::Local
        );
        assert_eq!(
            roundtrip(b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n")
                .await
                .unwrap(),
            proxied("1.2.3.4:1111", "5.6.7.8:2222")
        );
        assert_eq!(
            roundtrip(b"PROXY TCP6 :: :: 0 0\r\n").await.unwrap(),
            proxied("[::]:0", "[::]:0")
        );
        assert_eq!(
            roundtrip(b"PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n")
                .await
                .unwrap(),
            proxied("0.0.0.0:0", "0.0.0.0:0")
        );
        assert_eq!(
            roundtrip(&v2(0x21, 0x11, &v2_tcp4_body())).await.unwrap(),
            proxied("192.0.2.1:54321", "198.51.100.7:25565")
        );
        assert_eq!(
            roundtrip(&v2(0x20, 0x00, &[])).await.unwrap(),
            ProxyHeader::Local
        );
        let mut tlv = v2_tcp6_body();
        tlv.extend_from_slice(&[0x04, 0x00, 0x03, 0, 0, 0]);
        assert!(matches!(
            roundtrip(&v2(0x21, 0x21, &tlv)).await.unwrap(),
            ProxyHeader::Proxied { .. }
        ));
    }

    /// The read-size bound must hold for every valid line, whatever the
    /// lengths of its fields: generate many and check nothing is over-read.
    #[tokio::test]
    async fn stream_never_over_reads_random_valid_v1_lines() {
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..2_000 {
            // Mix of tiny and large values so field widths vary.
            let mut pick = |bits: u32| {
                let shift = next() % u64::from(bits) + 1;
                let v = next();
                if shift >= 64 { v } else { v % (1 << shift) }
            };
            let line = if i % 2 == 0 {
                let a = Ipv4Addr::from(pick(32) as u32);
                let b = Ipv4Addr::from(pick(32) as u32);
                format!("PROXY TCP4 {a} {b} {} {}\r\n", pick(16), pick(16))
            } else {
                let shift = pick(6);
                let a = Ipv6Addr::from(u128::from(pick(64)) << shift);
                let b = Ipv6Addr::from(u128::from(pick(64)));
                format!("PROXY TCP6 {a} {b} {} {}\r\n", pick(16), pick(16))
            };
            let parsed = roundtrip(line.as_bytes()).await.unwrap();
            assert!(matches!(parsed, ProxyHeader::Proxied { .. }), "{line}");
        }
    }

    #[tokio::test]
    async fn stream_byte_at_a_time() {
        // Tiny writes exercise the partial-read paths of the sniffing loop.
        for header in [
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n".to_vec(),
            v2(0x21, 0x11, &v2_tcp4_body()),
        ] {
            let (mut client, mut server) = tokio::io::duplex(1);
            let writer = tokio::spawn(async move {
                for b in header.iter().chain(PAYLOAD) {
                    client.write_all(&[*b]).await.unwrap();
                }
            });
            let parsed = read_header(&mut server, Duration::from_secs(5))
                .await
                .unwrap();
            assert!(matches!(parsed, ProxyHeader::Proxied { .. }));
            let mut rest = vec![0; PAYLOAD.len()];
            server.read_exact(&mut rest).await.unwrap();
            assert_eq!(rest, PAYLOAD);
            writer.await.unwrap();
        }
    }

    #[tokio::test]
    async fn stream_over_real_tcp() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(b"PROXY UNKNOWN\r\n").await.unwrap();
            s.write_all(PAYLOAD).await.unwrap();
            s.shutdown().await.unwrap();
        });
        let (mut s, _) = listener.accept().await.unwrap();
        assert_eq!(
            read_header(&mut s, Duration::from_secs(10)).await.unwrap(),
            ProxyHeader::Local
        );
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, PAYLOAD);
        client.await.unwrap();
    }

    #[tokio::test]
    async fn stream_rejects_non_proxy_at_once() {
        // A bare Minecraft handshake: refused on the first byte, no deadline wait.
        let (mut client, mut server) = tokio::io::duplex(64);
        client.write_all(&[0x10]).await.unwrap();
        let r = read_header(&mut server, Duration::from_secs(3600)).await;
        assert!(matches!(r, Err(ProxyError::NotProxyProtocol)), "{r:?}");
        // Diverging after a shared prefix.
        let (mut client, mut server) = tokio::io::duplex(64);
        client.write_all(b"PROXX").await.unwrap();
        let r = read_header(&mut server, Duration::from_secs(3600)).await;
        assert!(matches!(r, Err(ProxyError::NotProxyProtocol)), "{r:?}");
        let (mut client, mut server) = tokio::io::duplex(64);
        client
            .write_all(b"\r\n\r\n\0\r\nQUIX\n\x21\x11\x00\x00")
            .await
            .unwrap();
        let r = read_header(&mut server, Duration::from_secs(3600)).await;
        assert!(matches!(r, Err(ProxyError::NotProxyProtocol)), "{r:?}");
    }

    #[tokio::test]
    async fn stream_fails_fast_on_bad_v1_and_v2() {
        let cases: Vec<Vec<u8>> = vec![
            b"PROXY TCP5 1.2.3.4".to_vec(),
            b"PROXY TCP4 1.2\n".to_vec(),
            b"PROXY TCP4 1.x.3".to_vec(),
            b"PROXY UNKNOWNX\r\n".to_vec(),
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3 ".to_vec(),
            v2(0x11, 0x11, &[]), // version 1
        ];
        for case in cases {
            let (mut client, mut server) = tokio::io::duplex(256);
            client.write_all(&case).await.unwrap();
            // Client stays open: an error must come from the bytes, not EOF.
            let r = read_header(&mut server, Duration::from_secs(3600)).await;
            assert!(
                malformed(&r),
                "{:?} gave {r:?}",
                case.escape_ascii().to_string()
            );
            drop(client);
        }
    }

    #[tokio::test]
    async fn stream_v1_without_crlf_is_too_long() {
        let (mut client, mut server) = tokio::io::duplex(512);
        let mut line = b"PROXY UNKNOWN ".to_vec();
        line.resize(300, b'a');
        client.write_all(&line).await.unwrap();
        let r = read_header(&mut server, Duration::from_secs(3600)).await;
        assert!(matches!(r, Err(ProxyError::TooLong)), "{r:?}");
    }

    #[tokio::test]
    async fn stream_v2_length_bound() {
        let (mut client, mut server) = tokio::io::duplex(64);
        let mut fixed = V2_SIGNATURE.to_vec();
        fixed.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        client.write_all(&fixed).await.unwrap();
        let r = read_header(&mut server, Duration::from_secs(3600)).await;
        assert!(matches!(r, Err(ProxyError::TooLong)), "{r:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn stream_times_out_when_silent() {
        let (_client, mut server) = tokio::io::duplex(64);
        let r = read_header(&mut server, Duration::from_secs(5)).await;
        assert!(matches!(r, Err(ProxyError::Timeout)), "{r:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn stream_times_out_on_partial_header() {
        for partial in [
            b"PROX".to_vec(),
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1111".to_vec(),
            b"PROXY UNKNOWN\r".to_vec(),
            V2_SIGNATURE[..10].to_vec(),
            v2(0x21, 0x11, &v2_tcp4_body())[..20].to_vec(),
        ] {
            let (mut client, mut server) = tokio::io::duplex(64);
            client.write_all(&partial).await.unwrap();
            let r = read_header(&mut server, Duration::from_secs(5)).await;
            assert!(matches!(r, Err(ProxyError::Timeout)), "{r:?}");
        }
    }

    #[tokio::test]
    async fn stream_eof_is_io_error() {
        let (mut client, mut server) = tokio::io::duplex(64);
        client.write_all(b"PROXY TCP4 1.2").await.unwrap();
        drop(client);
        let r = read_header(&mut server, Duration::from_secs(5)).await;
        assert!(
            matches!(&r, Err(ProxyError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof),
            "{r:?}"
        );
    }

    #[test]
    fn min_remaining_is_tight_for_the_shortest_lines() {
        // Reading the minimum from 15 bytes lands exactly on the CRLF of the
        // shortest TCP4 and TCP6 lines.
        let tcp4 = b"PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n";
        assert_eq!(v1_min_remaining(&tcp4[..15]).unwrap(), tcp4.len() - 15);
        let tcp6 = b"PROXY TCP6 :: :: 0 0\r\n";
        assert_eq!(v1_min_remaining(&tcp6[..15]).unwrap(), tcp6.len() - 15);
        assert_eq!(v1_min_remaining(b"PROXY UNKNOWN x").unwrap(), 2);
        assert_eq!(v1_min_remaining(b"PROXY UNKNOWN x\r").unwrap(), 1);
    }

    /// Counts reads, to check the v1 strategy is not byte-by-byte.
    struct CountingReader<'a> {
        inner: &'a [u8],
        reads: usize,
    }

    impl AsyncRead for CountingReader<'_> {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            self.reads += 1;
            std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
        }
    }

    #[tokio::test]
    async fn v1_takes_few_reads() {
        for (line, max_reads) in [
            (
                &b"PROXY TCP4 192.168.100.200 10.0.0.5 54321 25565\r\n"[..],
                8,
            ),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 3),
            (
                b"PROXY TCP6 2001:db8:85a3::8a2e:370:7334 2001:db8::1 40000 25565\r\n",
                11,
            ),
            (b"PROXY UNKNOWN\r\n", 2),
        ] {
            let bytes = [line, PAYLOAD].concat();
            let mut reader = CountingReader {
                inner: &bytes,
                reads: 0,
            };
            read_header(&mut reader, Duration::from_secs(1))
                .await
                .unwrap();
            assert_eq!(reader.inner, PAYLOAD);
            assert!(
                reader.reads <= max_reads,
                "{} reads for {}",
                reader.reads,
                line.escape_ascii()
            );
        }
    }

    #[test]
    fn client_or_prefers_the_relayed_source() {
        let peer = sa("10.0.0.9:4000");
        assert_eq!(ProxyHeader::Local.client_or(peer), peer);
        assert_eq!(
            proxied("1.2.3.4:5", "6.7.8.9:10").client_or(peer),
            sa("1.2.3.4:5")
        );
    }
}
