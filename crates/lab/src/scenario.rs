//! Scenario files: a world of wallets and the payments between them over time.
//!
//! A scenario is a directory `fixtures/lab/<name>/` holding `scenario.toml`, the material a
//! student receives (seed phrases, WIF lists, xpubs, passphrases), a handout and the
//! ground-truth file. See `fixtures/lab/README.md` for the format.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::keys::ScriptType;
use crate::Error;

/// A parsed scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name.
    pub name: String,
    /// One-line description.
    #[serde(default)]
    pub description: String,
    /// Seed of every random choice (amounts, lab-internal keys).
    pub seed: u64,
    /// Time of the (virtual) block 0 of the lab's blocks; block `h` is stamped `start_time + 600 h`.
    pub start_time: u32,
    /// Blocks mined to the lab miner before the story begins (at least 101 so the faucet can pay).
    #[serde(default = "default_premine")]
    pub premine: u32,
    /// Student handout file (markdown), relative to the scenario directory.
    #[serde(default)]
    pub handout: Option<String>,
    /// The wallets of the world.
    #[serde(default, rename = "wallet")]
    pub wallets: Vec<WalletSpec>,
    /// What happens, in order.
    #[serde(default, rename = "step")]
    pub steps: Vec<Step>,
    /// Generated background activity interleaved with the story (tracing scenarios).
    #[serde(default)]
    pub background: Option<BackgroundSpec>,
    /// Directory the scenario was read from (set by the loader).
    #[serde(skip)]
    pub dir: PathBuf,
    /// Material files held in memory (a student's variant): read before `dir`.
    #[serde(skip)]
    pub(crate) files: BTreeMap<String, String>,
}

fn default_premine() -> u32 {
    110
}

/// Where a wallet's keys come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WalletKind {
    /// BIP39 mnemonic (optionally with a passphrase), accounts by derivation path.
    Bip39,
    /// Electrum native segwit seed (version prefix 100): m/0'/{0,1}/i p2wpkh.
    ElectrumSegwit,
    /// A list of WIF private keys.
    Wif,
    /// Watch-only extended public key (tpub/upub/vpub): chain/index below it.
    Xpub,
    /// Sorted multisig in p2wsh over lab-internal cosigner keys.
    Multisig,
    /// Keys derived from the scenario seed (wallets whose secrets are not handed out).
    Lab,
}

/// One wallet.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletSpec {
    /// Id used in address references (`id:...`).
    pub id: String,
    /// Where the keys come from.
    pub kind: WalletKind,
    /// Who owns it (an entity name, for tracing ground truth).
    #[serde(default)]
    pub owner: Option<String>,
    /// Whether the wallet is part of the seized material.
    #[serde(default)]
    pub seized: bool,
    /// Mnemonic file (bip39, electrum-segwit).
    #[serde(default)]
    pub mnemonic_file: Option<String>,
    /// Passphrase file (bip39, electrum-segwit).
    #[serde(default)]
    pub passphrase_file: Option<String>,
    /// WIF list file (wif).
    #[serde(default)]
    pub wif_file: Option<String>,
    /// Extended public key file (xpub).
    #[serde(default)]
    pub xpub_file: Option<String>,
    /// Script type (xpub; multisig is always p2wsh).
    #[serde(default)]
    pub script: Option<ScriptType>,
    /// Multisig threshold.
    #[serde(default)]
    pub threshold: Option<usize>,
    /// Multisig cosigner count.
    #[serde(default)]
    pub cosigners: Option<usize>,
    /// Accounts (bip39, lab): id, path, script type.
    #[serde(default, rename = "account")]
    pub accounts: Vec<AccountSpec>,
    /// A public label of the owner (known entities: exchanges, shops, mixers), for the label
    /// pack and the tracing ground truth.
    #[serde(default)]
    pub label: Option<LabelSpec>,
}

/// A public label of a known entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelSpec {
    /// Name as a label pack shows it (`Lab Exchange`).
    pub name: String,
    /// Category (`exchange`, `shop`, `mixing service`, `gambling`, `theft`, ...).
    pub category: String,
}

/// An account of an HD wallet.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSpec {
    /// Id used in references (`wallet:account/chain/index`).
    pub id: String,
    /// Account derivation path, e.g. `m/84'/1'/0'`.
    pub path: String,
    /// Script type of its addresses.
    pub script: ScriptType,
}

/// One output of a payment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutSpec {
    /// Address reference; a range in the last component (`w:a/0/0..10`) makes one output each.
    pub to: String,
    /// Fixed amount in sat.
    #[serde(default)]
    pub amount: Option<u64>,
    /// Random amount in `[lo, hi]` sat, drawn from the scenario seed.
    #[serde(default)]
    pub amount_range: Option<[u64; 2]>,
    /// How many times to pay each address (address reuse).
    #[serde(default)]
    pub times: Option<u32>,
}

/// A payment from wallets of the world.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaySpec {
    /// Spend every unspent output at these references.
    pub from: Vec<String>,
    /// Outputs.
    #[serde(default)]
    pub to: Vec<OutSpec>,
    /// Where the remainder goes (minus the fee). Without it the remainder is the fee.
    #[serde(default)]
    pub change: Option<String>,
    /// Everything (minus the fee) to this reference, as a self-transfer (consolidation): not
    /// recorded as change. Exclusive with `change`.
    #[serde(default)]
    pub sweep_to: Option<String>,
    /// Fee rate in sat per 1000 vB (default 2000).
    #[serde(default)]
    pub fee_rate: Option<u64>,
    /// nLockTime: `"zero"` (default), `"height"` (the current tip height, as wallets that
    /// discourage fee sniping set it) or a number.
    #[serde(default)]
    pub lock_time: Option<LockTimeSpec>,
    /// nVersion (default 2).
    #[serde(default)]
    pub version: Option<i32>,
    /// Signal replaceability: `true` (nSequence 0xfffffffd, the default) or `false`
    /// (0xfffffffe).
    #[serde(default)]
    pub rbf: Option<bool>,
    /// Output position of the change (default: after the `to` outputs).
    #[serde(default)]
    pub change_index: Option<usize>,
}

/// nLockTime of a payment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum LockTimeSpec {
    /// A block height (below 500,000,000) or a timestamp.
    Value(u32),
    /// `"height"` (current tip) or `"zero"`.
    Named(String),
}

/// Kind of a planted CoinJoin, named in the ground truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CoinJoinKind {
    /// Wasabi 1.x: many equal ~0.1 BTC outputs, a coordinator fee output, changes.
    Wasabi,
    /// Whirlpool: 5 inputs, 5 equal outputs (the pool denomination), no change.
    Whirlpool,
    /// JoinMarket: n equal outputs, the makers' and the taker's changes.
    Joinmarket,
    /// Any other transaction with equal outputs from several owners.
    EqualOutput,
}

/// Order of the inputs and outputs of a multi-party transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JoinOrder {
    /// Inputs party by party; outputs: shared, then each party's, then the changes.
    #[default]
    Given,
    /// Inputs and outputs shuffled from the scenario seed.
    Shuffle,
}

/// One party of a multi-party transaction.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartySpec {
    /// Spend every unspent output at these references.
    pub from: Vec<String>,
    /// The party's outputs.
    #[serde(default)]
    pub to: Vec<OutSpec>,
    /// The party's change. Without it the party's remainder goes to the fee.
    #[serde(default)]
    pub change: Option<String>,
    /// A fixed contribution to the fee and the shared outputs, sat (negative: the party is
    /// paid, as a JoinMarket maker). Parties with a change and no `fee` share what is left.
    #[serde(default)]
    pub fee: Option<i64>,
}

/// A transaction with inputs of several owners (CoinJoins).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinSpec {
    /// The parties.
    pub parties: Vec<PartySpec>,
    /// Shared outputs (a coordinator's fee), paid by the parties without a fixed `fee`.
    #[serde(default)]
    pub to: Vec<OutSpec>,
    /// Fee rate in sat per 1000 vB (default 2000).
    #[serde(default)]
    pub fee_rate: Option<u64>,
    /// Input and output order.
    #[serde(default)]
    pub order: JoinOrder,
}

/// Background activity: lab-owned wallets (each its own entity) paying each other, generated
/// from the scenario seed and interleaved with the story's steps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackgroundSpec {
    /// Number of wallets (`bg-0000`, `bg-0001`, ...; usable in references as `bg-0007:main/0/3`).
    pub wallets: usize,
    /// Number of payments.
    pub transactions: usize,
    /// Background payments per block (default 50).
    #[serde(default)]
    pub per_block: Option<usize>,
    /// Each wallet's first coin from the lab faucet, sat.
    pub fund_range: [u64; 2],
    /// Service addresses (exchange deposits, shops) that some payments go to.
    #[serde(default)]
    pub deposits: Vec<String>,
    /// Percentage of payments that go to one of `deposits`.
    #[serde(default)]
    pub deposit_percent: u32,
}

/// One step of the story.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// What this step represents (kept in the ground truth).
    #[serde(default)]
    pub note: Option<String>,
    /// Payments from the lab faucet (the miner's coins).
    #[serde(default)]
    pub fund: Option<Vec<OutSpec>>,
    /// A payment between wallets.
    #[serde(default)]
    pub pay: Option<PaySpec>,
    /// A multi-party payment (CoinJoin).
    #[serde(default)]
    pub join: Option<JoinSpec>,
    /// Names a planted flow the transaction belongs to (`"theft"`), for the ground truth.
    #[serde(default)]
    pub flow: Option<String>,
    /// Marks the transaction as a planted CoinJoin of this kind.
    #[serde(default)]
    pub coinjoin: Option<CoinJoinKind>,
    /// Names the peeling chain the transaction is a hop of.
    #[serde(default)]
    pub peel: Option<String>,
    /// Blocks to mine after the action.
    #[serde(default)]
    pub mine: Option<u32>,
}

impl Scenario {
    /// Reads `<dir>/scenario.toml`, or a `.toml` file given directly (at most
    /// [`custos_core::file::SCENARIO`] bytes).
    pub fn load(path: &Path) -> Result<Scenario, Error> {
        let file = Self::file_of(path);
        let text = custos_core::file::read_text(&file, custos_core::file::SCENARIO)?;
        Self::parse(&text, &file)
    }

    /// `scenario.toml` of a scenario directory, or the file given.
    pub(crate) fn file_of(path: &Path) -> PathBuf {
        if path.is_dir() {
            path.join("scenario.toml")
        } else {
            path.to_path_buf()
        }
    }

    /// Parses and checks scenario text read from `file` (its directory holds the material).
    pub(crate) fn parse(text: &str, file: &Path) -> Result<Scenario, Error> {
        let file = file.to_path_buf();
        let mut s: Scenario = toml::from_str(text).map_err(|e| Error::ScenarioSyntax {
            file: file.clone(),
            source: Box::new(e),
        })?;
        s.dir = file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        if s.premine < 101 {
            return Err(Error::scenario(
                &s.name,
                "premine must be at least 101 blocks",
            ));
        }
        for (i, st) in s.steps.iter().enumerate() {
            let actions = [st.fund.is_some(), st.pay.is_some(), st.join.is_some()];
            if actions.iter().filter(|a| **a).count() > 1 {
                return Err(Error::scenario(
                    &s.name,
                    format!("step {i}: only one of fund, pay, join in one step"),
                ));
            }
            let tagged = st.flow.is_some() || st.coinjoin.is_some() || st.peel.is_some();
            if tagged && st.pay.is_none() && st.join.is_none() {
                return Err(Error::scenario(
                    &s.name,
                    format!("step {i}: flow, coinjoin and peel tags need a pay or join"),
                ));
            }
        }
        Ok(s)
    }

    /// Resolves a name in `fixtures/lab/` or a path.
    pub fn resolve(name_or_path: &str) -> Result<Scenario, Error> {
        let p = PathBuf::from(name_or_path);
        if p.exists() {
            return Scenario::load(&p);
        }
        let d = crate::fixtures_dir().join("lab").join(name_or_path);
        if d.is_dir() {
            return Scenario::load(&d);
        }
        Err(Error::scenario(
            name_or_path,
            format!(
                "no such scenario (looked for a path and for {})",
                d.display()
            ),
        ))
    }

    /// Reads a file of the scenario directory (at most
    /// [`custos_core::file::SCENARIO_FILE`] bytes).
    pub fn read_file(&self, name: &str) -> Result<String, Error> {
        if let Some(text) = self.files.get(name) {
            return Ok(text.clone());
        }
        let p = self.dir.join(name);
        Ok(custos_core::file::read_text(
            &p,
            custos_core::file::SCENARIO_FILE,
        )?)
    }

    /// The student handout, if any.
    pub fn handout_text(&self) -> Option<String> {
        self.handout.as_ref().and_then(|h| self.read_file(h).ok())
    }
}
