//! A small blocking JSON-RPC client for the lab's own anvil on 127.0.0.1 (HTTP/1.1, one request
//! per connection). The lab drives the node with it; custos itself talks to nodes through
//! `custos-chain`'s alloy provider, so the two never share code.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{json, Value};

use super::EthError;

/// Largest answer the lab accepts from its node (a trace of a lab transaction is far smaller).
const MAX_ANSWER_BYTES: u64 = 64 << 20;

/// A JSON-RPC endpoint on the loopback interface.
#[derive(Debug)]
pub(crate) struct Rpc {
    addr: SocketAddr,
    next_id: AtomicU64,
}

impl Rpc {
    pub(crate) fn new(addr: SocketAddr) -> Self {
        Rpc {
            addr,
            next_id: AtomicU64::new(1),
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn transport(&self, method: &str, detail: impl ToString) -> EthError {
        EthError::Transport {
            method: method.to_string(),
            url: self.url(),
            detail: detail.to_string(),
        }
    }

    /// Calls `method` and returns its `result`.
    pub(crate) fn call(&self, method: &str, params: Value) -> Result<Value, EthError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body =
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string();
        let answer = self.post(method, &body)?;
        let mut v: Value = serde_json::from_slice(&answer).map_err(|e| EthError::Answer {
            method: method.to_string(),
            detail: format!("not json: {e}"),
        })?;
        if let Some(err) = v.get("error") {
            let (Some(code), Some(message)) = (err["code"].as_i64(), err["message"].as_str())
            else {
                return Err(EthError::Answer {
                    method: method.to_string(),
                    detail: format!("error object without an integer code and a message: {err}"),
                });
            };
            return Err(EthError::Rpc {
                method: method.to_string(),
                code,
                message: message.to_string(),
            });
        }
        match v.get_mut("result") {
            Some(r) => Ok(r.take()),
            None => Err(EthError::Answer {
                method: method.to_string(),
                detail: "neither result nor error".into(),
            }),
        }
    }

    fn post(&self, method: &str, body: &str) -> Result<Vec<u8>, EthError> {
        let mut s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))
            .map_err(|e| self.transport(method, e))?;
        s.set_read_timeout(Some(Duration::from_secs(120)))
            .map_err(|e| self.transport(method, e))?;
        let req = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        s.write_all(req.as_bytes())
            .map_err(|e| self.transport(method, e))?;
        let mut raw = Vec::new();
        s.take(MAX_ANSWER_BYTES)
            .read_to_end(&mut raw)
            .map_err(|e| self.transport(method, e))?;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| self.transport(method, "answer without an http header"))?;
        let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
        let body = &raw[split + 4..];
        let status = head.split_whitespace().nth(1).unwrap_or_default();
        if status != "200" {
            return Err(self.transport(method, format!("http status {status}")));
        }
        if head.contains("transfer-encoding: chunked") {
            return dechunk(body).ok_or_else(|| self.transport(method, "bad chunked body"));
        }
        Ok(body.to_vec())
    }
}

/// Decodes an HTTP/1.1 chunked body.
fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = &body[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dechunk_joins_chunks_and_stops_at_the_empty_one() {
        let body = b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        assert_eq!(super::dechunk(body).as_deref(), Some(&b"abcde"[..]));
        assert_eq!(super::dechunk(b"5\r\nab"), None);
    }
}
