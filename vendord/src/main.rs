//! `vendord -c <license file> --vendor demo [--port N] [--notify-fd FD]`
//!
//! The demo publisher's vendor daemon: the `vendord` library with the demo
//! keys built in. lmgrd starts it for `VENDOR demo` lines. A publisher
//! builds its own the same way, with its own keys (docs/publisher-guide.md).
//! Logs to standard output in FLEXlm's debug-log format, tagged with the
//! vendor name.

fn main() -> std::process::ExitCode {
    vendord::daemon::main(vendord::daemon::demo_keys())
}
