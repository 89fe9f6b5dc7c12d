//! A SOCKS5 client (RFC 1928, CONNECT, no authentication): enough for Tor's SOCKS port. Host
//! names are resolved by the proxy (so `.onion` addresses work and no DNS query leaves here).
//!
//! Errors say who is at fault: [`ProxyError::Proxy`] when the proxy itself fails (refused, not a
//! SOCKS5 server, wants authentication), [`ProxyError::Target`] when the proxy reports that it
//! could not reach the server.

use std::{
    io::{Read, Write},
    net::{IpAddr, TcpStream, ToSocketAddrs},
    time::Duration,
};

/// A SOCKS5 connection failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The proxy itself is at fault.
    #[error("socks5 proxy {proxy}: {detail}")]
    Proxy {
        /// `host:port` of the proxy.
        proxy: String,
        /// What happened.
        detail: String,
        /// Whether a retry can help.
        retryable: bool,
    },
    /// The proxy works but could not reach the target.
    #[error("socks5 proxy {proxy} could not reach {target}: {detail}")]
    Target {
        /// `host:port` of the proxy.
        proxy: String,
        /// `host:port` asked for.
        target: String,
        /// The proxy's reply.
        detail: String,
    },
}

impl ProxyError {
    /// Whether trying again can help.
    pub fn is_retryable(&self) -> bool {
        match self {
            ProxyError::Proxy { retryable, .. } => *retryable,
            ProxyError::Target { .. } => true,
        }
    }
}

/// Opens a TCP connection to `addr` (`host:port`, resolved here) within `timeout`, trying
/// each address it resolves to.
pub fn connect_tcp(addr: &str, timeout: Duration) -> std::io::Result<TcpStream> {
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => {
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))?;
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{addr} resolves to no address"),
        )
    }))
}

/// Connects to `host:port` through the SOCKS5 proxy at `proxy`.
pub fn connect(
    proxy: &str,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<TcpStream, ProxyError> {
    let at_proxy = |detail: String, retryable: bool| ProxyError::Proxy {
        proxy: proxy.to_string(),
        detail,
        retryable,
    };
    let mut s = connect_tcp(proxy, timeout).map_err(|e| at_proxy(e.to_string(), true))?;
    let io = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            at_proxy(
                "closed the connection during the handshake: not a SOCKS5 server?".into(),
                false,
            )
        } else {
            at_proxy(format!("handshake: {e}"), true)
        }
    };
    // Greeting: version 5, one method, "no authentication".
    s.write_all(&[5, 1, 0]).map_err(io)?;
    let mut reply = [0u8; 2];
    s.read_exact(&mut reply).map_err(io)?;
    if reply[0] != 5 {
        return Err(at_proxy(
            format!(
                "answered version byte {:#04x}: not a SOCKS5 server",
                reply[0]
            ),
            false,
        ));
    }
    if reply[1] != 0 {
        return Err(at_proxy(
            "requires authentication, which custos does not offer (no acceptable method)".into(),
            false,
        ));
    }
    s.write_all(&connect_request(host, port).map_err(|d| at_proxy(d, false))?)
        .map_err(io)?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head).map_err(io)?;
    if head[0] != 5 {
        return Err(at_proxy(
            format!(
                "answered version byte {:#04x}: not a SOCKS5 server",
                head[0]
            ),
            false,
        ));
    }
    if head[1] != 0 {
        let target = format!("{host}:{port}");
        return Err(match head[1] {
            7 | 8 => at_proxy(reply_text(head[1]), false),
            1..=6 => ProxyError::Target {
                proxy: proxy.to_string(),
                target,
                detail: reply_text(head[1]),
            },
            code => at_proxy(format!("unknown reply code {code}"), false),
        });
    }
    // Bound address: skip it.
    let skip = match head[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => {
            let mut len = [0u8; 1];
            s.read_exact(&mut len).map_err(io)?;
            usize::from(len[0]) + 2
        }
        t => {
            return Err(at_proxy(
                format!("reply with unknown address type {t}"),
                false,
            ))
        }
    };
    let mut rest = vec![0u8; skip];
    s.read_exact(&mut rest).map_err(io)?;
    Ok(s)
}

/// The CONNECT request: IP literals as such, names for the proxy to resolve.
fn connect_request(host: &str, port: u16) -> Result<Vec<u8>, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let mut req = vec![5, 1, 0];
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => {
            req.push(1);
            req.extend_from_slice(&ip.octets());
        }
        Ok(IpAddr::V6(ip)) => {
            req.push(4);
            req.extend_from_slice(&ip.octets());
        }
        Err(_) => {
            let len = u8::try_from(bare.len())
                .map_err(|_| format!("host name {bare:?} is longer than 255 bytes"))?;
            req.push(3);
            req.push(len);
            req.extend_from_slice(bare.as_bytes());
        }
    }
    req.extend_from_slice(&port.to_be_bytes());
    Ok(req)
}

fn reply_text(code: u8) -> String {
    match code {
        1 => "general SOCKS server failure (reply 1)",
        2 => "connection not allowed by the proxy's rules (reply 2)",
        3 => "network unreachable (reply 3)",
        4 => "host unreachable (reply 4)",
        5 => "connection refused by the server (reply 5)",
        6 => "TTL expired (reply 6)",
        7 => "command not supported: the proxy does not CONNECT (reply 7)",
        8 => "address type not supported (reply 8)",
        _ => "unknown reply",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_names_for_the_proxy_to_resolve_and_ips_as_literals() {
        assert_eq!(
            connect_request("127.0.0.1", 50001).unwrap(),
            vec![5, 1, 0, 1, 127, 0, 0, 1, 0xc3, 0x51]
        );
        let onion = connect_request("abc.onion", 50001).unwrap();
        assert_eq!(&onion[..5], &[5, 1, 0, 3, 9]);
        assert_eq!(&onion[5..14], b"abc.onion");
        assert_eq!(connect_request("[::1]", 1).unwrap()[3], 4);
        assert!(connect_request(&"a".repeat(256), 1).is_err());
    }
}
