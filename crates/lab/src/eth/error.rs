//! Errors of the Ethereum lab: the anvil process and what it answered.

/// Something went wrong starting anvil, talking to it, or playing a scenario step on it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EthError {
    /// The anvil binary is not installed where the lab looks for it.
    #[error("anvil not found at {path} (run scripts/install-deps.sh, or set CUSTOS_ANVIL)")]
    AnvilMissing {
        /// Where it was looked for.
        path: std::path::PathBuf,
    },
    /// anvil started but did not answer on its port.
    #[error("anvil on 127.0.0.1:{port} did not answer: {detail}")]
    AnvilStart {
        /// The port it was told to use.
        port: u16,
        /// The last failure seen.
        detail: String,
    },
    /// The HTTP exchange with the node failed.
    #[error("json-rpc {method} to {url}: {detail}")]
    Transport {
        /// The method called.
        method: String,
        /// The node.
        url: String,
        /// What failed.
        detail: String,
    },
    /// The node answered the call with a JSON-RPC error.
    #[error("json-rpc {method}: node answered error {code}: {message}")]
    Rpc {
        /// The method called.
        method: String,
        /// JSON-RPC error code.
        code: i64,
        /// The node's message.
        message: String,
    },
    /// The node's answer is not what the method returns.
    #[error("json-rpc {method}: unexpected answer: {detail}")]
    Answer {
        /// The method called.
        method: String,
        /// What was wrong with it.
        detail: String,
    },
    /// A transaction of a scenario step was mined but reverted.
    #[error("step {step} ({what}): transaction {tx} reverted")]
    Reverted {
        /// 1-based step number (0 = contract deployment).
        step: usize,
        /// What the step does.
        what: String,
        /// Transaction hash.
        tx: alloy_primitives::B256,
    },
    /// The lab's own bookkeeping disagrees with the node: the ground truth would be wrong.
    #[error("ground truth of {account}: lab bookkeeping says {expected} {asset}, node says {got} at block {block}")]
    TruthMismatch {
        /// Account id or address.
        account: String,
        /// ETH or the token symbol.
        asset: String,
        /// What the lab computed.
        expected: alloy_primitives::U256,
        /// What the node holds.
        got: alloy_primitives::U256,
        /// Block compared at.
        block: u64,
    },
    /// Arithmetic on a balance left the range of uint256 or went negative.
    #[error("balance of {account} in {asset} would leave the uint256 range (step {step})")]
    Overflow {
        /// Account.
        account: String,
        /// ETH or token symbol.
        asset: String,
        /// Step number.
        step: usize,
    },
}

impl custos_core::exit::Classify for EthError {
    /// anvil missing or failing, and the node's transport and answers: the environment (3). A
    /// reverted scenario step or a truth that disagrees with the chain: a finding (1). An amount
    /// that overflows: the scenario's input (2).
    fn exit_class(&self) -> custos_core::exit::ExitClass {
        use custos_core::exit::ExitClass;
        match self {
            EthError::AnvilMissing { .. }
            | EthError::AnvilStart { .. }
            | EthError::Transport { .. }
            | EthError::Rpc { .. }
            | EthError::Answer { .. } => ExitClass::Environment,
            EthError::Reverted { .. } | EthError::TruthMismatch { .. } => ExitClass::Refusal,
            EthError::Overflow { .. } => ExitClass::Input,
        }
    }
}
