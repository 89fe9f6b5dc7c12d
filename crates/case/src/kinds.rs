//! Ledger event kinds: the one list the commands that record events and the readers of the
//! ledger (the timeline, the reports, `case serve`) share, so a renamed kind cannot leave a
//! reader looking for a name nobody writes.

/// The case was opened (`custos case new`): the seizure is recorded.
pub const CASE_CREATED: &str = "case.created";
/// A discovery scan (`custos inspect`).
pub const INSPECT_SCAN: &str = "inspect.scan";
/// A trace run (`custos trace`).
pub const TRACE_RUN: &str = "trace.run";
/// The custody wallet was assembled (`custos ceremony assemble`).
pub const CEREMONY_ASSEMBLED: &str = "ceremony.assembled";
/// A ceremony transcript was imported (`custos ceremony import-transcript`); each of its
/// entries is recorded before it as `signer.<step>` ([`SIGNER_STEP_PREFIX`]).
pub const CEREMONY_TRANSCRIPT_IMPORTED: &str = "ceremony.transcript_imported";
/// Prefix of the kinds of imported keyholder transcript steps (`signer.ceremony.verified`…).
pub const SIGNER_STEP_PREFIX: &str = "signer.";
/// A sweep into custody was built (`custos sweep build`).
pub const SWEEP_BUILD: &str = "sweep.build";
/// Signed PSBTs were combined (`custos psbt combine`).
pub const PSBT_COMBINE: &str = "psbt.combine";
/// A PSBT was finalized into a transaction (`custos psbt finalize`).
pub const PSBT_FINALIZE: &str = "psbt.finalize";
/// A transaction was broadcast (`custos broadcast`).
pub const TX_BROADCAST: &str = "tx.broadcast";
/// A transaction was seen confirmed, SPV-checked (`custos broadcast --wait` / `watch`).
pub const TX_CONFIRMED: &str = "tx.confirmed";
/// Reserve price, holdings and bond were computed (`custos valuation`).
pub const VALUATION_COMPUTED: &str = "valuation.computed";
/// A disposal order was written (`custos disposal order new`).
pub const DISPOSAL_ORDER_NEW: &str = "disposal.order.new";
/// A disposal order was checked against a policy (`custos disposal order verify`).
pub const DISPOSAL_ORDER_VERIFY: &str = "disposal.order.verify";
/// Authorities were added to a custody policy (`custos disposal authority add`).
pub const DISPOSAL_AUTHORITY_ADD: &str = "disposal.authority.add";
/// A spend out of custody was built (`custos custody spend`): payload `txid`,
/// `disposed_sat` (paid outside custody), `recustody_sat`, `fee_sat`, `orders`.
pub const CUSTODY_SPEND: &str = "custody.spend";
/// The ledger head was signed (`custos case checkpoint`).
pub const CASE_CHECKPOINT: &str = "case.checkpoint";
/// A checkpoint was countersigned (`custos case countersign`).
pub const CASE_COUNTERSIGNED: &str = "case.countersigned";
/// The case was exported (`custos case export`).
pub const CASE_EXPORTED: &str = "case.exported";

/// Every kind above but the `signer.*` steps (for documentation and checks).
pub const ALL: &[&str] = &[
    CASE_CREATED,
    INSPECT_SCAN,
    TRACE_RUN,
    CEREMONY_ASSEMBLED,
    CEREMONY_TRANSCRIPT_IMPORTED,
    SWEEP_BUILD,
    PSBT_COMBINE,
    PSBT_FINALIZE,
    TX_BROADCAST,
    TX_CONFIRMED,
    VALUATION_COMPUTED,
    DISPOSAL_ORDER_NEW,
    DISPOSAL_ORDER_VERIFY,
    DISPOSAL_AUTHORITY_ADD,
    CUSTODY_SPEND,
    CASE_CHECKPOINT,
    CASE_COUNTERSIGNED,
    CASE_EXPORTED,
];
