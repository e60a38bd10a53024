//! The typed model of a license file: one value per non-comment line.

use crate::date::{Date, Expiry};
use crate::diag::Diagnostic;
use crate::hostid::HostId;
use crate::sign_field::SignField;
use crate::small_str::SmallStr;
use crate::version::Version;
use serde::Serialize;
use std::ops::Range;

/// A parsed license file. Lines with errors are left out of `entries`; each
/// of them has at least one error in `diagnostics`.
#[derive(Debug, Clone)]
pub struct LicenseFile {
    /// The name diagnostics use for this file (the path as given).
    pub name: String,
    pub entries: Vec<Entry>,
    pub diagnostics: Vec<Diagnostic>,
}

/// One usable line of the file.
#[derive(Debug, Clone)]
pub struct Entry {
    /// First and last physical line (1-based).
    pub line: u32,
    pub end_line: u32,
    /// Byte range of the line's physical lines in the source text.
    pub source_range: Range<usize>,
    /// The logical text (continuations joined).
    pub text: String,
    /// Where each item after the positional fields sits in `text`, and the
    /// attribute name when it is `NAME=value` (used to rewrite signatures).
    pub items: Vec<ItemSpan>,
    pub kind: EntryKind,
}

/// Position of one item of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemSpan {
    pub range: Range<usize>,
    pub name: Option<SmallStr>,
    /// Physical (line, column) where the item starts.
    pub at: (u32, u32),
}

// Most entries are FEATURE lines, so boxing the large variant would only
// add an allocation per line.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum EntryKind {
    Server(Server),
    Vendor(Vendor),
    UseServer,
    Feature(Feature),
    Package(Package),
    FeatureSet(FeatureSet),
}

/// `SERVER host hostid [port] [PRIMARY_IS_MASTER] [SERVER_TIMEOUT=s] [HEARTBEAT_INTERVAL=s]`
#[derive(Debug, Clone, Serialize)]
pub struct Server {
    pub host: String,
    pub hostids: Vec<HostId>,
    pub port: Option<u16>,
    pub primary_is_master: bool,
    pub server_timeout: Option<u32>,
    pub heartbeat_interval: Option<u32>,
}

/// Whether the line was spelled VENDOR (v6+) or DAEMON (older).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum VendorKeyword {
    Vendor,
    Daemon,
}

/// `VENDOR name [path] [[OPTIONS=]options] [[PORT=]port]`
#[derive(Debug, Clone, Serialize)]
pub struct Vendor {
    pub keyword: VendorKeyword,
    pub name: String,
    pub path: Option<String>,
    pub options: Option<String>,
    pub port: Option<u16>,
}

/// FEATURE, INCREMENT or UPGRADE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeatureKind {
    Feature,
    Increment,
    /// Moves licenses from versions `>= from` to this line's version.
    Upgrade {
        from: Version,
    },
}

impl FeatureKind {
    pub fn keyword(&self) -> &'static str {
        match self {
            FeatureKind::Feature => "FEATURE",
            FeatureKind::Increment => "INCREMENT",
            FeatureKind::Upgrade { .. } => "UPGRADE",
        }
    }
}

/// How duplicate checkouts are grouped onto one license (DUP_GROUP=).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum DupGroup {
    /// Every checkout takes its own license.
    None,
    /// Everyone at the site shares.
    Site,
    /// Checkouts that agree on the chosen fields share one license.
    Mask {
        user: bool,
        host: bool,
        display: bool,
        vendor: bool,
    },
}

impl DupGroup {
    pub fn parse(text: &str) -> Option<DupGroup> {
        if text.eq_ignore_ascii_case("NONE") {
            return Some(DupGroup::None);
        }
        if text.eq_ignore_ascii_case("SITE") {
            return Some(DupGroup::Site);
        }
        let letters = text.as_bytes();
        if letters.is_empty() || !letters.iter().all(|b| b"UHDVuhdv".contains(b)) {
            return None;
        }
        let has = |c: u8| letters.iter().any(|b| b.eq_ignore_ascii_case(&c));
        Some(DupGroup::Mask {
            user: has(b'U'),
            host: has(b'H'),
            display: has(b'D'),
            vendor: has(b'V'),
        })
    }
}

/// An attribute of a FEATURE-like line, in the order written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The name as written (case matters: lowercase names are the
    /// administrator's and are not signed).
    pub name: SmallStr,
    /// `None` for a bare flag such as `TS_OK`.
    pub value: Option<SmallStr>,
}

impl Attribute {
    /// Uppercase attributes are the publisher's and are covered by the signature.
    pub fn is_authenticated(&self) -> bool {
        !self.name.bytes().any(|b| b.is_ascii_lowercase())
            && !matches!(self.name.as_str(), "SIGN" | "SIGN2" | "AUTH")
    }
}

/// A FEATURE, INCREMENT or UPGRADE line.
///
/// Nearly every line of a large file is one of these, so its text fields
/// are [`SmallStr`]s: names, serial numbers and most vendor strings fit in
/// place, and a line of the model needs a few allocations fewer.
#[derive(Debug, Clone)]
pub struct Feature {
    pub kind: FeatureKind,
    pub name: SmallStr,
    pub vendor: SmallStr,
    pub version: Version,
    pub expiry: Expiry,
    /// 0 means uncounted.
    pub count: u32,
    /// A FLEXlm license key (pre-v7.1 lines, or kept beside SIGN=).
    pub legacy_key: Option<SmallStr>,
    /// The line was written in the pre-v3 positional form.
    pub old_format: bool,
    pub hostids: Option<Vec<HostId>>,
    pub vendor_string: Option<SmallStr>,
    pub start: Option<Date>,
    pub issued: Option<Date>,
    pub overdraft: u32,
    pub dup_group: Option<DupGroup>,
    pub suite_dup_group: Option<DupGroup>,
    /// BORROW[=hours]; a bare BORROW means the default 168 hours.
    pub borrow_hours: Option<u32>,
    /// FLOAT_OK[=server_hostid]
    pub float_ok: Option<Option<HostId>>,
    /// USER_BASED[=n]
    pub user_based: Option<Option<u32>>,
    /// HOST_BASED[=n]
    pub host_based: Option<Option<u32>>,
    pub platforms: Vec<String>,
    pub supersede: Option<Vec<String>>,
    pub serial: Option<SmallStr>,
    pub notice: Option<SmallStr>,
    pub issuer: Option<SmallStr>,
    pub ts_ok: bool,
    pub sort: Option<u32>,
    pub ck: Option<u32>,
    /// Every attribute, typed ones included, in the order written.
    pub attributes: Vec<Attribute>,
    pub signature: SignField,
}

impl Feature {
    pub fn is_counted(&self) -> bool {
        self.count > 0
    }

    /// Counted lines are served by a vendor daemon; uncounted lines are
    /// checked by the client library alone.
    pub fn needs_server(&self) -> bool {
        self.is_counted()
    }

    /// Locked to particular hosts (not ANY/DEMO/ID=).
    pub fn is_node_locked(&self) -> bool {
        self.hostids
            .as_ref()
            .is_some_and(|ids| ids.iter().any(|id| !id.is_unrestricted()))
    }

    pub fn is_demo(&self) -> bool {
        self.hostids
            .as_ref()
            .is_some_and(|ids| ids.contains(&HostId::Demo))
    }

    /// The date the order of precedence sorts by: ISSUED=, else START=.
    pub fn issued_or_start(&self) -> Option<Date> {
        self.issued.or(self.start)
    }
}

/// One component of a PACKAGE: `feature[:version[:count]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    pub name: String,
    pub version: Option<Version>,
    pub count: Option<u32>,
}

/// `PACKAGE name vendor [version] [key] COMPONENTS="..." [OPTIONS=SUITE] ...`
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub vendor: String,
    pub version: Option<Version>,
    pub legacy_key: Option<String>,
    pub components: Vec<Component>,
    pub suite: bool,
    pub attributes: Vec<Attribute>,
    pub signature: SignField,
}

/// `FEATURESET vendor key|SIGN=...`: binds the vendor's lines together.
#[derive(Debug, Clone)]
pub struct FeatureSet {
    pub vendor: String,
    pub legacy_key: Option<String>,
    pub ck: Option<u32>,
    pub signature: SignField,
}

impl LicenseFile {
    pub fn servers(&self) -> impl Iterator<Item = (&Entry, &Server)> {
        self.entries.iter().filter_map(|e| match &e.kind {
            EntryKind::Server(s) => Some((e, s)),
            _ => None,
        })
    }

    pub fn vendors(&self) -> impl Iterator<Item = (&Entry, &Vendor)> {
        self.entries.iter().filter_map(|e| match &e.kind {
            EntryKind::Vendor(v) => Some((e, v)),
            _ => None,
        })
    }

    pub fn features(&self) -> impl Iterator<Item = (&Entry, &Feature)> {
        self.entries.iter().filter_map(|e| match &e.kind {
            EntryKind::Feature(f) => Some((e, f)),
            _ => None,
        })
    }

    pub fn packages(&self) -> impl Iterator<Item = (&Entry, &Package)> {
        self.entries.iter().filter_map(|e| match &e.kind {
            EntryKind::Package(p) => Some((e, p)),
            _ => None,
        })
    }

    /// Hostids of the SERVER lines, in order: they are signed into every
    /// counted line.
    pub fn server_hostids(&self) -> Vec<&[HostId]> {
        self.servers().map(|(_, s)| s.hostids.as_slice()).collect()
    }

    /// Physical (line, column) of the attribute `name` on an entry, or the
    /// start of the entry when it has none.
    pub fn position_of(entry: &Entry, name: &str) -> (u32, u32) {
        entry
            .items
            .iter()
            .find(|i| i.name.as_deref() == Some(name))
            .map_or((entry.line, 1), |i| i.at)
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Whether a USE_SERVER line appears.
    pub fn use_server(&self) -> bool {
        self.entries
            .iter()
            .any(|e| matches!(e.kind, EntryKind::UseServer))
    }
}
