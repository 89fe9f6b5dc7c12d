//! The anvil process: found under the repo-local npm tools, started on 127.0.0.1 with a free
//! port and the default mnemonic, stopped when dropped.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::rpc::Rpc;
use super::EthError;

/// Chain id anvil uses by default (and the lab keeps).
pub const ANVIL_CHAIN_ID: u64 = 31337;
/// Seconds between two blocks of a lab chain.
pub(crate) const BLOCK_INTERVAL_SECS: u64 = 12;
/// Wei every anvil dev account holds at genesis (`--balance 10000`, in ether).
pub(crate) const DEV_ACCOUNT_ETHER: u64 = 10_000;
/// How many dev accounts the lab asks anvil for.
pub(crate) const DEV_ACCOUNTS: u32 = 10;

/// A running anvil node owned by this process.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    addr: SocketAddr,
    pub(crate) rpc: Rpc,
}

impl Anvil {
    /// The anvil binary: `$CUSTOS_ANVIL`, else `tools/eth/node_modules/.bin/anvil` of the workspace.
    pub fn binary() -> PathBuf {
        if let Some(p) = std::env::var_os("CUSTOS_ANVIL") {
            return PathBuf::from(p);
        }
        tools_bin("anvil")
    }

    /// Whether the anvil binary is installed.
    pub fn available() -> bool {
        Self::binary().is_file()
    }

    /// Starts anvil on a free port of 127.0.0.1 with the default mnemonic, block 0 stamped
    /// `genesis_timestamp`, and waits until it answers.
    pub fn start(genesis_timestamp: u64) -> Result<Anvil, EthError> {
        let bin = Self::binary();
        if !bin.is_file() {
            return Err(EthError::AnvilMissing { path: bin });
        }
        let mut last = String::new();
        // Another process can take the port between our probe and anvil's bind: try again.
        for _ in 0..3 {
            let port = free_port().map_err(|e| EthError::AnvilStart {
                port: 0,
                detail: e.to_string(),
            })?;
            match Self::spawn(&bin, port, genesis_timestamp) {
                Ok(a) => return Ok(a),
                Err(e) => last = e.to_string(),
            }
        }
        Err(EthError::AnvilStart {
            port: 0,
            detail: last,
        })
    }

    fn spawn(bin: &Path, port: u16, genesis_timestamp: u64) -> Result<Anvil, EthError> {
        let child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--accounts", &DEV_ACCOUNTS.to_string()])
            .args(["--balance", &DEV_ACCOUNT_ETHER.to_string()])
            .args(["--chain-id", &ANVIL_CHAIN_ID.to_string()])
            .args(["--timestamp", &genesis_timestamp.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| EthError::AnvilStart {
                port,
                detail: format!("{}: {e}", bin.display()),
            })?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut anvil = Anvil {
            child,
            addr,
            rpc: Rpc::new(addr),
        };
        anvil.wait_ready()?;
        // Every block 12 s after the previous one, whatever the wall clock says.
        anvil.rpc.call(
            "anvil_setBlockTimestampInterval",
            json!([BLOCK_INTERVAL_SECS]),
        )?;
        Ok(anvil)
    }

    fn wait_ready(&mut self) -> Result<(), EthError> {
        let port = self.addr.port();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(EthError::AnvilStart {
                    port,
                    detail: format!("exited with {status}"),
                });
            }
            match self.rpc.call("eth_chainId", json!([])) {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() >= deadline => {
                    return Err(EthError::AnvilStart {
                        port,
                        detail: e.to_string(),
                    })
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// A raw JSON-RPC call to the node (tests use it for anvil's own methods: `evm_mine`,
    /// `evm_snapshot`, `evm_revert`).
    pub fn call(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, EthError> {
        self.rpc.call(method, params)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.rpc.url()
    }

    /// The node's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A binary of the repo-local npm tools (`tools/eth/node_modules/.bin/NAME`).
pub fn tools_bin(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tools/eth/node_modules/.bin")
        .join(name)
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}
