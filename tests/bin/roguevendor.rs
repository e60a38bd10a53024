//! TEST ONLY: a vendor daemon for vendor `demo` that a customer could build
//! from the source with a key pair of their own (`tests/keys/customer.*`)
//! built in. It serves licenses the customer signed; the tests show that an
//! application carrying the demo publisher's key refuses its grants.

fn main() -> std::process::ExitCode {
    let keys = grammar::publisher::DaemonKeys::from_pem(
        "demo",
        include_str!("../keys/customer.pub"),
        include_str!("../keys/customer-seal.key"),
    )
    .expect("the test keys in tests/keys are valid PEM");
    vendord::daemon::main(keys)
}
