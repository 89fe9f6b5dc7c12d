//! Process hardening for the signing machine.

/// Sets RLIMIT_CORE to 0 (soft and hard) so a crash never writes memory holding secrets to disk.
#[allow(unsafe_code)]
pub(crate) fn disable_core_dumps() -> std::io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit reads a valid, initialised rlimit struct we own.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_CORE, &lim) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Reads back the current core limit (soft, hard).
#[allow(unsafe_code, dead_code)]
pub(crate) fn core_limit() -> std::io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut lim) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((lim.rlim_cur, lim.rlim_max))
}

#[cfg(test)]
mod tests {
    #[test]
    fn core_dumps_are_disabled() {
        super::disable_core_dumps().unwrap();
        assert_eq!(super::core_limit().unwrap(), (0, 0));
    }
}
