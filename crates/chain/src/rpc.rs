//! The Electrum protocol's JSON-RPC over a stream this crate owns: requests written as lines,
//! answers matched by id, a whole batch pipelined in one round trip however large.
//!
//! A batch is written in chunks of at most [`CHUNK`] requests, every chunk before the first
//! answer is waited for; between chunks, whatever answers have already arrived are read without
//! blocking, so neither side's socket buffer can fill up and stall the other. Answers are
//! parsed one line at a time straight into their slot: the cost per request is constant,
//! whatever the size of the batch (electrum-client's batch call, which this replaces, sent every
//! answer through a channel per message and grew quadratically with the batch).
//!
//! Not for: connection setup (see [`crate::electrum`]), TLS ([`crate::tls`]), SOCKS
//! ([`crate::socks`]).

use std::{
    fmt::Write as _,
    io::{BufRead, BufReader, ErrorKind, Read, Write},
    net::TcpStream,
};

use serde::Deserialize;
use serde_json::Value;

/// Requests per chunk written (for the server's sake; all chunks go out before waiting).
pub const CHUNK: usize = 1000;
/// Longest answer line accepted (a `blockchain.block.headers` answer of 2016 headers is
/// about 325 kB of hex; a transaction up to 4 MB is 8 MB of hex).
pub const MAX_LINE: usize = 16 * 1024 * 1024;

/// One request of a batch.
#[derive(Debug, Clone)]
pub struct Request {
    /// Method name.
    pub method: &'static str,
    /// Parameters, already serialised as a JSON array (`["…", 5]`).
    pub params: String,
}

impl Request {
    /// A request whose parameters are the given JSON values.
    pub fn new(method: &'static str, params: &[Value]) -> Self {
        let params = Value::Array(params.to_vec()).to_string();
        Request { method, params }
    }

    /// A request with one string parameter (a script hash, a txid, a raw transaction).
    pub fn with_str(method: &'static str, param: &str) -> Self {
        // Hex and txids need no escaping, but stay correct for any text.
        let quoted = Value::String(param.to_string()).to_string();
        Request {
            method,
            params: format!("[{quoted}]"),
        }
    }
}

/// What went wrong on the connection (not an error answer to one request).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// Reading or writing failed (the connection dropped, a timeout).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The server closed the connection before answering every request.
    #[error("the server closed the connection with {missing} of {total} answers outstanding")]
    Closed {
        /// Answers missing.
        missing: usize,
        /// Requests made.
        total: usize,
    },
    /// An answer is not JSON-RPC.
    #[error("answer is not JSON-RPC: {0}")]
    Malformed(String),
}

impl RpcError {
    /// Whether reconnecting and trying again can help.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, RpcError::Malformed(_))
    }
}

/// An error answer (`{"error": …}`) to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError(pub String);

/// The answer to one request: its result, or the error the server gave for it.
pub type Answer = Result<Value, ServerError>;

/// The socket under a stream, for non-blocking reads between chunks.
pub trait Socket {
    /// The TCP socket.
    fn socket(&self) -> &TcpStream;
}

/// A line-oriented JSON-RPC connection.
#[derive(Debug)]
pub struct Connection<S: Read + Write + Socket> {
    reader: BufReader<S>,
    next_id: u64,
    /// A partial answer line left by a non-blocking read.
    partial: Vec<u8>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    id: Option<Value>,
    /// `Some(Null)` for `"result": null` (a method that returns nothing), `None` when absent.
    #[serde(default, deserialize_with = "present")]
    result: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

/// Slots of one batch: answers by position, filled as they arrive.
struct Pending<'p> {
    first_id: u64,
    answers: Vec<Option<Answer>>,
    missing: usize,
    progress: &'p mut dyn FnMut(usize, usize),
}

impl Pending<'_> {
    fn done(&self) -> usize {
        self.answers.len() - self.missing
    }
}

/// How often (in answers) progress is reported within a batch.
const PROGRESS_EVERY: usize = 500;

impl<S: Read + Write + Socket> Connection<S> {
    /// Wraps a connected stream.
    pub fn new(stream: S) -> Self {
        Connection {
            reader: BufReader::with_capacity(64 * 1024, stream),
            next_id: 1,
            partial: Vec::new(),
        }
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        self.reader.get_ref()
    }

    /// One request, one answer.
    pub fn call(&mut self, request: Request) -> Result<Answer, RpcError> {
        let mut v = self.batch(&[request], &mut |_, _| {})?;
        v.pop().ok_or(RpcError::Closed {
            missing: 1,
            total: 1,
        })
    }

    /// Sends every request (in chunks of [`CHUNK`], all before waiting) and returns the answers
    /// in request order. `progress(done, total)` is called as answers arrive in large batches.
    pub fn batch(
        &mut self,
        requests: &[Request],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<Answer>, RpcError> {
        let n = requests.len();
        let first_id = self.next_id;
        self.next_id = self.next_id.wrapping_add(n as u64);
        let mut p = Pending {
            first_id,
            answers: (0..n).map(|_| None).collect(),
            missing: n,
            progress,
        };
        let mut text = String::new();
        for (c, chunk) in requests.chunks(CHUNK).enumerate() {
            text.clear();
            for (k, r) in chunk.iter().enumerate() {
                let id = first_id.wrapping_add((c * CHUNK + k) as u64);
                // Infallible: writing to a String.
                let _ = writeln!(
                    text,
                    r#"{{"jsonrpc":"2.0","id":{id},"method":"{}","params":{}}}"#,
                    r.method, r.params
                );
            }
            self.reader.get_mut().write_all(text.as_bytes())?;
            self.reader.get_mut().flush()?;
            if (c + 1) * CHUNK < n {
                self.drain(&mut p)?;
            }
        }
        drop(text);
        while p.missing > 0 {
            if !self.read_line(&mut p, true)? {
                return Err(RpcError::Closed {
                    missing: p.missing,
                    total: n,
                });
            }
        }
        Ok(p.answers.into_iter().flatten().collect())
    }

    /// Reads whatever answers have arrived, without waiting.
    fn drain(&mut self, p: &mut Pending<'_>) -> Result<(), RpcError> {
        self.reader.get_ref().socket().set_nonblocking(true)?;
        let result = (|| {
            while p.missing > 0 {
                match self.read_line(p, false) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(RpcError::Io(e)) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })();
        self.reader.get_ref().socket().set_nonblocking(false)?;
        result
    }

    /// Reads one line (or what is available of it) and files the answer. False at end of
    /// stream (blocking) or when nothing more is available (non-blocking).
    fn read_line(&mut self, p: &mut Pending<'_>, blocking: bool) -> Result<bool, RpcError> {
        let before = self.partial.len();
        let got = (&mut self.reader)
            .take((MAX_LINE + 1 - before.min(MAX_LINE)) as u64)
            .read_until(b'\n', &mut self.partial);
        let read = match got {
            Ok(k) => k,
            Err(e) if e.kind() == ErrorKind::Interrupted => return Ok(true),
            Err(e) => return Err(e.into()),
        };
        if read == 0 {
            return Ok(false);
        }
        if self.partial.last() != Some(&b'\n') {
            if self.partial.len() > MAX_LINE {
                return Err(RpcError::Malformed(format!(
                    "an answer is longer than {MAX_LINE} bytes"
                )));
            }
            // End of stream mid-line, or a non-blocking read that stopped mid-line.
            return Ok(!blocking || read > 0);
        }
        let line = std::mem::take(&mut self.partial);
        self.file(p, &line)?;
        Ok(true)
    }

    /// Files one answer line in its slot; notifications and blank lines are skipped.
    fn file(&mut self, p: &mut Pending<'_>, line: &[u8]) -> Result<(), RpcError> {
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            return Ok(());
        }
        let env: Envelope = serde_json::from_slice(trimmed).map_err(|e| {
            RpcError::Malformed(format!(
                "{e}: {}",
                String::from_utf8_lossy(&trimmed[..trimmed.len().min(120)])
            ))
        })?;
        let Some(id) = env.id.as_ref().and_then(Value::as_u64) else {
            // A subscription notification (no id): not an answer.
            return Ok(());
        };
        let Some(slot) = id
            .checked_sub(p.first_id)
            .and_then(|k| usize::try_from(k).ok())
            .filter(|k| *k < p.answers.len())
        else {
            return Err(RpcError::Malformed(format!(
                "answer with id {id}, which no outstanding request has"
            )));
        };
        if p.answers[slot].is_some() {
            return Err(RpcError::Malformed(format!("two answers with id {id}")));
        }
        p.answers[slot] = Some(match (env.error, env.result) {
            (Some(e), _) if !e.is_null() => Err(ServerError(error_text(&e))),
            (_, Some(r)) => Ok(r),
            // Not a `null` result: the server sent neither a result nor an error.
            (_, None) => {
                return Err(RpcError::Malformed(format!(
                    "answer with id {id} has neither a result nor an error"
                )))
            }
        });
        p.missing -= 1;
        let total = p.answers.len();
        let done = p.done();
        if total > PROGRESS_EVERY && done.is_multiple_of(PROGRESS_EVERY) {
            (p.progress)(done, total);
        }
        Ok(())
    }
}

/// The text of a JSON-RPC error object (`{"code": …, "message": …}`) or whatever was sent.
fn error_text(e: &Value) -> String {
    match e.get("message").and_then(Value::as_str) {
        Some(m) => match e.get("code") {
            Some(c) => format!("{m} (code {c})"),
            None => m.to_string(),
        },
        None => e.to_string(),
    }
}

/// A field that is present (even as `null`) deserializes to `Some`; `#[serde(default)]` makes an
/// absent one `None`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    <Value as serde::Deserialize>::deserialize(d).map(Some)
}

impl Socket for TcpStream {
    fn socket(&self) -> &TcpStream {
        self
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io::{BufRead, BufReader, Write},
        net::TcpListener,
    };

    use super::*;

    /// A server that reads `n` requests, then answers the first `answer` of them in reverse
    /// order (ids echoed, the result the request's first parameter), with a notification first,
    /// and closes.
    fn reversing_server(n: usize, answer: usize) -> (std::thread::JoinHandle<()>, u16) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let h = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut w = s.try_clone().unwrap();
            let mut r = BufReader::new(s);
            let mut reqs = Vec::new();
            for _ in 0..n {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                let v: Value = serde_json::from_str(&line).unwrap();
                reqs.push(v);
            }
            writeln!(
                w,
                r#"{{"jsonrpc":"2.0","method":"blockchain.headers.subscribe","params":[{{}}]}}"#
            )
            .unwrap();
            for v in reqs[..answer].iter().rev() {
                let id = &v["id"];
                let p = &v["params"][0];
                let line = if p == "fail" {
                    serde_json::json!({"jsonrpc":"2.0","id":id,"error":{"code":1,"message":"no such thing"}})
                } else if p == "null" {
                    serde_json::json!({"jsonrpc":"2.0","id":id,"result":null})
                } else if p == "absent" {
                    serde_json::json!({"jsonrpc":"2.0","id":id})
                } else {
                    serde_json::json!({"jsonrpc":"2.0","id":id,"result":p})
                };
                writeln!(w, "{line}").unwrap();
            }
        });
        (h, port)
    }

    #[test]
    fn answers_come_back_in_request_order_whatever_order_they_arrive_in() {
        let n = 2500; // three chunks
        let (h, port) = reversing_server(n, n);
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut c = Connection::new(s);
        let reqs: Vec<Request> = (0..n)
            .map(|i| {
                let p = if i == 7 {
                    "fail".to_string()
                } else {
                    format!("r{i}")
                };
                Request::with_str("x.echo", &p)
            })
            .collect();
        let mut seen = Vec::new();
        let answers = c.batch(&reqs, &mut |d, t| seen.push((d, t))).unwrap();
        h.join().unwrap();
        assert_eq!(answers.len(), n);
        assert_eq!(answers[0], Ok(Value::String("r0".into())));
        assert_eq!(answers[2499], Ok(Value::String("r2499".into())));
        assert_eq!(
            answers[7],
            Err(ServerError("no such thing (code 1)".into()))
        );
        assert_eq!(
            seen.last(),
            Some(&(2500, 2500)),
            "progress within the batch"
        );
    }

    /// One `x.echo` request with `param` to a fresh [`reversing_server`].
    fn echo_once(param: &str) -> Result<Vec<Result<Value, ServerError>>, RpcError> {
        let (h, port) = reversing_server(1, 1);
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut c = Connection::new(s);
        let answers = c.batch(&[Request::with_str("x.echo", param)], &mut |_, _| {});
        h.join().unwrap();
        answers
    }

    #[test]
    fn a_null_result_is_a_value_but_an_answer_without_result_or_error_is_malformed() {
        assert_eq!(echo_once("null").unwrap(), vec![Ok(Value::Null)]);
        let e = echo_once("absent").unwrap_err();
        assert!(
            matches!(&e, RpcError::Malformed(m) if m.contains("neither a result nor an error")),
            "{e}"
        );
    }

    #[test]
    fn a_connection_closed_early_says_how_many_answers_are_missing() {
        let (h, port) = reversing_server(3, 2);
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut c = Connection::new(s);
        let reqs: Vec<Request> = (0..3)
            .map(|i| Request::with_str("x.echo", &i.to_string()))
            .collect();
        // The server reads three requests, answers two and closes.
        let e = c.batch(&reqs, &mut |_, _| {}).unwrap_err();
        h.join().unwrap();
        assert!(
            matches!(
                e,
                RpcError::Closed {
                    missing: 1,
                    total: 3
                }
            ),
            "{e}"
        );
    }
}
