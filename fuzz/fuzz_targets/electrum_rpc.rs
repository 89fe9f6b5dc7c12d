//! The Electrum JSON-RPC framing custos reads replies with (`custos_chain::rpc::Connection`,
//! which replaced electrum-client's): the fuzz input is everything the server sends back to a
//! batch of three requests — lines in any order, notifications, error objects, ids that were
//! never asked, duplicates, over-long or unterminated lines, a connection closed early.
use std::io::{Cursor, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::OnceLock;

use custos_chain::electrum::btc_per_kvb_to_sat;
use custos_chain::rpc::{Connection, Request, Socket};
use custos_fuzz::{main as fuzz_main, Target};

/// A connected loopback socket, only to satisfy `Socket` (a batch of three requests never
/// touches it: the non-blocking drain runs between chunks of 1,000).
fn loopback() -> &'static TcpStream {
    static S: OnceLock<TcpStream> = OnceLock::new();
    S.get_or_init(|| {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let s = TcpStream::connect(l.local_addr().expect("local addr")).expect("connect");
        std::mem::forget(l.accept().expect("accept"));
        s
    })
}

/// The server's side of the conversation: replies from the fuzz input, requests discarded.
struct Replay {
    replies: Cursor<Vec<u8>>,
}

impl Read for Replay {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.replies.read(buf)
    }
}

impl Write for Replay {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Socket for Replay {
    fn socket(&self) -> &TcpStream {
        loopback()
    }
}

fn run(data: &[u8]) -> String {
    let mut conn = Connection::new(Replay {
        replies: Cursor::new(data.to_vec()),
    });
    let requests = [
        Request::new("blockchain.estimatefee", &[serde_json::json!(2)]),
        Request::with_str("blockchain.scripthash.get_history", "00"),
        Request::with_str("blockchain.transaction.get", "00"),
    ];
    match conn.batch(&requests, &mut |_, _| {}) {
        Ok(answers) => {
            let mut s = format!("ok {}", answers.len());
            for a in answers {
                match a {
                    Ok(v) => s.push_str(&format!(" v{}", btc_per_kvb_to_sat(&v).is_some())),
                    Err(_) => s.push_str(" e"),
                }
            }
            s
        }
        Err(e) => {
            let e = e.to_string();
            // The outcome class, not the quoted reply text.
            e.split(':')
                .next()
                .unwrap_or("")
                .chars()
                .filter(|c| !c.is_ascii_digit())
                .collect()
        }
    }
}

fn main() {
    fuzz_main(Target {
        name: "electrum_rpc",
        tokens: &[
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":",
            "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":",
            "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":",
            "{\"id\":",
            "\"error\":{\"code\":-32600,\"message\":\"x\"}",
            "\"method\":\"blockchain.headers.subscribe\",\"params\":[]",
            "null",
            "}\n",
            "\n",
            "18446744073709551615",
            "-1",
            "0.0001",
        ],
        run,
    });
}
