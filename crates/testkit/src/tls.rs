//! A TLS front for a plain TCP server (the lab's Electrum port), as public Electrum servers
//! present themselves: a self-signed certificate made by the `openssl` command and a relay
//! written with Python's `ssl` module (both on every machine `scripts/install-deps.sh` set up).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A self-signed certificate (files) and its SHA-256 fingerprint as `openssl` prints it
/// (`AB:CD:…`), and as 64 lower-case hex digits.
#[derive(Debug, Clone)]
pub struct Cert {
    /// The certificate (PEM).
    pub crt: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// SHA-256 fingerprint with colons, upper case.
    pub colons: String,
    /// SHA-256 fingerprint, 64 lower-case hex digits.
    pub hex: String,
}

/// Makes a P-256 self-signed certificate for 127.0.0.1 under `dir` (`NAME.crt`, `NAME.key`).
pub fn make_cert(dir: &Path, name: &str) -> Cert {
    let key = dir.join(format!("{name}.key"));
    let crt = dir.join(format!("{name}.crt"));
    let o = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=custos-test"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .expect("the openssl command runs (scripts/install-deps.sh installs it)");
    assert!(o.status.success(), "{o:?}");
    let o = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&crt)
        .output()
        .expect("openssl x509 runs");
    let text = String::from_utf8(o.stdout).expect("openssl prints text");
    let colons = text
        .trim()
        .rsplit('=')
        .next()
        .expect("rsplit yields at least one part")
        .to_string();
    let hex = colons.replace(':', "").to_lowercase();
    assert_eq!(hex.len(), 64, "{text}");
    Cert {
        crt,
        key,
        colons,
        hex,
    }
}

/// A TLS→TCP relay: TLS with `cert` on 127.0.0.1:`port` (0: any), plain TCP to `target`.
const RELAY: &str = r#"
import select, socket, ssl, sys, threading
crt, key, target, port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(crt, key)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(64)
print(srv.getsockname()[1], flush=True)
def handle(c):
    try:
        t = ctx.wrap_socket(c, server_side=True)
    except (ssl.SSLError, OSError):
        c.close()
        return
    u = socket.create_connection(("127.0.0.1", target))
    try:
        while True:
            r = [t] if t.pending() else select.select([t, u], [], [])[0]
            for s in r:
                d = s.recv(65536)
                if not d:
                    return
                (u if s is t else t).sendall(d)
    except OSError:
        pass
    finally:
        t.close()
        u.close()
while True:
    c, _ = srv.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
"#;

/// A running relay process, killed on drop.
#[derive(Debug)]
pub struct Relay {
    child: Child,
    /// The TLS port on 127.0.0.1.
    pub port: u16,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a relay presenting `cert` on 127.0.0.1:`port` (0: any free port) in front of the
/// plain TCP server on 127.0.0.1:`target_port`.
pub fn start_relay(cert: &Cert, target_port: u16, port: u16) -> Relay {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(RELAY)
        .arg(&cert.crt)
        .arg(&cert.key)
        .arg(target_port.to_string())
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .expect("the relay prints its port");
    let port = line.trim().parse().expect("the relay's port");
    Relay { child, port }
}
