//! The typed model of an options file: one [`Statement`] per usable line,
//! in file order, exactly as the administrator wrote it.
//!
//! The model keeps names as written. Matching rules (case, host-name forms,
//! group expansion) are applied when the statements are compiled into an
//! [`Options`](super::Options) value.

use crate::date::Expiry;
use crate::hostid::HostId;
use crate::version::Version;
use std::fmt;

/// One usable line of an options file.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// First and last physical line (1-based).
    pub line: u32,
    pub end_line: u32,
    pub kind: StatementKind,
}

/// What a line says.
#[derive(Debug, Clone, PartialEq)]
pub enum StatementKind {
    /// INCLUDE, INCLUDEALL, EXCLUDE, EXCLUDEALL, INCLUDE_BORROW, EXCLUDE_BORROW.
    /// `feature` is `None` for the `...ALL` forms.
    Access {
        list: AccessList,
        feature: Option<FeatureSpec>,
        who: Who,
    },
    /// `RESERVE num_lic feature[:kw=val] type name`
    Reserve {
        count: u32,
        feature: FeatureSpec,
        who: Who,
    },
    /// `MAX num_lic feature[:kw=val] type name`
    Max {
        count: u32,
        feature: FeatureSpec,
        who: Who,
    },
    /// `MAX_OVERDRAFT feature[:kw=val] num_lic`
    MaxOverdraft { feature: FeatureSpec, count: u32 },
    /// `GROUP name user...` (also spelled `USER_GROUP`).
    Group { name: String, members: Vec<String> },
    /// `HOST_GROUP name host...`
    HostGroup { name: String, members: Vec<String> },
    /// `GROUPCASEINSENSITIVE ON|OFF`
    GroupCaseInsensitive(bool),
    /// `TIMEOUT feature[:kw=val] seconds`
    Timeout { feature: FeatureSpec, seconds: u32 },
    /// `TIMEOUTALL seconds`
    TimeoutAll { seconds: u32 },
    /// `LINGER feature[:kw=val] seconds`
    Linger { feature: FeatureSpec, seconds: u32 },
    /// `NOLOG IN|OUT|DENIED|QUEUED|UNSUPPORTED`
    NoLog(Vec<LogClass>),
    /// `REPORTLOG [+]path`
    ReportLog(LogFile),
    /// `DEBUGLOG [+]path`
    DebugLog(LogFile),
    /// `BORROW_LOWWATER feature[:kw=val] num_lic`
    BorrowLowwater { feature: FeatureSpec, count: u32 },
    /// `MAX_BORROW_HOURS feature[:kw=val] hours`
    MaxBorrowHours { feature: FeatureSpec, hours: u32 },
    /// `AUTOMATIC_REREAD ON|OFF`
    AutomaticReread(bool),
    /// `FQDN_MATCHING exact|lenient`
    FqdnMatching(FqdnMatching),
    /// `DAEMON_SELECT_TIMEOUT seconds`
    DaemonSelectTimeout(u32),
    /// `MAX_CONNECTIONS n`
    MaxConnections(u32),
    /// A trusted-storage keyword (ACTIVATION_LOWWATER, INCLUDE_ENTITLEMENT...):
    /// recognised, reported, and otherwise ignored.
    Unsupported { keyword: String },
}

/// The six list keywords.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessList {
    Include,
    IncludeAll,
    Exclude,
    ExcludeAll,
    IncludeBorrow,
    ExcludeBorrow,
}

impl AccessList {
    pub fn keyword(self) -> &'static str {
        match self {
            AccessList::Include => "INCLUDE",
            AccessList::IncludeAll => "INCLUDEALL",
            AccessList::Exclude => "EXCLUDE",
            AccessList::ExcludeAll => "EXCLUDEALL",
            AccessList::IncludeBorrow => "INCLUDE_BORROW",
            AccessList::ExcludeBorrow => "EXCLUDE_BORROW",
        }
    }
}

/// `feature[:keyword=value]`: a feature, or the subset of its licenses whose
/// line has the given attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSpec {
    pub name: String,
    pub filter: Option<Filter>,
}

impl fmt::Display for FeatureSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(filter) = &self.filter {
            write!(f, ":{filter}")?;
        }
        Ok(())
    }
}

/// The `:keyword=value` part of a feature spec, with the value parsed the way
/// the license file parses that attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Version(Version),
    HostId(Vec<HostId>),
    ExpDate(Expiry),
    Key(String),
    Sign(String),
    VendorString(String),
    Issuer(String),
    Notice(String),
    DistInfo(String),
    UserInfo(String),
    AssetInfo(String),
}

impl Filter {
    /// The keyword as FLEXlm spells it.
    pub fn keyword(&self) -> &'static str {
        match self {
            Filter::Version(_) => "VERSION",
            Filter::HostId(_) => "HOSTID",
            Filter::ExpDate(_) => "EXPDATE",
            Filter::Key(_) => "KEY",
            Filter::Sign(_) => "SIGN",
            Filter::VendorString(_) => "VENDOR_STRING",
            Filter::Issuer(_) => "ISSUER",
            Filter::Notice(_) => "NOTICE",
            Filter::DistInfo(_) => "dist_info",
            Filter::UserInfo(_) => "user_info",
            Filter::AssetInfo(_) => "asset_info",
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kw = self.keyword();
        match self {
            Filter::Version(v) => write!(f, "{kw}={}", v.as_written()),
            Filter::HostId(ids) if ids.len() == 1 => write!(f, "{kw}={}", ids[0]),
            Filter::HostId(ids) => {
                write!(f, "{kw}=\"{}\"", crate::hostid::display_list(ids))
            }
            Filter::ExpDate(e) => write!(f, "{kw}={e}"),
            Filter::Key(s)
            | Filter::Sign(s)
            | Filter::VendorString(s)
            | Filter::Issuer(s)
            | Filter::Notice(s)
            | Filter::DistInfo(s)
            | Filter::UserInfo(s)
            | Filter::AssetInfo(s) => {
                if s.is_empty() || s.contains(char::is_whitespace) {
                    write!(f, "{kw}=\"{s}\"")
                } else {
                    write!(f, "{kw}={s}")
                }
            }
        }
    }
}

/// `type name`: whom a list, RESERVE or MAX line is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Who {
    pub kind: WhoKind,
    pub name: String,
    /// Physical (line, column) of the name, for findings about it.
    pub at: (u32, u32),
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.keyword(), self.name)
    }
}

/// The option types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WhoKind {
    /// Login name.
    User,
    /// Host name, or an IPv4 address with `*` wildcards.
    Host,
    /// Terminal or X display (`/dev/ttyp1`, `:0.0`); the system name on Windows.
    Display,
    /// IPv4 address with `*` wildcards.
    Internet,
    /// The client's `LM_PROJECT`.
    Project,
    /// A GROUP of users.
    Group,
    /// A HOST_GROUP of hosts.
    HostGroup,
}

impl WhoKind {
    pub fn keyword(self) -> &'static str {
        match self {
            WhoKind::User => "USER",
            WhoKind::Host => "HOST",
            WhoKind::Display => "DISPLAY",
            WhoKind::Internet => "INTERNET",
            WhoKind::Project => "PROJECT",
            WhoKind::Group => "GROUP",
            WhoKind::HostGroup => "HOST_GROUP",
        }
    }
}

/// A REPORTLOG or DEBUGLOG destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    pub path: String,
    /// Written `+path`: append to the file instead of replacing it.
    pub append: bool,
}

/// Classes of debug-log lines NOLOG can silence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogClass {
    In,
    Out,
    Denied,
    Queued,
    Unsupported,
}

impl LogClass {
    pub(crate) fn bit(self) -> u8 {
        match self {
            LogClass::In => 1,
            LogClass::Out => 2,
            LogClass::Denied => 4,
            LogClass::Queued => 8,
            LogClass::Unsupported => 16,
        }
    }
}

/// How strictly HOST and HOST_GROUP names must match the client's host name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FqdnMatching {
    /// The whole name must match (without regard to case).
    Exact,
    /// A name without a domain matches any fully qualified name that starts
    /// with it, and the other way round; two fully qualified names must match
    /// in full.
    #[default]
    Lenient,
}
