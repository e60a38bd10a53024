//! FLEXlm errors as applications report them: the number, minor number and
//! text, plus what FLEXlm never says: which step failed, and on which entry
//! of the license search path.

use std::fmt;
use wire::lmerr;

/// Minor numbers of the errors the client library raises itself. FLEXlm's
/// minor numbers are internal and undocumented; these are ours, chosen
/// once and kept stable so that support can tell the places apart.
pub mod minor {
    /// No license file or server anywhere on the path (-1).
    pub const NO_LICENSE_FILE: i32 = 359;
    /// Feature not in a license file (-5).
    pub const FEATURE_NOT_IN_FILE: i32 = 346;
    /// Local signature check failed (-8) or SIGN= missing (-114).
    pub const LOCAL_SIGNATURE: i32 = 544;
    /// Node-locked line for another host (-9).
    pub const LOCAL_HOSTID: i32 = 57;
    /// Local line expired (-10).
    pub const LOCAL_EXPIRED: i32 = 32;
    /// Local line's START= date not reached (-31).
    pub const LOCAL_START: i32 = 33;
    /// Local line's version lower than requested (-21).
    pub const LOCAL_VERSION: i32 = 34;
    /// Counted line without SERVER line (-13).
    pub const NO_SERVER_LINE: i32 = 66;
    /// Host name did not resolve (-14).
    pub const NAME_RESOLUTION: i32 = 7;
    /// TCP connect refused or failed (-15).
    pub const CONNECT: i32 = 10;
    /// TCP connect timed out or host unreachable (-96).
    pub const HOST_DOWN: i32 = 7;
    /// The vendor daemon's port refused the connection (-97).
    pub const VENDOR_CONNECT: i32 = 121;
    /// The peer closed the connection or a read failed (-16).
    pub const READ: i32 = 287;
    /// A write failed (-17).
    pub const WRITE: i32 = 288;
    /// The peer sent bytes that are not our protocol (-12).
    pub const BAD_DATA: i32 = 16;
    /// The peer speaks another protocol version (-12).
    pub const PROTOCOL_VERSION: i32 = 17;
    /// The peer sent a message out of turn (-12).
    pub const UNEXPECTED: i32 = 18;
    /// No reply in time (-52).
    pub const NO_REPLY: i32 = 5;
    /// A malformed search-path entry or request (-42).
    pub const BAD_PARAM: i32 = 1;
    /// The connection to the server is being re-established (-96).
    pub const RECONNECTING: i32 = 9;
    /// A vendor daemon's grant that no line signed by the application's
    /// publisher backs (-8).
    pub const GRANT_NOT_SIGNED: i32 = 545;
    /// A local borrow record whose vendor daemon seal does not hold (-8).
    pub const BORROW_SEAL: i32 = 546;
}

/// The step of a checkout (or of keeping a license) that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// Finding a license file or server on the search path.
    Search,
    /// Reading or parsing a license file.
    ReadFile,
    /// Looking up a server's host name.
    NameResolution,
    /// Opening the TCP connection.
    Connect,
    /// Hello/Welcome or reading a reply.
    Handshake,
    /// The peer speaks another version of the protocol.
    ProtocolVersion,
    /// lmgrd does not serve the vendor (LM_NOSERVSUPP).
    VendorLookup,
    /// lmgrd says the vendor daemon is not running, or its port is closed.
    VendorDaemonDown,
    /// The vendor daemon refused the checkout.
    CheckoutDenied,
    /// Checking an uncounted line on this machine.
    LocalValidation,
    /// Returning a license.
    Checkin,
    /// Keeping a license: heartbeats, reconnecting, revocation.
    Keepalive,
}

impl Step {
    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Step::Search => "license search",
            Step::ReadFile => "read license file",
            Step::NameResolution => "name resolution",
            Step::Connect => "connect",
            Step::Handshake => "handshake",
            Step::ProtocolVersion => "protocol version",
            Step::VendorLookup => "vendor lookup",
            Step::VendorDaemonDown => "vendor daemon down",
            Step::CheckoutDenied => "checkout denied",
            Step::LocalValidation => "local validation",
            Step::Checkin => "checkin",
            Step::Keepalive => "keepalive",
        }
    }
}

/// A FLEXlm error, with where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LmError {
    /// FLEXlm's error number (negative), e.g. -15.
    pub code: i32,
    /// The minor number: the server's, or one of [`minor`].
    pub minor: i32,
    /// The operating system's error number, when one caused this.
    pub errno: Option<i32>,
    /// FLEXlm's text for `code` (or the text the server sent).
    pub text: String,
    /// What was being done.
    pub step: Step,
    /// The search-path entry it happened on, as written.
    pub entry: Option<String>,
    /// What exactly failed, e.g.
    /// `connect to 27000@localhost (127.0.0.1:27000): Connection refused`.
    pub detail: String,
    /// The feature asked for.
    pub feature: String,
    /// The whole license search path, as FLEXlm prints it.
    pub path: String,
}

impl LmError {
    /// An error with FLEXlm's text for `code`.
    pub fn new(code: i32, minor: i32, step: Step, detail: impl Into<String>) -> LmError {
        LmError {
            code,
            minor,
            errno: None,
            text: lmerr::text(code).to_string(),
            step,
            entry: None,
            detail: detail.into(),
            feature: String::new(),
            path: String::new(),
        }
    }

    /// An error reported by a server, with its own text when it sent one.
    pub fn from_server(code: i32, minor: i32, text: &str, step: Step, detail: String) -> LmError {
        let mut e = LmError::new(code, minor, step, detail);
        if !text.is_empty() {
            text.clone_into(&mut e.text);
        }
        e
    }

    pub(crate) fn with_errno(mut self, errno: Option<i32>) -> LmError {
        self.errno = errno;
        self
    }

    pub(crate) fn on_entry(mut self, entry: &str) -> LmError {
        if self.entry.is_none() {
            self.entry = Some(entry.to_string());
        }
        self
    }

    /// FLEXlm's symbolic name for the code, e.g. `LM_CANTCONNECT`.
    pub fn name(&self) -> &'static str {
        lmerr::lookup(self.code).map_or("", |e| e.name)
    }

    /// `code,minor` or `code,minor:errno`, as FLEXlm prints the numbers.
    pub fn numbers(&self) -> String {
        match self.errno {
            Some(errno) => format!("{},{}:{errno}", self.code, self.minor),
            None => format!("{},{}", self.code, self.minor),
        }
    }

    /// The multi-line report applications print:
    ///
    /// ```text
    /// Cannot connect to license server system.
    /// <explanation>
    /// Feature:       f1
    /// License path:  27000@localhost:
    /// Step: connect to 27000@localhost (127.0.0.1:27000): Connection refused
    /// FlexNet Licensing error:-15,10:111
    /// ```
    pub fn long_form(&self) -> String {
        let mut out = String::new();
        out.push_str(&self.text);
        out.push('\n');
        if let Some(why) = explanation(self.code) {
            out.push_str(why);
            out.push('\n');
        }
        if !self.feature.is_empty() {
            out.push_str(&format!("Feature:       {}\n", self.feature));
        }
        out.push_str(&format!("License path:  {}\n", self.path));
        let step = if self.detail.is_empty() {
            self.step.name().to_string()
        } else {
            self.detail.clone()
        };
        out.push_str(&format!("Step: {step}\n"));
        out.push_str(&format!("FlexNet Licensing error:{}\n", self.numbers()));
        out
    }

    /// How much this error tells the user, for choosing one error to report
    /// when several entries of the path failed: a server's refusal says
    /// more than an unreachable server, which says more than a missing file.
    pub fn rank(&self) -> u8 {
        match (self.step, self.code) {
            (Step::CheckoutDenied, c) if c != lmerr::LM_NOFEATURE && c != lmerr::LM_NOSERVSUPP => {
                100
            }
            (Step::LocalValidation, _) => 90,
            (Step::CheckoutDenied, _) => 80,
            (Step::VendorDaemonDown, _) => 70,
            (Step::VendorLookup, _) => 65,
            (Step::ProtocolVersion | Step::Handshake | Step::Keepalive, _) => 60,
            (Step::Connect, _) => 55,
            (Step::NameResolution, _) => 50,
            (Step::ReadFile, c) if c == lmerr::LM_NOCONFFILE => 10,
            (Step::ReadFile, c) if c == lmerr::LM_NOFEATURE => 30,
            (Step::ReadFile, _) => 40,
            _ => 20,
        }
    }

    /// Keeps the more informative of two errors; on a tie, the first.
    pub fn better(first: Option<LmError>, next: LmError) -> LmError {
        match first {
            Some(f) if f.rank() >= next.rank() => f,
            _ => next,
        }
    }
}

/// The explanation FLEXlm adds under some errors, in our words.
fn explanation(code: i32) -> Option<&'static str> {
    Some(match code {
        lmerr::LM_NOCONFFILE => {
            "The license files (or license server system addresses) tried are listed below.\n\
             Set LM_LICENSE_FILE to use another license file, or ask your software provider\n\
             for a license file."
        }
        lmerr::LM_CANTCONNECT => {
            "The license server manager (lmgrd) has not been started yet, the wrong\n\
             port@host or license file is being used, or the port or host name in the\n\
             license file has been changed."
        }
        lmerr::LM_HOSTDOWN => {
            "See the system administrator about starting the license server system, or\n\
             make sure you're referring to the right host (see LM_LICENSE_FILE)."
        }
        lmerr::LM_VENDOR_DOWN => {
            "The license server manager (lmgrd) is running, but the vendor daemon\n\
             is not. See the system administrator about restarting it."
        }
        _ => return None,
    })
}

impl fmt::Display for LmError {
    /// FLEXlm's short form: `text (code,minor)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.text, self.numbers())
    }
}

impl std::error::Error for LmError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> LmError {
        let mut e = LmError::new(
            lmerr::LM_CANTCONNECT,
            minor::CONNECT,
            Step::Connect,
            "connect to 27000@localhost (127.0.0.1:27000): Connection refused",
        )
        .with_errno(Some(111))
        .on_entry("27000@localhost");
        e.feature = "f1".into();
        e.path = "27000@localhost:".into();
        e
    }

    #[test]
    fn short_form_is_flexlms() {
        let e = LmError::new(lmerr::LM_MAXUSERS, 342, Step::CheckoutDenied, "");
        assert_eq!(
            e.to_string(),
            "Licensed number of users already reached. (-4,342)"
        );
        assert_eq!(e.to_string(), lmerr::short_form(-4, 342));
        assert_eq!(e.name(), "LM_MAXUSERS");
        assert_eq!(
            refused().to_string(),
            "Cannot connect to license server system. (-15,10:111)"
        );
    }

    #[test]
    fn long_form_names_feature_path_and_step() {
        let text = refused().long_form();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Cannot connect to license server system.");
        assert!(lines.contains(&"Feature:       f1"), "{text}");
        assert!(lines.contains(&"License path:  27000@localhost:"), "{text}");
        assert!(
            lines.contains(
                &"Step: connect to 27000@localhost (127.0.0.1:27000): Connection refused"
            ),
            "{text}"
        );
        assert_eq!(lines.last(), Some(&"FlexNet Licensing error:-15,10:111"));
    }

    #[test]
    fn server_text_wins_and_denial_outranks_missing_file() {
        let denied = LmError::from_server(-4, 342, "", Step::CheckoutDenied, String::new());
        assert_eq!(denied.text, "Licensed number of users already reached.");
        let custom = LmError::from_server(-4, 1, "custom", Step::CheckoutDenied, String::new());
        assert_eq!(custom.text, "custom");
        let missing = LmError::new(
            lmerr::LM_NOCONFFILE,
            minor::NO_LICENSE_FILE,
            Step::ReadFile,
            "",
        );
        assert_eq!(
            LmError::better(Some(missing.clone()), denied.clone()).code,
            -4
        );
        assert_eq!(LmError::better(Some(denied), missing.clone()).code, -4);
        assert_eq!(LmError::better(Some(refused()), missing).code, -15);
        let down = LmError::new(lmerr::LM_VENDOR_DOWN, 121, Step::VendorDaemonDown, "");
        assert_eq!(LmError::better(Some(refused()), down).code, -97);
    }
}
