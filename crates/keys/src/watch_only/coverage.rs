//! What a watch-only file covers and what it leaves out, recorded in the file so the scan can
//! use its limits and the report can say what was not looked at.

use custos_core::inventory::WatchCoverage;

use super::hd::Ctx;
use crate::{catalogue::IndexKind, material::Material};

/// The coverage record of a file built with `ctx`'s options from `material`, whose sources
/// came from `layouts`.
pub(crate) fn coverage(ctx: &Ctx<'_>, material: &Material, layouts: &[String]) -> WatchCoverage {
    let o = ctx.opts;
    let mut not_covered = vec![format!(
        "addresses after {} unused receive or {} unused change addresses in a row",
        o.gap, o.change_gap
    )];
    if material.has_seed() || matches!(material, Material::ExtendedPrivate { .. }) {
        not_covered.extend(hd_gaps(ctx, layouts));
    }
    WatchCoverage {
        deep: o.deep,
        gap: o.gap,
        change_gap: o.change_gap,
        accounts: o.accounts,
        hardened_window: o.hardened_window,
        layouts: layouts.to_vec(),
        not_covered,
    }
}

/// What HD material leaves out under these options.
fn hd_gaps(ctx: &Ctx<'_>, layouts: &[String]) -> Vec<String> {
    let o = ctx.opts;
    let entries = &ctx.catalogue.entries;
    let mut v = vec![format!(
        "accounts {} and above on paths with account discovery",
        o.accounts.max(1)
    )];
    if !o.deep {
        let other = u32::from(ctx.network.coin_type() == 0);
        v.push(format!(
            "the other network's coin type {other}' (wallets misconfigured for the network)"
        ));
        let deep_only: Vec<&str> = entries
            .iter()
            .filter(|e| e.deep_only)
            .map(|e| e.id.as_str())
            .collect();
        if !deep_only.is_empty() {
            v.push(format!("deep-only layouts: {}", deep_only.join(", ")));
        }
    }
    if o.paths.is_some() {
        let skipped: Vec<&str> = entries
            .iter()
            .filter(|e| !e.cosigner && !e.deep_only && !ctx.selected(e))
            .map(|e| e.id.as_str())
            .collect();
        if !skipped.is_empty() {
            v.push(format!(
                "catalogue layouts not selected: {}",
                skipped.join(", ")
            ));
        }
    }
    let hardened: Vec<&str> = entries
        .iter()
        .filter(|e| e.index == IndexKind::Hardened && layouts.contains(&e.id))
        .map(|e| e.id.as_str())
        .collect();
    if !hardened.is_empty() || layouts.iter().any(|l| l == "electrum-old") {
        v.push(format!(
            "keys from index {} on of hardened-index and old-electrum chains",
            o.hardened_window
        ));
    }
    let cosigner: Vec<&str> = entries
        .iter()
        .filter(|e| e.cosigner)
        .map(|e| e.id.as_str())
        .collect();
    v.push(format!(
        "multisig wallets the key is a cosigner of ({}): they need the other cosigners' keys",
        cosigner.join(", ")
    ));
    v.push("paths outside the catalogue that were not given by hand".to_string());
    v
}
