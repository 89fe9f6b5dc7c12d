//! Ethereum scenario files: `fixtures/lab/<name>/scenario.toml` with `kind = "ethereum"`.
//!
//! Accounts are anvil dev accounts (the default mnemonic, keys known to the lab), accounts of
//! the scenario's seized mnemonic by derivation path, or a keystore file's address (funded, never
//! spent from by the lab). Amounts are integers in base units written as decimal strings.

use std::path::{Path, PathBuf};

use alloy_primitives::U256;
use serde::Deserialize;

use crate::Error;

/// Largest scenario file read.
const SCENARIO_LIMIT: custos_core::file::Limit = custos_core::file::Limit {
    kind: "scenario file",
    bytes: 1 << 20,
};

/// A parsed Ethereum scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EthScenario {
    /// Always `"ethereum"`.
    pub kind: String,
    /// Short name.
    pub name: String,
    /// One-line description.
    #[serde(default)]
    pub description: String,
    /// File (relative to the scenario directory) holding the seized BIP39 phrase.
    pub mnemonic_file: String,
    /// Timestamp of block 0; each later block is 12 s later.
    pub genesis_timestamp: u64,
    /// Account id that deploys the contracts and receives every token's supply.
    pub deployer: String,
    /// Student handout (markdown), relative to the scenario directory.
    #[serde(default)]
    pub handout: Option<String>,
    /// The accounts of the world.
    #[serde(default, rename = "account")]
    pub accounts: Vec<AccountSpec>,
    /// Tokens the lab deploys.
    #[serde(default, rename = "token")]
    pub tokens: Vec<TokenSpec>,
    /// What happens, in order.
    #[serde(default, rename = "step")]
    pub steps: Vec<StepSpec>,
    /// The custody Safe to deploy, if any.
    #[serde(default)]
    pub safe: Option<SafeSpec>,
    /// Directory the scenario was read from.
    #[serde(skip)]
    pub dir: PathBuf,
}

/// One account. Exactly one of `anvil`, `path`, `keystore` says where it comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSpec {
    /// Id used by steps.
    pub id: String,
    /// Index of an anvil dev account (default mnemonic, m/44'/60'/0'/0/i).
    #[serde(default)]
    pub anvil: Option<u32>,
    /// Derivation path under the scenario's seized mnemonic.
    #[serde(default)]
    pub path: Option<String>,
    /// A keystore V3 file (relative to the scenario directory); `address` must be given.
    #[serde(default)]
    pub keystore: Option<String>,
    /// The address, for keystore accounts.
    #[serde(default)]
    pub address: Option<String>,
    /// Part of the seized material.
    #[serde(default)]
    pub seized: bool,
    /// Who the account belongs to (for tracing ground truth).
    #[serde(default)]
    pub owner: Option<String>,
}

/// Which contract a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenKind {
    /// OpenZeppelin ERC-20 (`contracts/src/LabToken.sol`).
    Erc20,
    /// `transfer` returns nothing (`contracts/src/UsdtStyleToken.sol`); 6 decimals.
    UsdtStyle,
    /// Keeps `fee_bps` of every transfer (`contracts/src/FeeOnTransferToken.sol`); 18 decimals.
    FeeOnTransfer,
}

/// One token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    /// Symbol; steps name the token by it.
    pub symbol: String,
    /// Contract.
    pub kind: TokenKind,
    /// Token name.
    pub name: String,
    /// Decimals (fixed by the contract for usdt-style: 6, fee-on-transfer: 18).
    pub decimals: u8,
    /// Total supply in base units, minted to the deployer.
    pub supply: String,
    /// Fee in basis points (fee-on-transfer only).
    #[serde(default)]
    pub fee_bps: Option<u16>,
    /// Account id receiving the fee (fee-on-transfer only).
    #[serde(default)]
    pub fee_collector: Option<String>,
}

/// One step.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "do", rename_all = "kebab-case", deny_unknown_fields)]
pub enum StepSpec {
    /// A plain ETH payment.
    SendEth {
        /// Sender id.
        from: String,
        /// Recipient id.
        to: String,
        /// Amount in wei.
        wei: String,
    },
    /// An ERC-20 `transfer`.
    SendToken {
        /// Token symbol.
        token: String,
        /// Sender id.
        from: String,
        /// Recipient id.
        to: String,
        /// Amount in base units sent (a fee-on-transfer token delivers less).
        amount: String,
    },
    /// ETH through the forwarder's `split`: one internal call per recipient.
    Split {
        /// Sender id.
        from: String,
        /// Recipient ids.
        to: Vec<String>,
        /// Wei per recipient.
        wei: Vec<String>,
    },
    /// ETH through the forwarder's `forward`: two nested internal calls.
    Forward {
        /// Sender id.
        from: String,
        /// Recipient id.
        to: String,
        /// Amount in wei.
        wei: String,
    },
}

/// The custody Safe deployed through the proxy factory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafeSpec {
    /// Owner account ids.
    pub owners: Vec<String>,
    /// Signatures needed.
    pub threshold: u32,
    /// `saltNonce` of `createProxyWithNonce` (decimal).
    pub salt_nonce: String,
    /// Account id that sends the deployment transaction.
    pub from: String,
}

/// Parses a decimal integer in base units.
pub(crate) fn parse_units(file: &str, what: &str, text: &str) -> Result<U256, Error> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::scenario(
            file,
            format!("{what}: {text:?} is not a decimal integer in base units"),
        ));
    }
    U256::from_str_radix(text, 10)
        .map_err(|e| Error::scenario(file, format!("{what}: {text:?}: {e}")))
}

impl EthScenario {
    /// Whether `name` (a fixtures/lab name or a path) is an Ethereum scenario.
    pub fn is_ethereum(name: &str) -> bool {
        let Ok(file) = scenario_file(name) else {
            return false;
        };
        let Ok(text) = std::fs::read_to_string(file) else {
            return false;
        };
        toml::from_str::<toml::Table>(&text)
            .ok()
            .and_then(|t| {
                t.get("kind")
                    .and_then(|k| k.as_str().map(|k| k == "ethereum"))
            })
            .unwrap_or(false)
    }

    /// Reads a scenario by name (`fixtures/lab/<name>`) or path, and checks its references.
    pub fn resolve(name: &str) -> Result<Self, Error> {
        let file = scenario_file(name)?;
        let shown = file.display().to_string();
        let text = custos_core::file::read_text(&file, SCENARIO_LIMIT)
            .map_err(|e| Error::scenario(&shown, e.to_string()))?;
        let mut sc: EthScenario =
            toml::from_str(&text).map_err(|e| Error::scenario(&shown, e.to_string()))?;
        sc.dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        sc.check(&shown)?;
        Ok(sc)
    }

    /// The account with this id.
    pub fn account(&self, id: &str) -> Option<&AccountSpec> {
        self.accounts.iter().find(|a| a.id == id)
    }

    fn check(&self, file: &str) -> Result<(), Error> {
        if self.kind != "ethereum" {
            return Err(Error::scenario(file, "kind must be \"ethereum\""));
        }
        for a in &self.accounts {
            let sources = [a.anvil.is_some(), a.path.is_some(), a.keystore.is_some()];
            if sources.iter().filter(|s| **s).count() != 1 {
                return Err(Error::scenario(
                    file,
                    format!(
                        "account {}: give exactly one of anvil, path, keystore",
                        a.id
                    ),
                ));
            }
            if a.keystore.is_some() != a.address.is_some() {
                return Err(Error::scenario(
                    file,
                    format!(
                        "account {}: a keystore account needs its address (and only it)",
                        a.id
                    ),
                ));
            }
        }
        let known = |id: &str| self.account(id).is_some();
        let token = |s: &str| self.tokens.iter().any(|t| t.symbol == s);
        let mut refs: Vec<&str> = vec![self.deployer.as_str()];
        for t in &self.tokens {
            parse_units(file, &format!("token {} supply", t.symbol), &t.supply)?;
            let fee_ok = match t.kind {
                TokenKind::FeeOnTransfer => {
                    t.fee_bps.is_some_and(|b| b <= 10_000) && t.fee_collector.is_some()
                }
                _ => t.fee_bps.is_none() && t.fee_collector.is_none(),
            };
            let fixed_decimals = match t.kind {
                TokenKind::Erc20 => None,
                TokenKind::UsdtStyle => Some(6),
                TokenKind::FeeOnTransfer => Some(18),
            };
            if !fee_ok || fixed_decimals.is_some_and(|d| d != t.decimals) {
                return Err(Error::scenario(
                    file,
                    format!(
                        "token {}: fee_bps/fee_collector/decimals do not fit its kind",
                        t.symbol
                    ),
                ));
            }
            refs.extend(t.fee_collector.as_deref());
        }
        for (i, s) in self.steps.iter().enumerate() {
            let n = i + 1;
            match s {
                StepSpec::SendEth { from, to, wei } | StepSpec::Forward { from, to, wei } => {
                    refs.extend([from.as_str(), to.as_str()]);
                    parse_units(file, &format!("step {n} wei"), wei)?;
                }
                StepSpec::SendToken {
                    token: sym,
                    from,
                    to,
                    amount,
                } => {
                    if !token(sym) {
                        return Err(Error::scenario(
                            file,
                            format!("step {n}: unknown token {sym}"),
                        ));
                    }
                    refs.extend([from.as_str(), to.as_str()]);
                    parse_units(file, &format!("step {n} amount"), amount)?;
                }
                StepSpec::Split { from, to, wei } => {
                    if to.len() != wei.len() || to.is_empty() {
                        return Err(Error::scenario(
                            file,
                            format!("step {n}: split needs as many amounts as recipients"),
                        ));
                    }
                    refs.push(from);
                    refs.extend(to.iter().map(String::as_str));
                    for w in wei {
                        parse_units(file, &format!("step {n} wei"), w)?;
                    }
                }
            }
        }
        if let Some(safe) = &self.safe {
            refs.extend(safe.owners.iter().map(String::as_str));
            refs.push(&safe.from);
            parse_units(file, "safe salt_nonce", &safe.salt_nonce)?;
            let t = safe.threshold as usize;
            if t == 0 || t > safe.owners.len() {
                return Err(Error::scenario(file, "safe: threshold must be 1..=owners"));
            }
        }
        if let Some(bad) = refs.iter().find(|r| !known(r)) {
            return Err(Error::scenario(file, format!("unknown account {bad}")));
        }
        Ok(())
    }
}

fn scenario_file(name: &str) -> Result<PathBuf, Error> {
    let p = PathBuf::from(name);
    let dir = if p.is_dir() {
        p
    } else if p.is_file() {
        return Ok(p);
    } else {
        crate::fixtures_dir().join("lab").join(name)
    };
    let file = dir.join("scenario.toml");
    if file.is_file() {
        Ok(file)
    } else {
        Err(Error::scenario(name, "no such scenario (no scenario.toml)"))
    }
}
