//! A small HTTP/1.1 server on `std::net` for the oversight view: GET only, one request per
//! connection (`Connection: close`), headers capped at 8 KiB, read and write timeouts, and a
//! cap on concurrent connections. No request body is ever read.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Largest request head accepted.
pub(crate) const MAX_HEAD: usize = 8 * 1024;
/// Read timeout for the request head; write timeout for every response.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed request line and the headers that matter here.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    /// Method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Query string (after `?`), raw.
    pub query: String,
    /// `Authorization` header value.
    pub authorization: Option<String>,
}

impl Request {
    /// A query parameter, percent-decoding not needed for the hex values used here.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

/// Why a request could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Malformed or oversized: answer 400 / 431.
    Bad(u16),
    /// The peer went away or timed out: just close.
    Gone,
}

/// Reads the request head from `stream`.
pub(crate) fn read_request(stream: &TcpStream) -> Result<Request, ReadError> {
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|_| ReadError::Gone)?;
    let mut reader = BufReader::new(stream.take(MAX_HEAD as u64 + 1));
    let mut total = 0usize;
    let mut line = String::new();
    let n = reader.read_line(&mut line).map_err(|_| ReadError::Gone)?;
    if n == 0 {
        return Err(ReadError::Gone);
    }
    total += n;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Bad(400));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(ReadError::Bad(400));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut req = Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        authorization: None,
    };
    loop {
        let mut h = String::new();
        let n = reader.read_line(&mut h).map_err(|_| ReadError::Gone)?;
        total += n;
        if total > MAX_HEAD {
            return Err(ReadError::Bad(431));
        }
        if n == 0 {
            return Err(ReadError::Gone);
        }
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("authorization") {
                req.authorization = Some(v.trim().to_string());
            }
        }
    }
    Ok(req)
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// Headers sent with every response.
const COMMON: &str = "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\nX-Frame-Options: DENY\r\n\
Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n";

/// Writes a complete response and closes.
pub(crate) fn respond(
    mut stream: &TcpStream,
    code: u16,
    content_type: &str,
    body: &[u8],
    extra: &str,
) {
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let head = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n{COMMON}{extra}\r\n",
        reason(code),
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

/// Starts a `text/event-stream` response.
pub(crate) fn start_events(mut stream: &TcpStream) -> std::io::Result<()> {
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n{COMMON}\r\n"
    );
    stream.write_all(head.as_bytes())?;
    stream.flush()
}

/// Sends one server-sent event (`data` must hold no newline; JSON from serde has none).
pub(crate) fn send_event(mut stream: &TcpStream, event: &str, data: &str) -> std::io::Result<()> {
    write!(stream, "event: {event}\ndata: {data}\n\n")?;
    stream.flush()
}

/// Sends an SSE comment (keeps idle connections and proxies alive; detects a closed peer).
pub(crate) fn send_comment(mut stream: &TcpStream) -> std::io::Result<()> {
    stream.write_all(b": keep-alive\n\n")?;
    stream.flush()
}

/// Compares two secrets in time that depends only on their lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_matches_only_equal_bytes() {
        assert!(constant_time_eq(b"abcd", b"abcd"));
        assert!(!constant_time_eq(b"abcd", b"abce"));
        assert!(!constant_time_eq(b"abcd", b"abc"));
        assert!(constant_time_eq(b"", b""));
    }
}
