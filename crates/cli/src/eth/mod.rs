//! `custos eth ...`: the online Ethereum commands. Each group lives in its own file and is
//! wired here as one variant.

pub(crate) mod safe;

use clap::Subcommand;

use crate::app::{App, CmdResult};

/// Ethereum commands.
#[derive(Debug, Subcommand)]
pub enum EthCmd {
    /// The custody Safe: deploy it, propose a transaction out of it, execute it with k
    /// signatures.
    #[command(subcommand)]
    Safe(safe::SafeCmd),
}

/// Runs an eth command.
pub fn run(app: &App, cmd: &EthCmd) -> CmdResult {
    match cmd {
        EthCmd::Safe(c) => safe::run(app, c),
    }
}
