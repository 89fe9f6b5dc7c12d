//! A `custos case serve --read-only` process (killed on drop) and a one-request HTTP client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running `custos case serve`, killed and reaped on drop.
#[derive(Debug)]
pub struct Served {
    child: Child,
    /// The page's URL with its token, as the server printed it.
    pub url: String,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl Served {
    /// The access token in [`Served::url`].
    pub fn token(&self) -> &str {
        self.url
            .split("token=")
            .nth(1)
            .expect("the url carries the token")
    }

    /// `GET path?token=…` on the server: (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        let sep = if path.contains('?') { '&' } else { '?' };
        http(
            self.port,
            &format!(
                "GET {path}{sep}token={} HTTP/1.1\r\nHost: x\r\n\r\n",
                self.token()
            ),
        )
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `custos --case CASE case serve --read-only --port 0` (from a fresh [`custos_bin!`]
/// command) and reads the URL it prints.
///
/// [`custos_bin!`]: crate::custos_bin
pub fn serve(mut custos: Command, case: &Path) -> Served {
    let mut child = custos
        .args([
            "--case",
            crate::s(case),
            "case",
            "serve",
            "--read-only",
            "--port",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no url in {line:?}"))
        .to_string();
    let port = url
        .trim_start_matches("http://127.0.0.1:")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    Served { child, url, port }
}

/// Sends `request` (a whole HTTP/1.1 request) to 127.0.0.1:`port`; returns (status, body).
pub fn http(port: u16, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let code = resp.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = resp
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (code, body)
}
