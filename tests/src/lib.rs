//! End-to-end tests for custos: they run the real `custos`, `custos-signer` and `custos-lab`
//! binaries (built by cargo for this workspace) against the lab chain. The tests live in
//! `tests/tests/`; this library holds only their shared helpers.
