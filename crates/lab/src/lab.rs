//! A running lab: the chain, the Electrum server thread and the faucet.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use bitcoin::{Amount, Block, BlockHash, OutPoint, Script, Transaction, TxOut, Txid};
use serde::{Deserialize, Serialize};

use crate::builder::{self, faucet_tx};
use crate::chain::{ChainState, Params};
use crate::node::{poisoned, Node};
use crate::persist;
use crate::scenario::Scenario;
use crate::server::{self, ConnLimits, Server};
use crate::truth::GroundTruth;
use crate::world::World;
use crate::Error;
use custos_core::file::{self, read_text_if_exists};

/// How to start a lab.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// Scenario name in `fixtures/lab/` or a path to a scenario directory or file.
    pub scenario: String,
    /// TCP port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Where the chain is kept; `None` uses a temporary directory removed on drop.
    pub data_dir: Option<PathBuf>,
    /// Delay added before every response (to train on a slow link).
    pub latency_ms: u64,
    /// Mine a block after every accepted broadcast.
    pub automine: bool,
    /// Minimum relay fee in sat per 1000 vB (default 100 = 0.1 sat/vB, as Core 29+).
    pub min_relay_sat_per_kvb: u64,
    /// Connection cap and timeouts of the Electrum server.
    pub limits: ConnLimits,
}

impl LabConfig {
    /// Defaults for a named scenario: free port, temporary data, no latency, no automine.
    pub fn scenario(name: &str) -> Self {
        LabConfig {
            scenario: name.to_string(),
            port: 0,
            data_dir: None,
            latency_ms: 0,
            automine: false,
            min_relay_sat_per_kvb: 100,
            limits: ConnLimits::default(),
        }
    }
}

/// What `--data DIR` keeps about the lab besides the kernel's own files.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LabState {
    scenario: String,
    scenario_name: String,
    start_time: u32,
}

/// Written to the data directory while a lab runs (mode 0600), so the CLI can reach it. Its
/// token is what the admin methods (`lab.mine`, `lab.stop`) require: any local user can reach
/// the Electrum port, only the lab's owner can read this file.
#[derive(Clone, Serialize, Deserialize)]
pub struct ControlFile {
    /// Server port on 127.0.0.1.
    pub port: u16,
    /// Process id of the lab.
    pub pid: u32,
    /// Admin token (64 hex digits from the OS random source, new at every start).
    pub token: String,
}

impl std::fmt::Debug for ControlFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlFile")
            .field("port", &self.port)
            .field("pid", &self.pid)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl ControlFile {
    /// Path of the control file in a data directory.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("control.json")
    }

    /// Reads the control file of a data directory.
    pub fn read(data_dir: &Path) -> Result<ControlFile, Error> {
        let p = Self::path(data_dir);
        let t = read_text_if_exists(&p, file::LAB_STATE)?.ok_or_else(|| {
            Error::io(
                &p,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no control file: is a lab running on this data directory?",
                ),
            )
        })?;
        serde_json::from_str(&t).map_err(|e| Error::data_syntax(p, e))
    }

    /// The server address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Calls an admin method of the lab (`lab.mine`, `lab.stop`) with this file's token.
    pub fn admin_call(
        &self,
        method: &str,
        args: &[serde_json::Value],
    ) -> Result<serde_json::Value, Error> {
        let mut params = vec![serde_json::Value::String(self.token.clone())];
        params.extend_from_slice(args);
        server::call(self.addr(), method, serde_json::Value::Array(params))
    }
}

/// A fresh admin token: 32 bytes from the OS random source, hex.
fn new_token() -> String {
    let mut b = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    hex::encode(b)
}

/// A running lab. It stops (server closed, chain flushed) when dropped.
#[derive(Debug)]
pub struct Lab {
    node: Arc<Node>,
    server: Arc<Server>,
    world: Mutex<World>,
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
    truth: GroundTruth,
    data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

fn write_file(path: &Path, text: &str) -> Result<(), Error> {
    persist::write_atomic(path, text.as_bytes(), false)
}

impl Lab {
    /// Builds (or, with an existing `data_dir`, resumes) the scenario's chain and starts the
    /// Electrum server on 127.0.0.1.
    pub fn start(cfg: LabConfig) -> Result<Lab, Error> {
        let sc = Scenario::resolve(&cfg.scenario)?;
        Self::start_scenario(sc, cfg)
    }

    /// [`Lab::start`] on an already loaded scenario (a student's variant,
    /// [`crate::variant::variant_scenario`]); `cfg.scenario` is kept as its source in the data
    /// directory's state, `sc.name` guards a resumed data directory.
    pub fn start_scenario(sc: Scenario, cfg: LabConfig) -> Result<Lab, Error> {
        let (data_dir, temp) = match &cfg.data_dir {
            Some(d) => {
                std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
                (d.clone(), None)
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("custos-lab-")
                    .tempdir()
                    .map_err(|e| Error::io(std::env::temp_dir(), e))?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let mut world = World::new(&sc)?;
        let params = Params {
            start_time: sc.start_time,
            miner_script: world.miner_script.clone(),
        };
        let state_path = data_dir.join("lab-state.json");
        let truth_path = data_dir.join("ground-truth.toml");
        let (st, mut truth) = if state_path.exists() {
            let t = file::read_text(&state_path, file::LAB_STATE)?;
            let saved: LabState =
                serde_json::from_str(&t).map_err(|e| Error::data_syntax(&state_path, e))?;
            if saved.scenario_name != sc.name {
                return Err(Error::Data {
                    path: data_dir,
                    detail: format!("holds scenario {}, not {}", saved.scenario_name, sc.name),
                });
            }
            let mut st = ChainState::open(&data_dir, params, cfg.min_relay_sat_per_kvb)?;
            let tt = file::read_text(&truth_path, file::GROUND_TRUTH)?;
            let truth = GroundTruth::from_toml(&tt)?;
            persist::restore_mempool(&data_dir, &mut st)?;
            tracing::info!(target: "custos_lab", tip = st.index.tip_height(), "resumed lab");
            (st, truth)
        } else {
            let mut st = ChainState::open(&data_dir, params, cfg.min_relay_sat_per_kvb)?;
            if st.index.tip_height() != 0 {
                return Err(Error::Data {
                    path: data_dir,
                    detail: "holds a chain but no lab-state.json".into(),
                });
            }
            let truth = builder::build(&sc, &mut st, &mut world)?;
            persist::save(&data_dir, &st)?;
            write_file(&truth_path, &truth.to_toml()?)?;
            let saved = LabState {
                scenario: cfg.scenario.clone(),
                scenario_name: sc.name.clone(),
                start_time: sc.start_time,
            };
            let text = serde_json::to_string_pretty(&saved)
                .map_err(|e| Error::data_syntax(&state_path, e))?;
            write_file(&state_path, &text)?;
            tracing::info!(target: "custos_lab", tip = st.index.tip_height(), scenario = %sc.name, "built lab");
            (st, truth)
        };
        for w in &mut truth.wallets {
            if let Some(m) = world.material.get(&w.id) {
                w.material = m.clone();
            }
        }
        let listener =
            TcpListener::bind(("127.0.0.1", cfg.port)).map_err(|source| Error::Listen {
                port: cfg.port,
                source,
            })?;
        let addr = listener.local_addr()?;
        let node = Arc::new(Node::new(
            st,
            cfg.automine,
            sc.name.clone(),
            cfg.data_dir.clone(),
        ));
        let token = new_token();
        let server = Server::new(
            node.clone(),
            Duration::from_millis(cfg.latency_ms),
            cfg.limits,
            token.clone(),
        );
        let s2 = server.clone();
        let accept = std::thread::Builder::new()
            .name("lab-accept".into())
            .spawn(move || server::accept_loop(s2, listener))?;
        let cf = ControlFile {
            port: addr.port(),
            pid: std::process::id(),
            token,
        };
        let text = serde_json::to_string(&cf)
            .map_err(|e| Error::data_syntax(ControlFile::path(&data_dir), e))?;
        persist::write_atomic(&ControlFile::path(&data_dir), text.as_bytes(), true)?;
        Ok(Lab {
            node,
            server,
            world: Mutex::new(world),
            addr,
            accept: Some(accept),
            truth,
            data_dir,
            _temp: temp,
        })
    }

    /// `tcp://127.0.0.1:PORT`, as electrum-client takes it.
    pub fn url(&self) -> String {
        format!("tcp://{}", self.addr)
    }

    /// The server's socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the chain is kept.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Mines `n` blocks (with the whole mempool in the first) to the lab miner.
    pub fn mine(&self, n: u32) -> Result<Vec<BlockHash>, Error> {
        self.node.mine(n)
    }

    /// The chain state, for the infallible accessors below.
    ///
    /// # Panics
    ///
    /// If a lab thread panicked while holding the state lock: the state may then be half
    /// updated, and no answer from it can be trusted.
    fn state(&self) -> std::sync::RwLockReadGuard<'_, ChainState> {
        self.node
            .read()
            .expect("the lab state lock is poisoned only after a lab thread panicked")
    }

    /// Height of the active tip.
    ///
    /// # Panics
    ///
    /// If a lab thread panicked while holding the state lock.
    pub fn tip_height(&self) -> u32 {
        self.state().index.tip_height()
    }

    /// Hash of the active tip.
    ///
    /// # Panics
    ///
    /// If a lab thread panicked while holding the state lock.
    pub fn tip_hash(&self) -> BlockHash {
        self.state().kernel.tip_hash()
    }

    /// The scenario's ground truth (as it stood when the scenario finished building).
    pub fn ground_truth(&self) -> &GroundTruth {
        &self.truth
    }

    /// Lab faucet: pays `amount` to `script_pubkey` from the miner's coins and mines one block.
    pub fn fund(&self, script_pubkey: &Script, amount: Amount) -> Result<OutPoint, Error> {
        let out = TxOut {
            value: amount,
            script_pubkey: script_pubkey.to_owned(),
        };
        let tx = {
            let st = self.node.read()?;
            let world = self.world.lock().map_err(poisoned)?;
            faucet_tx(&st, &world, std::slice::from_ref(&out))?
        };
        let vout = tx
            .output
            .iter()
            .position(|o| *o == out)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| Error::Faucet("payment output missing".into()))?;
        let txid = self.node.submit_and_mine(tx)?;
        Ok(OutPoint::new(txid, vout))
    }

    /// Submits a transaction to the mempool (the path `blockchain.transaction.broadcast` takes).
    pub fn submit_tx(&self, tx: &Transaction) -> Result<Txid, Error> {
        self.node.submit_tx(tx.clone())
    }

    /// A block on the tip with `txs` (parents first), a coinbase paying subsidy plus `fees` to
    /// the lab miner, a witness commitment, the merkle root and a valid proof of work. For
    /// tests that build their own (possibly invalid) blocks.
    pub fn block_template(&self, txs: Vec<Transaction>, fees: Amount) -> Result<Block, Error> {
        let st = self.node.read()?;
        let miner = st.params.miner_script.clone();
        st.assemble(txs, fees, &miner)
    }

    /// Hands a block to the kernel; Ok when it became the tip, else Core's reason.
    pub fn submit_block(&self, block: &Block) -> Result<BlockHash, Error> {
        self.node.submit_block(block)
    }

    /// The output `op` if it is unspent in the chain (confirmed).
    ///
    /// # Panics
    ///
    /// If a lab thread panicked while holding the state lock.
    pub fn utxo(&self, op: &OutPoint) -> Option<TxOut> {
        self.state().index.utxos.get(op).map(|c| c.txout.clone())
    }

    /// Raw bytes of a confirmed or mempool transaction.
    ///
    /// # Panics
    ///
    /// If a lab thread panicked while holding the state lock.
    pub fn raw_transaction(&self, txid: &Txid) -> Option<Vec<u8>> {
        self.state().raw_tx(txid)
    }

    /// Number of transactions in the mempool.
    ///
    /// # Panics
    ///
    /// If a lab thread panicked while holding the state lock.
    pub fn mempool_len(&self) -> usize {
        self.state().mempool.len()
    }

    /// The shared chain state (for the in-process source).
    pub(crate) fn node(&self) -> Arc<Node> {
        self.node.clone()
    }

    /// Stops the server and waits for its thread.
    fn shutdown(&mut self) {
        self.server.stop();
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        // Connection threads hold the server and through it the chain state; the kernel (and
        // its database locks) is only released when the last of them has gone. Their sockets
        // are shut down by now.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(&self.server) > 1 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        match self.node.read() {
            Ok(st) => {
                if let Err(e) = persist::save(&self.data_dir, &st) {
                    tracing::error!("lab state not saved: {e}");
                }
            }
            Err(e) => tracing::error!("lab state not saved: {e}"),
        }
        let _ = std::fs::remove_file(ControlFile::path(&self.data_dir));
    }

    /// Blocks until a client calls `lab.stop` (the CLI's `down`) or `stop` is set.
    pub fn wait(&self, stop: &AtomicBool) {
        while !self.server.stopped() && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.shutdown();
    }
}
