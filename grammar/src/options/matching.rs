//! Matching a client and a license pool against compiled rules.
//!
//! Everything that can be prepared is prepared once: the client's folded
//! and short names when its [`Client`] is built (once per connection), the
//! option names and group sets when the options file is compiled. A match
//! is then a comparison or a hash lookup, with no allocation.

use super::model::{Filter, FqdnMatching};
use crate::date::Expiry;
use crate::hostid::HostId;
use crate::model::Feature;
use crate::pool::Pool;
use crate::version::Version;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// An IPv4 address pattern: each part a number or `*` (`None`).
pub(super) type IpPattern = [Option<u8>; 4];

/// Parses `a.b.c.d`, each part 0-255 or `*`.
pub(super) fn parse_ip_pattern(text: &str) -> Option<IpPattern> {
    let mut out = [None; 4];
    let mut parts = text.split('.');
    for slot in out.iter_mut() {
        let part = parts.next()?;
        *slot = match part {
            "*" => None,
            p if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                Some(p.parse::<u8>().ok()?)
            }
            _ => return None,
        };
    }
    match parts.next() {
        Some(_) => None,
        None => Some(out),
    }
}

fn ip_matches(pattern: &IpPattern, addr: Ipv4Addr) -> bool {
    addr.octets()
        .iter()
        .zip(pattern)
        .all(|(octet, part)| part.is_none_or(|p| p == *octet))
}

/// The client side of a request: who is asking, from where.
///
/// Build it once per connection (its names are normalised here, so that
/// every later match is allocation-free) and pass it to every evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    user: String,
    /// `user` in lower case, for GROUPCASEINSENSITIVE ON.
    user_folded: String,
    host: String,
    /// `host` in lower case, without a trailing dot.
    host_lower: String,
    /// Length of the first label of `host_lower`.
    short_len: usize,
    /// The host name the client gave is an IP address, not a name.
    host_is_address: bool,
    display: String,
    address: Option<Ipv4Addr>,
    project: Option<String>,
}

impl Client {
    /// A client known by its login name, host name and display. A host
    /// given as a dotted IPv4 address also serves as the client's address
    /// until [`Client::with_address`] sets one.
    pub fn new(user: &str, host: &str, display: &str) -> Client {
        let host_lower = host.trim_end_matches('.').to_ascii_lowercase();
        let short_len = host_lower.find('.').unwrap_or(host_lower.len());
        let parsed: Option<Ipv4Addr> = host.parse().ok();
        Client {
            user: user.to_string(),
            user_folded: user.to_lowercase(),
            host: host.to_string(),
            host_lower,
            short_len,
            host_is_address: parsed.is_some(),
            display: display.to_string(),
            address: parsed,
            project: None,
        }
    }

    /// The address the client connects from (INTERNET, and HOST written as
    /// an address). An IPv4-mapped IPv6 address counts as IPv4; any other
    /// IPv6 address matches no INTERNET pattern.
    pub fn with_address(mut self, addr: IpAddr) -> Client {
        self.address = match addr {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(a) => a.to_ipv4_mapped(),
        };
        self
    }

    /// The client's `LM_PROJECT`; an empty value means none.
    pub fn with_project(mut self, project: &str) -> Client {
        self.project = (!project.is_empty()).then(|| project.to_string());
        self
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn display(&self) -> &str {
        &self.display
    }

    pub fn address(&self) -> Option<Ipv4Addr> {
        self.address
    }

    pub fn project(&self) -> Option<&str> {
        self.project.as_deref()
    }

    fn host_short(&self) -> &str {
        &self.host_lower[..self.short_len]
    }

    fn host_qualified(&self) -> bool {
        self.short_len < self.host_lower.len()
    }
}

/// The license side of a request: the feature asked for, and the
/// attributes of the pool (or line) it would be served from, which
/// `feature:keyword=value` rules select on.
///
/// Attributes left `None` match no `:keyword=value` filter. The context
/// borrows everything, so a daemon can build one per pool once and reuse it.
#[derive(Debug, Clone, Copy, Default)]
pub struct FeatureCtx<'a> {
    pub name: &'a str,
    /// The PACKAGE the feature is a component of: rules naming the package
    /// apply to its components.
    pub package: Option<&'a str>,
    pub version: Option<&'a Version>,
    pub hostids: Option<&'a [HostId]>,
    pub expiry: Option<Expiry>,
    /// The legacy license key of the line.
    pub key: Option<&'a str>,
    /// The SIGN= value of the line.
    pub sign: Option<&'a str>,
    pub vendor_string: Option<&'a str>,
    pub issuer: Option<&'a str>,
    pub notice: Option<&'a str>,
    pub dist_info: Option<&'a str>,
    pub user_info: Option<&'a str>,
    pub asset_info: Option<&'a str>,
}

impl<'a> FeatureCtx<'a> {
    /// A feature with no known attributes: only rules without a filter apply.
    pub fn new(name: &'a str) -> FeatureCtx<'a> {
        FeatureCtx {
            name,
            ..FeatureCtx::default()
        }
    }

    /// Everything a license line says about itself.
    pub fn from_feature(f: &'a Feature) -> FeatureCtx<'a> {
        let attr = |name: &str| {
            f.attributes
                .iter()
                .find(|a| a.name == name)
                .and_then(|a| a.value.as_deref())
        };
        FeatureCtx {
            name: &f.name,
            package: None,
            version: Some(&f.version),
            hostids: f.hostids.as_deref(),
            expiry: Some(f.expiry),
            key: f.legacy_key.as_deref(),
            sign: attr("SIGN"),
            vendor_string: f.vendor_string.as_deref(),
            issuer: f.issuer.as_deref(),
            notice: f.notice.as_deref(),
            dist_info: attr("dist_info"),
            user_info: attr("user_info"),
            asset_info: attr("asset_info"),
        }
    }

    /// What a pool knows: name, package, version, hostids and expiry.
    pub fn from_pool(p: &'a Pool) -> FeatureCtx<'a> {
        FeatureCtx {
            name: &p.feature,
            package: p.package.as_deref(),
            version: Some(&p.version),
            hostids: p.hostids.as_deref(),
            expiry: Some(p.expiry()),
            ..FeatureCtx::default()
        }
    }
}

impl Filter {
    /// Does the licence described by `ctx` have this attribute value?
    ///
    /// Versions compare as numbers (`2` is `2.000`), dates as dates, hostid
    /// lists as sets (hexadecimal ids by value, host names without case),
    /// keys and signatures without case or white space, and free text with
    /// runs of white space counting as one space, as the license file reads
    /// them.
    pub fn matches(&self, ctx: &FeatureCtx<'_>) -> bool {
        match self {
            Filter::Version(v) => ctx.version.is_some_and(|c| c == v),
            Filter::HostId(ids) => ctx.hostids.is_some_and(|c| same_hostids(ids, c)),
            Filter::ExpDate(e) => ctx.expiry == Some(*e),
            Filter::Key(k) => ctx.key.is_some_and(|c| same_code(k, c)),
            Filter::Sign(s) => ctx.sign.is_some_and(|c| same_code(s, c)),
            Filter::VendorString(s) => same_text(s, ctx.vendor_string),
            Filter::Issuer(s) => same_text(s, ctx.issuer),
            Filter::Notice(s) => same_text(s, ctx.notice),
            Filter::DistInfo(s) => same_text(s, ctx.dist_info),
            Filter::UserInfo(s) => same_text(s, ctx.user_info),
            Filter::AssetInfo(s) => same_text(s, ctx.asset_info),
        }
    }
}

fn same_hostid(a: &HostId, b: &HostId) -> bool {
    match (a, b) {
        (HostId::Hex { value: x, .. }, HostId::Hex { value: y, .. }) => x == y,
        (HostId::Hostname(x), HostId::Hostname(y)) => x.eq_ignore_ascii_case(y),
        (
            HostId::Other {
                kind: k1,
                value: v1,
            },
            HostId::Other {
                kind: k2,
                value: v2,
            },
        ) => k1.eq_ignore_ascii_case(k2) && v1.eq_ignore_ascii_case(v2),
        _ => a == b,
    }
}

fn same_hostids(want: &[HostId], have: &[HostId]) -> bool {
    want.iter().all(|w| have.iter().any(|h| same_hostid(w, h)))
        && have.iter().all(|h| want.iter().any(|w| same_hostid(w, h)))
}

fn same_code(a: &str, b: &str) -> bool {
    code_chars(a).eq(code_chars(b))
}

/// The characters of a key or signature that matter.
fn code_chars(s: &str) -> impl Iterator<Item = char> + '_ {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '"')
        .map(|c| c.to_ascii_lowercase())
}

fn same_text(want: &str, have: Option<&str>) -> bool {
    have.is_some_and(|h| want.split_whitespace().eq(h.split_whitespace()))
}

/// Members of a GROUP, ready for lookup.
#[derive(Debug, Clone, Default)]
pub(super) struct NameSet {
    /// Members are stored in lower case and compared with the client's
    /// folded name (GROUPCASEINSENSITIVE ON).
    folded: bool,
    names: HashSet<Box<str>>,
}

impl NameSet {
    pub(super) fn new<'m>(members: impl IntoIterator<Item = &'m str>, folded: bool) -> NameSet {
        let names = members
            .into_iter()
            .map(|m| {
                if folded {
                    m.to_lowercase().into_boxed_str()
                } else {
                    m.into()
                }
            })
            .collect();
        NameSet { folded, names }
    }

    fn matches(&self, c: &Client) -> bool {
        let user = if self.folded { &c.user_folded } else { &c.user };
        self.names.contains(user.as_str())
    }
}

/// Hosts of a HOST_GROUP (or one HOST), ready for lookup.
#[derive(Debug, Clone, Default)]
pub(super) struct HostSet {
    mode: FqdnMatching,
    /// Every name, lower case.
    full: HashSet<Box<str>>,
    /// Names written without a domain.
    unqualified: HashSet<Box<str>>,
    /// The first label of every name.
    shorts: HashSet<Box<str>>,
    addresses: Vec<IpPattern>,
}

impl HostSet {
    pub(super) fn new<'m>(
        members: impl IntoIterator<Item = &'m str>,
        mode: FqdnMatching,
    ) -> HostSet {
        let mut set = HostSet {
            mode,
            ..HostSet::default()
        };
        for m in members {
            if let Some(p) = parse_ip_pattern(m) {
                set.addresses.push(p);
                continue;
            }
            let lower = m.trim_end_matches('.').to_ascii_lowercase();
            let short = lower.split('.').next().unwrap_or("");
            if short.len() == lower.len() {
                set.unqualified.insert(short.into());
            }
            set.shorts.insert(short.into());
            set.full.insert(lower.into_boxed_str());
        }
        set
    }

    fn matches(&self, c: &Client) -> bool {
        if let Some(addr) = c.address {
            if self.addresses.iter().any(|p| ip_matches(p, addr)) {
                return true;
            }
        }
        if c.host_is_address || c.host_lower.is_empty() {
            return false;
        }
        match self.mode {
            FqdnMatching::Exact => self.full.contains(c.host_lower.as_str()),
            FqdnMatching::Lenient if c.host_qualified() => {
                self.full.contains(c.host_lower.as_str())
                    || self.unqualified.contains(c.host_short())
            }
            FqdnMatching::Lenient => self.shorts.contains(c.host_lower.as_str()),
        }
    }
}

/// A compiled `type name`.
#[derive(Debug, Clone)]
pub(super) enum Matcher {
    User(Box<str>),
    Display(Box<str>),
    Address(IpPattern),
    Project(Box<str>),
    Users(Arc<NameSet>),
    Hosts(Arc<HostSet>),
    /// A group that is not defined.
    Nobody,
}

impl Matcher {
    pub(super) fn matches(&self, c: &Client) -> bool {
        match self {
            Matcher::User(u) => **u == *c.user,
            Matcher::Display(d) => **d == *c.display,
            Matcher::Address(p) => c.address.is_some_and(|a| ip_matches(p, a)),
            Matcher::Project(p) => c.project.as_deref() == Some(&**p),
            Matcher::Users(set) => set.matches(c),
            Matcher::Hosts(set) => set.matches(c),
            Matcher::Nobody => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_patterns() {
        assert_eq!(
            parse_ip_pattern("10.1.*.*"),
            Some([Some(10), Some(1), None, None])
        );
        assert_eq!(parse_ip_pattern("10.1.*"), None);
        assert_eq!(parse_ip_pattern("10.1.2.3.4"), None);
        assert_eq!(parse_ip_pattern("10.1.256.3"), None);
        assert_eq!(parse_ip_pattern("10..2.3"), None);
        let p = parse_ip_pattern("10.1.*.*").unwrap();
        assert!(ip_matches(&p, Ipv4Addr::new(10, 1, 200, 3)));
        assert!(!ip_matches(&p, Ipv4Addr::new(10, 2, 0, 1)));
    }

    #[test]
    fn host_sets_lenient_and_exact() {
        let names = ["build7", "cad1.eng.example.com", "10.9.*.*"];
        let lenient = HostSet::new(names, FqdnMatching::Lenient);
        let exact = HostSet::new(names, FqdnMatching::Exact);
        let c = |h: &str| Client::new("u", h, ":0");
        for (host, l, e) in [
            ("build7", true, true),
            ("BUILD7", true, true),
            ("build7.example.com", true, false),
            ("cad1", true, false),
            ("cad1.eng.example.com", true, true),
            ("cad1.other.com", false, false),
            ("cad2", false, false),
            ("10.9.1.1", true, true),
            ("10.8.1.1", false, false),
        ] {
            assert_eq!(lenient.matches(&c(host)), l, "lenient {host}");
            assert_eq!(exact.matches(&c(host)), e, "exact {host}");
        }
        let by_addr = c("somewhere").with_address("10.9.0.7".parse().unwrap());
        assert!(exact.matches(&by_addr));
        let mapped = c("x").with_address("::ffff:10.9.0.7".parse().unwrap());
        assert!(exact.matches(&mapped));
    }

    #[test]
    fn name_sets_fold_only_when_asked() {
        let strict = NameSet::new(["Bob"], false);
        let folded = NameSet::new(["Bob"], true);
        assert!(strict.matches(&Client::new("Bob", "h", "d")));
        assert!(!strict.matches(&Client::new("bob", "h", "d")));
        assert!(folded.matches(&Client::new("bOB", "h", "d")));
    }

    #[test]
    fn codes_and_text_compare_loosely() {
        assert!(same_code("ABCD 1234", "abcd1234"));
        assert!(!same_code("ABCD", "ABCE"));
        assert!(same_text("a  b", Some("a b")));
        assert!(!same_text("a b", Some("A b")));
        assert!(!same_text("a", None));
    }
}
