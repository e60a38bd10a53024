//! TEST ONLY: the vendor daemon of a second publisher, `testvendor`, for
//! the end-to-end tests that serve two vendors from one lmgrd. It is what
//! a publisher builds (see `vendord::daemon::main`), with the test key
//! pair of `tests/keys/` built in. Its keys are published with the
//! source, so it must never serve anything real.

fn main() -> std::process::ExitCode {
    let keys = grammar::publisher::DaemonKeys::from_pem(
        "testvendor",
        include_str!("../keys/testvendor.pub"),
        include_str!("../keys/testvendor-seal.key"),
    )
    .expect("the test keys in tests/keys are valid PEM");
    vendord::daemon::main(keys)
}
