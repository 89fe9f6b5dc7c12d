//! `custos case serve --read-only`: the live oversight view.
//!
//! A page on 127.0.0.1 (unless `--bind` says otherwise) that follows the case as events are
//! appended by other processes: the timeline from seizure to remittance against the 24-hour
//! target, each step's actor, the balances, the signed checkpoints, and a button that re-checks
//! the whole chain in the server. Updates arrive by server-sent events (`/api/events`); the page
//! falls back to polling `/api/state` when the stream breaks.
//!
//! Read-only by construction: the case is opened with SQLite's read-only flag, every endpoint
//! is a GET, and nothing here calls `append`. Every request needs the access token (printed at
//! start, or read from `--token-file`), given as `?token=` or `Authorization: Bearer`, compared
//! in constant time; without it the answer is a bare 401. At most [`MAX_CONNECTIONS`] connections
//! at once (then 503), each with read and write timeouts.

mod http;
mod page;

use std::net::{IpAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use clap::Args;
use custos_case::{checkpoint, timeline, Case};

use crate::app::{App, CmdResult, Failure};

/// Concurrent connections served; more get 503.
pub(crate) const MAX_CONNECTIONS: usize = 32;
/// How often an event stream looks at the ledger head.
const POLL: Duration = Duration::from_millis(250);
/// Keep-alive comment interval on an idle event stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `custos case serve` options.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Serve read-only (required: the view has no other mode, and says so on the command line).
    #[arg(long, required = true)]
    pub read_only: bool,
    /// TCP port (0 picks a free one; the URL printed says which).
    #[arg(long, default_value_t = 8470)]
    pub port: u16,
    /// Address to bind. Anything but a loopback address exposes the view to the network.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Read the access token from this file (first line) instead of generating one.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

struct Shared {
    dir: PathBuf,
    token: String,
    active: AtomicUsize,
}

fn new_token() -> CmdResult<String> {
    let mut b = [0u8; 24];
    getrandom::getrandom(&mut b).map_err(|e| Failure::env(anyhow!("no OS randomness: {e}")))?;
    Ok(hex::encode(b))
}

fn read_token(path: &Path) -> CmdResult<String> {
    let s = custos_core::file::read_secret_or_stdin(path, custos_core::file::PASSPHRASE)?;
    let t = s
        .expose_secret()
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    if t.len() < 16 || !t.bytes().all(|b| b.is_ascii_graphic()) || t.contains(['&', '#', '?']) {
        return Err(Failure::input(anyhow!(
            "token file {}: the token must be one line of at least 16 printable characters without & # ?",
            path.display()
        )));
    }
    Ok(t)
}

/// Runs the server until killed.
pub(crate) fn run(app: &App, args: &ServeArgs) -> CmdResult {
    let dir = app
        .case_dir
        .clone()
        .ok_or_else(|| Failure::input(anyhow!("case serve needs --case DIR")))?;
    // Open once up front so a wrong directory fails before the port is taken.
    let case = Case::open_read_only(&dir)?;
    if let Some(id) = &app.expect_case_id {
        if &case.info().case_id != id {
            return Err(Failure::input(anyhow!(
                "case {} holds case {}, not {id}",
                dir.display(),
                case.info().case_id
            )));
        }
    }
    let (token, print_token) = match &args.token_file {
        Some(p) => (read_token(p)?, false),
        None => (new_token()?, true),
    };
    let listener = TcpListener::bind((args.bind, args.port))
        .map_err(|e| Failure::env(anyhow!("cannot listen on {}:{}: {e}", args.bind, args.port)))?;
    let addr = listener.local_addr().map_err(Failure::env)?;
    if !args.bind.is_loopback() {
        tracing::warn!(target: "custos::serve", %addr, "the oversight view is reachable from the network");
    }
    let url = if print_token {
        format!("http://{addr}/?token={token}")
    } else {
        format!(
            "http://{addr}/ (token from {})",
            args.token_file
                .as_deref()
                .unwrap_or(Path::new(""))
                .display()
        )
    };
    outln!("serving case {} read-only at {url}", case.info().case_id)?;
    drop(case);
    let shared = Arc::new(Shared {
        dir,
        token,
        active: AtomicUsize::new(0),
    });
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let shared = Arc::clone(&shared);
        if shared.active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            shared.active.fetch_sub(1, Ordering::SeqCst);
            http::respond(&stream, 503, "text/plain", b"busy\n", "");
            continue;
        }
        let spawned = std::thread::Builder::new()
            .name("custos-serve".into())
            .spawn(move || {
                handle(&shared, &stream);
                shared.active.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            tracing::warn!(target: "custos::serve", error = %e, "cannot start a connection thread");
        }
    }
    Ok(())
}

fn authorized(shared: &Shared, req: &http::Request) -> bool {
    let given = req
        .authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "))
        .or_else(|| req.param("token"))
        .unwrap_or_default();
    http::constant_time_eq(given.as_bytes(), shared.token.as_bytes())
}

fn handle(shared: &Shared, stream: &TcpStream) {
    let req = match http::read_request(stream) {
        Ok(r) => r,
        Err(http::ReadError::Bad(code)) => {
            http::respond(stream, code, "text/plain", b"bad request\n", "");
            return;
        }
        Err(http::ReadError::Gone) => return,
    };
    if !authorized(shared, &req) {
        http::respond(
            stream,
            401,
            "text/plain",
            b"unauthorized\n",
            "WWW-Authenticate: Bearer\r\n",
        );
        return;
    }
    if req.method != "GET" {
        http::respond(
            stream,
            405,
            "text/plain",
            b"read-only: GET only\n",
            "Allow: GET\r\n",
        );
        return;
    }
    let json = |code: u16, v: &serde_json::Value| {
        http::respond(
            stream,
            code,
            "application/json",
            v.to_string().as_bytes(),
            "",
        )
    };
    match req.path.as_str() {
        "/" => http::respond(
            stream,
            200,
            "text/html; charset=utf-8",
            page::HTML.as_bytes(),
            "",
        ),
        "/api/state" => match state(&shared.dir) {
            Ok((_, v)) => json(200, &v),
            Err(e) => json(500, &serde_json::json!({"error": e.to_string()})),
        },
        "/api/verify" => match verify(&shared.dir) {
            Ok(v) => json(200, &v),
            Err(e) => json(500, &serde_json::json!({"error": e.to_string()})),
        },
        "/api/events" => events(shared, stream),
        _ => http::respond(stream, 404, "text/plain", b"not found\n", ""),
    }
}

/// The page's whole state; `.0` is the head seq it reflects.
fn state(dir: &Path) -> Result<(u64, serde_json::Value), custos_case::Error> {
    let case = Case::open_read_only(dir)?;
    let events = case.events()?;
    let mut problems = Vec::new();
    let cps = checkpoint::verify(&case, &events, &[], &mut problems)?;
    let tl = timeline::build(&events, chrono::Utc::now());
    let head = events.last().map(|e| e.seq).unwrap_or(0);
    let info = case.info();
    Ok((
        head,
        serde_json::json!({
            "case_id": info.case_id, "network": info.network, "examiner": info.examiner,
            "created": info.created,
            "head_seq": head,
            "head_hash": events.last().map(|e| e.hash.clone()).unwrap_or_default(),
            "timeline": tl,
            "checkpoints": cps,
            "checkpoint_problems": problems,
            "now": custos_core::ledger::now_utc(),
        }),
    ))
}

fn verify(dir: &Path) -> Result<serde_json::Value, custos_case::Error> {
    let case = Case::open_read_only(dir)?;
    let r = case.verify(None)?;
    Ok(serde_json::json!({
        "ok": r.ok(), "events": r.events, "artifacts": r.artifacts, "head": r.head,
        "problems": r.problems, "last_countersigned": r.checkpoints.last_countersigned,
        "events_after_last_countersigned": r.checkpoints.events_after_last_countersigned.len(),
        "checked_at": custos_core::ledger::now_utc(),
    }))
}

/// The event stream: the state now, then again whenever the ledger head moves.
fn events(shared: &Shared, stream: &TcpStream) {
    if http::start_events(stream).is_err() {
        return;
    }
    let mut last_head = None;
    let mut last_sent = Instant::now();
    loop {
        let head = Case::open_read_only(&shared.dir).and_then(|c| c.head());
        let changed = match &head {
            Ok(h) => last_head.as_ref() != Some(h),
            Err(_) => false,
        };
        if changed {
            let sent = match state(&shared.dir) {
                Ok((_, v)) => http::send_event(stream, "state", &v.to_string()),
                Err(e) => http::send_event(
                    stream,
                    "failure",
                    &serde_json::json!({"error": e.to_string()}).to_string(),
                ),
            };
            if sent.is_err() {
                return;
            }
            last_head = head.ok();
            last_sent = Instant::now();
        } else if last_sent.elapsed() >= KEEP_ALIVE {
            if http::send_comment(stream).is_err() {
                return;
            }
            last_sent = Instant::now();
        }
        std::thread::sleep(POLL);
    }
}
