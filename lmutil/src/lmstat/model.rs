//! What `lmstat` reports, as plain data: filled by `gather` from the
//! servers (or by tests from a capture), printed by `render`.

use crate::common::{LmFailure, Stamp};

/// Which of FLEXlm's output layouts to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// FlexNet Publisher 11.13 and later (2016-2025 captures): the vendor
    /// daemon lines are followed directly by `Feature usage info:`, and a
    /// feature block header is unindented, after two blank lines, with its
    /// expiry; `lmstat -i` puts Vendor before Expires.
    #[default]
    Modern,
    /// Older lmutil builds: a blank line after each vendor daemon line, the
    /// block header indented by two spaces after one blank line and
    /// without an expiry, reservation lines indented with a tab; `lmstat
    /// -i` puts Expires before Vendor.
    Classic,
}

/// A whole `lmstat` report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The first line (`lmutil - ...`).
    pub banner: String,
    /// When the report was made.
    pub time: Stamp,
    /// Print `[Detecting lmgrd processes...]`.
    pub detecting: bool,
    pub layout: Layout,
    pub sections: Vec<Section>,
}

impl Report {
    /// Whether every entry of the path was read: some server of each
    /// answered, and so did every vendor daemon whose status was needed.
    /// `lmstat` exits non-zero otherwise, so that a script never takes a
    /// report with a part missing for a whole one.
    pub fn read_everything(&self) -> bool {
        self.sections.iter().all(|s| match s {
            Section::Failed(_) => false,
            Section::Server(s) => {
                let lmgrd = match &s.lmgrd {
                    LmgrdState::Servers(lines) => lines.iter().any(|l| l.state.is_ok()),
                    LmgrdState::NotRunning(_) => false,
                };
                lmgrd
                    && s.vendors
                        .as_ref()
                        .is_none_or(|v| v.vendors.iter().all(|b| b.state.is_ok()))
            }
        })
    }
}

/// One license server (or triad) of the license path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Section {
    /// `Error getting status: ...`: no server of the entry answered.
    Failed(LmFailure),
    Server(ServerSection),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSection {
    /// After `License server status: `: `27000@host`, or a triad's three.
    pub label: String,
    /// The host in `License file(s) on <host>:`.
    pub files_host: String,
    /// The license files, `:`-joined (a `:` is printed after them).
    pub files: String,
    pub lmgrd: LmgrdState,
    /// `None`: the vendor daemon section is not printed (`-lm`, `-s`).
    pub vendors: Option<VendorSection>,
    /// Ours, not FLEXlm's: why each member of a triad is master or not,
    /// printed after the server lines only when asked for (`lmstat
    /// -triad`), so FLEXlm's default format, which parsers rely on, is
    /// never changed. `None`: not asked for, or not a triad.
    pub triad: Option<TriadView>,
}

/// A triad as one of its members sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriadView {
    /// The host whose view this is.
    pub seen_by: String,
    /// In SERVER line order.
    pub members: Vec<TriadLine>,
}

/// One member of a triad, as [`TriadView::seen_by`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriadLine {
    /// 1, 2, 3: primary, secondary, tertiary.
    pub line: u32,
    pub host: String,
    pub port: u16,
    pub up: bool,
    pub master: bool,
    /// Why, in the member's words.
    pub reason: String,
}

/// The license servers' state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LmgrdState {
    /// One line per server.
    Servers(Vec<ServerLine>),
    /// `lmgrd is not running: ...` (`-lm` when no server answered).
    NotRunning(LmFailure),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLine {
    pub host: String,
    pub state: Result<ServerUp, LmFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUp {
    pub master: bool,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorSection {
    /// The host in `Vendor daemon status (on <host>):`.
    pub on: String,
    pub vendors: Vec<VendorBlock>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorBlock {
    pub name: String,
    /// `Ok(version)`: `UP v<version>`.
    pub state: Result<String, LmFailure>,
    /// `None`: no feature section for this vendor (plain `lmstat`).
    pub usage: Option<Usage>,
}

/// The feature section under a vendor daemon line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub heading: UsageHeading,
    pub features: Vec<FeatureUsage>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageHeading {
    /// `Feature usage info:`
    FeatureUsage,
    /// `Users of features served by <vendor>:` (`-S`)
    ServedBy(String),
}

/// `Users of <name>: ...` and the license-line blocks under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureUsage {
    pub name: String,
    pub totals: Totals,
    pub blocks: Vec<LineBlock>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Totals {
    /// `(Total of N licenses issued;  Total of M licenses in use)`
    Counted { issued: u32, in_use: u32 },
    /// `(Uncounted, node-locked)`
    Uncounted,
    /// `(Error: N licenses, unsupported by licensed server)`
    Unsupported { count: u32 },
    /// `Cannot get users of <name>: <error>`
    Error(LmFailure),
}

/// One license line (FEATURE/INCREMENT) of a feature, with its users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineBlock {
    pub feature: String,
    pub version: String,
    pub vendor: String,
    /// As printed: a date, or `permanent(no expiration date)`.
    pub expiry: Option<String>,
    pub vendor_string: Option<String>,
    pub lock: Lock,
    pub reservations: Vec<Reservation>,
    pub users: Vec<UserLine>,
    /// Users the server left out of its reply so that it fits in one
    /// message (`docs/protocol.md`, Status): said after the users.
    pub omitted: u32,
}

/// How the line is locked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lock {
    /// `floating license`
    Floating,
    /// `nodelocked license, locked to "<hostid>"`
    NodeLocked(String),
    /// `uncounted nodelocked license locked to NOTHING (hostid=ANY)`
    UncountedAny,
    /// `uncounted nodelocked license, locked to "<hostid>"`
    UncountedNodeLocked(String),
    /// `uncounted nodelocked license` (the hostid is not known here)
    Uncounted,
}

impl std::fmt::Display for Lock {
    /// The lock line as lmstat prints it (and lmdiag, for the same line).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lock::Floating => f.write_str("floating license"),
            Lock::NodeLocked(h) => write!(f, "nodelocked license, locked to \"{h}\""),
            Lock::UncountedAny => {
                f.write_str("uncounted nodelocked license locked to NOTHING (hostid=ANY)")
            }
            Lock::UncountedNodeLocked(h) => {
                write!(f, "uncounted nodelocked license, locked to \"{h}\"")
            }
            Lock::Uncounted => f.write_str("uncounted nodelocked license"),
        }
    }
}

/// `N RESERVATIONs for <kind> <name> (<server>)`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub count: u32,
    /// HOST, USER, GROUP, HOST_GROUP, DISPLAY, INTERNET, PROJECT.
    pub kind: String,
    pub name: String,
    /// `host/port`.
    pub server: String,
}

/// One checkout (or queued request) of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserLine {
    pub user: String,
    pub host: String,
    /// Left out when empty (some Windows clients send none).
    pub display: String,
    /// Vendor-defined checkout data, printed after the display.
    pub extra: Option<String>,
    /// The version the client asked for.
    pub version: String,
    pub server_host: String,
    /// The license server's port (text, as captures anonymise it).
    pub server_port: String,
    pub handle: u64,
    pub state: UserState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserState {
    /// `, start Mon 2/10 0:10[, N licenses][ (linger: ...)][, PID: n]`
    Using {
        start: Stamp,
        count: u32,
        /// Linger seconds, and the total borrow period when known.
        linger: Option<(u64, Option<u64>)>,
        pid: Option<u32>,
    },
    /// ` queued for N license(s)`
    Queued { count: u32 },
}

/// One row of `lmstat -i`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncrementRow {
    pub feature: String,
    pub version: String,
    /// A number, or `uncounted`.
    pub count: String,
    pub expires: String,
    pub vendor: String,
}
