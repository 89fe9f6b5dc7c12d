//! Reading seized material and passphrases: from a file, stdin (`-`) or a no-echo prompt, with
//! the size limits of `custos_core::file` (a material file cannot fill the laptop's memory) and
//! straight into a [`Secret`].

use std::path::Path;

use anyhow::{bail, Context};
use custos_core::{file, Secret, SecretString};

/// Reads seized material from `path` (`-` for stdin), or from a no-echo prompt without one.
pub(crate) fn read_material(path: Option<&Path>, prompt: &str) -> anyhow::Result<SecretString> {
    match path {
        Some(p) => Ok(file::read_secret_or_stdin(p, file::MATERIAL)?),
        None => Ok(Secret::new(
            rpassword::prompt_password(prompt).context("cannot read from the terminal")?,
        )),
    }
}

/// The passphrase: from `passphrase_file` (one trailing newline removed; other whitespace is
/// part of it), or a prompt when `prompt`, or none. A file that holds nothing is an error
/// unless `allow_empty` says an empty passphrase is meant: an empty file is more often a
/// mistake than a choice, and it would silently give another wallet.
pub(crate) fn read_passphrase(
    passphrase_file: Option<&Path>,
    prompt: bool,
    allow_empty: bool,
) -> anyhow::Result<Option<SecretString>> {
    if let Some(p) = passphrase_file {
        let mut s = file::read_secret_or_stdin(p, file::PASSPHRASE)?;
        let t = s.expose_secret_mut();
        if t.ends_with('\n') {
            t.pop();
            if t.ends_with('\r') {
                t.pop();
            }
        }
        if s.is_empty() && !allow_empty {
            bail!(
                "passphrase file {} is empty; pass --empty-passphrase if the wallet has none",
                p.display()
            );
        }
        return Ok(Some(s));
    }
    if prompt {
        let s = rpassword::prompt_password("passphrase (input hidden): ")
            .context("cannot read from the terminal")?;
        return Ok(Some(Secret::new(s)));
    }
    Ok(None)
}

/// The password of an encrypted wallet file: from `password_file` (one trailing newline
/// removed), or a no-echo prompt.
pub(crate) fn read_password(password_file: Option<&Path>) -> anyhow::Result<SecretString> {
    if let Some(p) = password_file {
        let mut s = file::read_secret_or_stdin(p, file::PASSPHRASE)?;
        let t = s.expose_secret_mut();
        if t.ends_with('\n') {
            t.pop();
            if t.ends_with('\r') {
                t.pop();
            }
        }
        return Ok(s);
    }
    let s = rpassword::prompt_password("wallet file password (input hidden): ")
        .context("cannot read from the terminal")?;
    Ok(Secret::new(s))
}
