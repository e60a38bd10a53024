//! From text to the typed model: logical lines, the pest grammar, and the
//! classification of each line's items.

use crate::date::{Date, Expiry};
use crate::diag::{Diagnostic, LineIssue, Severity};
use crate::hostid::HostId;
use crate::model::*;
use crate::signature::SignField;
use crate::source::{logical_lines, LogicalLine};
use crate::version::Version;
use pest::iterators::Pair;
use pest::Parser as _;

#[derive(pest_derive::Parser)]
#[grammar = "license.pest"]
struct LicenseGrammar;

/// Length limits FLEXlm documents; going past one is a warning.
const MAX_LINE: usize = 2048;
const MAX_FEATURE_NAME: usize = 30;
const MAX_VENDOR_NAME: usize = 10;
const MAX_HOST_NAME: usize = 64;
const MAX_VERSION: usize = 10;
const MAX_DATE: usize = 11;

/// Words that start a license line; any other line is a comment.
const KEYWORDS: [&str; 9] = [
    "SERVER",
    "VENDOR",
    "DAEMON",
    "USE_SERVER",
    "FEATURE",
    "INCREMENT",
    "UPGRADE",
    "PACKAGE",
    "FEATURESET",
];

/// Flags that may stand alone, without `=value`.
const FLAGS: [&str; 10] = [
    "BORROW",
    "FLOAT_OK",
    "TS_OK",
    "ONE_TS_OK",
    "USER_BASED",
    "HOST_BASED",
    "SUPERSEDE",
    "CAPACITY",
    "PRIMARY_IS_MASTER",
    "SUITE",
];

/// Hostid types that may stand in the old positional hostid place.
const HOSTID_TYPES: [&str; 12] = [
    "INTERNET",
    "HOSTNAME",
    "USER",
    "DISPLAY",
    "ID",
    "DISK_SERIAL_NUM",
    "ID_STRING",
    "SENTINEL_KEY",
    "FLEXID",
    "COMPOSITE",
    "ETHER",
    "VSN",
];

/// Attributes of FEATURE-like lines that we know by name.
const FEATURE_ATTRS: [&str; 24] = [
    "HOSTID",
    "VENDOR_STRING",
    "START",
    "ISSUED",
    "OVERDRAFT",
    "DUP_GROUP",
    "SUITE_DUP_GROUP",
    "BORROW",
    "FLOAT_OK",
    "USER_BASED",
    "HOST_BASED",
    "PLATFORMS",
    "SUPERSEDE",
    "SN",
    "NOTICE",
    "ISSUER",
    "TS_OK",
    "ONE_TS_OK",
    "CAPACITY",
    "MINIMUM",
    "SIGN",
    "SIGN2",
    "AUTH",
    "TYPE",
];

/// Lowercase attributes an administrator may add or change.
const USER_ATTRS: [&str; 6] = [
    "asset_info",
    "dist_info",
    "user_info",
    "vendor_info",
    "sort",
    "ck",
];

/// Parses a whole license file. Never fails and never panics: lines that
/// cannot be understood are reported in `diagnostics` and left out.
pub fn parse_license(name: &str, src: &str) -> LicenseFile {
    let lines = logical_lines(src);
    // Lines are independent, so a large file is parsed on every core, in
    // chunks whose results are joined in file order.
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let (entries, diagnostics) = if lines.len() < PARALLEL_FROM || threads < 2 {
        parse_lines(name, &lines)
    } else {
        let per = lines.len().div_ceil(threads);
        std::thread::scope(|s| {
            let parts: Vec<_> = lines
                .chunks(per)
                .map(|chunk| s.spawn(move || parse_lines(name, chunk)))
                .collect();
            let mut entries = Vec::with_capacity(lines.len());
            let mut diagnostics = Vec::new();
            for part in parts {
                // A panic in a worker is a bug; re-raise it where it belongs.
                let (e, d) = part.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
                entries.extend(e);
                diagnostics.extend(d);
            }
            (entries, diagnostics)
        })
    };
    LicenseFile {
        name: name.to_string(),
        entries,
        diagnostics,
    }
}

/// Below this many logical lines, threads cost more than they save.
const PARALLEL_FROM: usize = 4096;

fn parse_lines(name: &str, lines: &[LogicalLine]) -> (Vec<Entry>, Vec<Diagnostic>) {
    let mut entries = Vec::new();
    let mut diagnostics = Vec::new();
    for line in lines {
        if line.is_comment() {
            continue;
        }
        let first = line.text.split_whitespace().next().unwrap_or("");
        if !KEYWORDS.contains(&first) {
            if let Some(kw) = near_keyword(first) {
                let at = line.text.find(first).unwrap_or(0);
                diagnostics.push(place(name, line, &LineIssue::warning(at, format!(
                    "line starts with `{first}`, which is not a keyword, so it is read as a comment (did you mean {kw}?)"
                ))));
            }
            continue;
        }
        let (entry, issues) = parse_line(line);
        diagnostics.extend(issues.iter().map(|issue| place(name, line, issue)));
        entries.extend(entry);
    }
    (entries, diagnostics)
}

/// Places a line's finding at its physical line and column.
fn place(name: &str, line: &LogicalLine, issue: &LineIssue) -> Diagnostic {
    let (l, c) = line.position(issue.offset);
    Diagnostic {
        severity: issue.severity,
        file: name.to_string(),
        line: l,
        column: c,
        message: issue.message.clone(),
    }
}

/// A keyword the word is probably a misspelling of (same letters in a
/// different order, one letter changed, or one letter left out), so it is
/// not silently a comment.
fn near_keyword(word: &str) -> Option<&'static str> {
    if word.len() < 5 || !word.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
        return None;
    }
    let sorted = |s: &str| {
        let mut v: Vec<u8> = s.bytes().collect();
        v.sort_unstable();
        v
    };
    KEYWORDS.into_iter().find(|kw| {
        (kw.len() == word.len()
            && (sorted(kw) == sorted(word)
                || kw.bytes().zip(word.bytes()).filter(|(a, b)| a != b).count() == 1))
            || (kw.len() == word.len() + 1
                && (0..kw.len()).any(|i| kw[..i] == word[..i] && kw[i + 1..] == word[i..]))
    })
}

/// Parses one logical line into an entry. Any error drops the line.
fn parse_line(line: &LogicalLine) -> (Option<Entry>, Vec<LineIssue>) {
    let text = line.text.as_str();
    let mut issues = Vec::new();
    // Bytes are never fewer than characters: count only when it matters.
    let chars = if text.len() > MAX_LINE {
        text.chars().count()
    } else {
        0
    };
    if chars > MAX_LINE {
        issues.push(LineIssue::warning(
            0,
            format!("line is {chars} characters long; FLEXlm accepts at most {MAX_LINE}"),
        ));
    }
    let pair = match LicenseGrammar::parse(Rule::line, text) {
        Ok(mut pairs) => pairs.next().and_then(|p| p.into_inner().next()),
        Err(e) => {
            issues.push(syntax_issue(text, &e));
            return (None, issues);
        }
    };
    let Some(pair) = pair else {
        issues.push(LineIssue::error(0, "empty line"));
        return (None, issues);
    };
    let mut b = LineBuilder {
        issues,
        items: Vec::new(),
    };
    let kind = match pair.as_rule() {
        Rule::server => b.server(pair),
        Rule::vendor => b.vendor(pair),
        Rule::use_server => b.use_server(pair),
        Rule::feature | Rule::upgrade => b.feature(pair),
        Rule::package => b.package(pair),
        Rule::featureset => b.featureset(pair),
        _ => None,
    };
    let failed = b.issues.iter().any(|i| i.severity == Severity::Error);
    for item in &mut b.items {
        item.at = line.position(item.range.start);
    }
    let entry = kind.filter(|_| !failed).map(|kind| Entry {
        line: line.first_line(),
        end_line: line.last_line(),
        source_range: line.source_range.clone(),
        text: line.text.clone(),
        items: b.items,
        kind,
    });
    (entry, b.issues)
}

/// Turns a pest error into "expected X, found Y" at the right column.
fn syntax_issue(text: &str, e: &pest::error::Error<Rule>) -> LineIssue {
    let offset = match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((p, _)) => p,
    };
    let rest = text.get(offset..).unwrap_or("");
    if rest.starts_with('"') && !rest[1..].contains('"') {
        return LineIssue::error(
            offset,
            "quoted string is not closed: expected a closing `\"`",
        );
    }
    let found = rest
        .split_whitespace()
        .next()
        .map_or_else(|| "end of line".to_string(), |t| format!("`{t}`"));
    let expected = match &e.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<&str> = positives.iter().map(|r| rule_name(*r)).collect();
            names.dedup();
            names.join(" or ")
        }
        pest::error::ErrorVariant::CustomError { message } => message.clone(),
    };
    let expected = if expected.is_empty() {
        "something else".to_string()
    } else {
        expected
    };
    LineIssue::error(offset, format!("expected {expected}, found {found}"))
}

fn rule_name(rule: Rule) -> &'static str {
    match rule {
        Rule::host => "a host name",
        Rule::hostid_field => "a hostid",
        Rule::vendor_name => "a vendor name",
        Rule::feature_name => "a feature name",
        Rule::version => "a version number (such as 1.0)",
        Rule::date => "an expiry date (dd-mmm-yyyy or permanent)",
        Rule::count => "a license count (a number or uncounted)",
        Rule::item
        | Rule::attribute
        | Rule::value
        | Rule::bare
        | Rule::quoted
        | Rule::bare_value => "keyword=value",
        Rule::EOI => "end of line",
        _ => "a license keyword",
    }
}

/// One item after the positional fields.
enum Item<'a> {
    Attr {
        name: &'a str,
        value: &'a str,
        value_offset: usize,
    },
    Quoted {
        inner: &'a str,
    },
    Bare(&'a str),
}

struct LineBuilder {
    issues: Vec<LineIssue>,
    items: Vec<ItemSpan>,
}

impl LineBuilder {
    fn error(&mut self, offset: usize, msg: impl Into<String>) {
        self.issues.push(LineIssue::error(offset, msg));
    }

    fn warn(&mut self, offset: usize, msg: impl Into<String>) {
        self.issues.push(LineIssue::warning(offset, msg));
    }

    /// Reads an `item` pair, recording where it sits.
    fn item<'a>(&mut self, pair: Pair<'a, Rule>) -> (usize, Item<'a>) {
        let offset = pair.as_span().start();
        let range = pair.as_span().start()..pair.as_span().end();
        let Some(inner) = pair.into_inner().next() else {
            self.items.push(ItemSpan {
                range,
                name: None,
                at: (0, 0),
            });
            return (offset, Item::Bare(""));
        };
        let item = match inner.as_rule() {
            Rule::attribute => {
                let mut parts = inner.into_inner();
                let name = parts.next().map_or("", |p| p.as_str());
                let value_pair = parts.next().and_then(|v| v.into_inner().next());
                let (value, value_offset) = match value_pair {
                    Some(v) if v.as_rule() == Rule::quoted => {
                        let inner = v.into_inner().next();
                        (
                            inner.as_ref().map_or("", |i| i.as_str()),
                            inner.map_or(offset, |i| i.as_span().start()),
                        )
                    }
                    Some(v) => (v.as_str(), v.as_span().start()),
                    None => ("", offset),
                };
                Item::Attr {
                    name,
                    value,
                    value_offset,
                }
            }
            Rule::quoted => Item::Quoted {
                inner: inner.into_inner().next().map_or("", |i| i.as_str()),
            },
            _ => Item::Bare(inner.as_str()),
        };
        let name = match &item {
            Item::Attr { name, .. } => Some((*name).to_string()),
            Item::Bare(w) if FLAGS.contains(w) => Some((*w).to_string()),
            _ => None,
        };
        self.items.push(ItemSpan {
            range,
            name,
            at: (0, 0),
        });
        (offset, item)
    }

    fn check_len(&mut self, pair: &Pair<Rule>, max: usize, what: &str) {
        let len = pair.as_str().chars().count();
        if len > max {
            self.warn(
                pair.as_span().start(),
                format!(
                    "{what} `{}` is {len} characters long; FLEXlm accepts at most {max}",
                    pair.as_str()
                ),
            );
        }
    }

    fn number(&mut self, offset: usize, name: &str, value: &str) -> Option<u32> {
        match value.trim().parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.error(
                    offset,
                    format!("{name}= needs a whole number, found `{value}`"),
                );
                None
            }
        }
    }

    fn port(&mut self, offset: usize, value: &str) -> Option<u16> {
        match value.parse::<u16>() {
            Ok(p) if p > 0 => Some(p),
            _ => {
                self.error(
                    offset,
                    format!("`{value}` is not a TCP port: expected 1-65535"),
                );
                None
            }
        }
    }

    /// `offset` is where `value` starts in the line; an error points at the
    /// id that is wrong, which may sit on a later physical line of a list.
    fn hostids(&mut self, offset: usize, value: &str) -> Option<Vec<HostId>> {
        match HostId::parse_list(value) {
            Ok(ids) => Some(ids),
            Err(e) => {
                let at = bad_hostid_at(value).map_or(offset, |i| offset + i);
                self.error(at, e.to_string());
                None
            }
        }
    }

    fn date(&mut self, offset: usize, what: &str, value: &str) -> Option<Expiry> {
        if value.len() > MAX_DATE {
            self.warn(
                offset,
                format!("{what} `{value}` is longer than {MAX_DATE} characters"),
            );
        }
        match Date::parse(value) {
            Ok(p) => {
                if p.two_digit_year {
                    self.warn(offset, format!("{what} `{value}` has a two-digit year, read as 19xx; write four digits"));
                }
                Some(p.expiry)
            }
            Err(e) => {
                self.error(offset, format!("{what}: {e}"));
                None
            }
        }
    }

    fn server(&mut self, pair: Pair<Rule>) -> Option<EntryKind> {
        let mut parts = pair.into_inner();
        parts.next(); // keyword
        let host = parts.next()?;
        self.check_len(&host, MAX_HOST_NAME, "host name");
        let hostid_pair = parts.next()?;
        let hostid_text = hostid_pair.as_str().trim_matches('"');
        let quote = usize::from(hostid_pair.as_str().starts_with('"'));
        let hostid_offset = hostid_pair.as_span().start() + quote;
        let hostids = self.hostids(hostid_offset, hostid_text).unwrap_or_default();
        let mut server = Server {
            host: host.as_str().to_string(),
            hostids,
            port: None,
            primary_is_master: false,
            server_timeout: None,
            heartbeat_interval: None,
        };
        for p in parts {
            match self.item(p) {
                (at, Item::Bare(w))
                    if w.bytes().all(|b| b.is_ascii_digit()) && server.port.is_none() =>
                {
                    server.port = self.port(at, w);
                }
                (_, Item::Bare("PRIMARY_IS_MASTER")) => server.primary_is_master = true,
                (
                    _,
                    Item::Attr {
                        name: "PORT",
                        value,
                        value_offset,
                    },
                ) if server.port.is_none() => {
                    server.port = self.port(value_offset, value);
                }
                (
                    _,
                    Item::Attr {
                        name: name @ ("SERVER_TIMEOUT" | "HEARTBEAT_INTERVAL"),
                        value,
                        value_offset,
                    },
                ) => {
                    let n = self.number(value_offset, name, value);
                    if n.is_some_and(|n| n > 120) {
                        self.warn(
                            value_offset,
                            format!("{name}={value} is outside FLEXlm's range of 0-120 seconds"),
                        );
                    }
                    if name == "SERVER_TIMEOUT" {
                        server.server_timeout = n;
                    } else {
                        server.heartbeat_interval = n;
                    }
                }
                (at, Item::Attr { name: "PLAT", .. }) => {
                    self.warn(at, "PLAT= is accepted and ignored")
                }
                (at, other) => self.unexpected(at, &other, "SERVER"),
            }
        }
        Some(EntryKind::Server(server))
    }

    fn unexpected(&mut self, at: usize, item: &Item, line: &str) {
        let shown = match item {
            Item::Attr { name, .. } => format!("`{name}=`"),
            Item::Quoted { inner } => format!("\"{inner}\""),
            Item::Bare(w) => format!("`{w}`"),
        };
        self.error(at, format!("unexpected {shown} on a {line} line"));
    }

    fn vendor(&mut self, pair: Pair<Rule>) -> Option<EntryKind> {
        let mut parts = pair.into_inner();
        let keyword = match parts.next()?.as_rule() {
            Rule::kw_daemon => VendorKeyword::Daemon,
            _ => VendorKeyword::Vendor,
        };
        let name = parts.next()?;
        self.check_len(&name, MAX_VENDOR_NAME, "vendor name");
        let mut v = Vendor {
            keyword,
            name: name.as_str().to_string(),
            path: None,
            options: None,
            port: None,
        };
        let mut positional = 0;
        for p in parts {
            let (at, item) = self.item(p);
            match item {
                Item::Attr {
                    name,
                    value,
                    value_offset,
                } if name.eq_ignore_ascii_case("OPTIONS") => {
                    v.options = Some(value.to_string());
                    let _ = value_offset;
                    // A bare word after OPTIONS= can only be the port.
                    positional = positional.max(2);
                }
                Item::Attr {
                    name,
                    value,
                    value_offset,
                } if name.eq_ignore_ascii_case("PORT") => {
                    v.port = self.port(value_offset, value);
                    positional = 3;
                }
                Item::Bare(w) | Item::Quoted { inner: w } if positional < 3 => {
                    match positional {
                        0 => v.path = Some(w.to_string()),
                        1 => v.options = Some(w.to_string()),
                        _ => v.port = self.port(at, w),
                    }
                    positional += 1;
                }
                other => self.unexpected(at, &other, "VENDOR"),
            }
        }
        Some(EntryKind::Vendor(v))
    }

    fn use_server(&mut self, pair: Pair<Rule>) -> Option<EntryKind> {
        if let Some(extra) = pair.into_inner().nth(1) {
            self.warn(
                extra.as_span().start(),
                "USE_SERVER takes no arguments; the rest of the line is ignored",
            );
        }
        Some(EntryKind::UseServer)
    }

    fn feature(&mut self, pair: Pair<Rule>) -> Option<EntryKind> {
        let is_upgrade = pair.as_rule() == Rule::upgrade;
        let mut parts = pair.into_inner();
        let kw = parts.next()?;
        let name = parts.next()?;
        self.check_len(&name, MAX_FEATURE_NAME, "feature name");
        let vendor = parts.next()?;
        self.check_len(&vendor, MAX_VENDOR_NAME, "vendor name");
        let from = if is_upgrade {
            Some(self.version(parts.next()?)?)
        } else {
            None
        };
        let version = self.version(parts.next()?)?;
        let date = parts.next()?;
        let expiry = self.date(date.as_span().start(), "expiry date", date.as_str())?;
        let count_pair = parts.next()?;
        let count = self.count(&count_pair)?;
        let kind = match (kw.as_rule(), from) {
            (_, Some(from)) => {
                if from >= version {
                    self.error(
                        kw.as_span().start(),
                        format!(
                        "UPGRADE from version {from} to {version}: the new version must be higher"
                    ),
                    );
                }
                FeatureKind::Upgrade { from }
            }
            (Rule::kw_increment, None) => FeatureKind::Increment,
            _ => FeatureKind::Feature,
        };
        let mut f = Feature {
            kind,
            name: name.as_str().to_string(),
            vendor: vendor.as_str().to_string(),
            version,
            expiry,
            count,
            legacy_key: None,
            old_format: false,
            hostids: None,
            vendor_string: None,
            start: None,
            issued: None,
            overdraft: 0,
            dup_group: None,
            suite_dup_group: None,
            borrow_hours: None,
            float_ok: None,
            user_based: None,
            host_based: None,
            platforms: Vec::new(),
            supersede: None,
            serial: None,
            notice: None,
            issuer: None,
            ts_ok: false,
            sort: None,
            ck: None,
            attributes: Vec::new(),
            signature: SignField::Missing,
        };
        let line_start = kw.as_span().start();
        let mut sign: Option<String> = None;
        let mut auth: Option<String> = None;
        let mut seen_attr = false;
        for p in parts {
            let (at, item) = self.item(p);
            // The pre-v3 form puts "vendor string" and then a hostid right
            // after the key, before any keyword=value.
            let positional_slot = f.old_format && f.hostids.is_none() && !seen_attr;
            match item {
                Item::Attr { name, value, .. }
                    if positional_slot
                        && HOSTID_TYPES.iter().any(|t| t.eq_ignore_ascii_case(name)) =>
                {
                    let text = format!("{name}={value}");
                    self.positional_hostid(&mut f, at, &text);
                }
                Item::Attr {
                    name,
                    value,
                    value_offset,
                } => {
                    seen_attr = true;
                    match name {
                        "SIGN" => sign = Some(value.to_string()),
                        "AUTH" => auth = Some(value.to_string()),
                        _ => {}
                    }
                    self.feature_attr(&mut f, at, name, Some(value), value_offset);
                }
                Item::Quoted { inner } if !seen_attr && !f.old_format => {
                    f.old_format = true;
                    f.vendor_string = Some(collapse(inner));
                    f.attributes.push(Attribute {
                        name: "VENDOR_STRING".into(),
                        value: Some(inner.to_string()),
                    });
                }
                Item::Bare(w) if FLAGS.contains(&w) => {
                    seen_attr = true;
                    self.feature_attr(&mut f, at, w, None, at);
                }
                Item::Bare(w) if positional_slot => self.positional_hostid(&mut f, at, w),
                // `=value` with no name before it is a typo, not a key.
                Item::Bare(w)
                    if f.legacy_key.is_none()
                        && !seen_attr
                        && !f.old_format
                        && !w.starts_with('=') =>
                {
                    f.legacy_key = Some(w.to_string());
                }
                Item::Bare(w)
                    if !w.is_empty()
                        && w.bytes()
                            .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit())
                        && w.as_bytes()[0].is_ascii_uppercase()
                        && !w.bytes().all(|b| b.is_ascii_hexdigit()) =>
                {
                    seen_attr = true;
                    self.warn(
                        at,
                        format!("unknown flag `{w}`: kept, and covered by the signature"),
                    );
                    f.attributes.push(Attribute {
                        name: w.to_string(),
                        value: None,
                    });
                }
                other => self.unexpected(at, &other, kw.as_str()),
            }
        }
        f.signature = match (sign, auth, &f.legacy_key) {
            (Some(s), _, _) => SignField::parse(&s),
            (None, Some(a), _) => SignField::Legacy(a),
            (None, None, Some(k)) => SignField::Legacy(k.clone()),
            (None, None, None) => SignField::Missing,
        };
        self.feature_rules(&f, line_start, &count_pair);
        Some(EntryKind::Feature(f))
    }

    fn version(&mut self, pair: Pair<Rule>) -> Option<Version> {
        self.check_len(&pair, MAX_VERSION, "version");
        let v = Version::parse(pair.as_str());
        if v.is_none() {
            self.error(
                pair.as_span().start(),
                format!("`{}` is not a version number", pair.as_str()),
            );
        }
        if v.as_ref().is_some_and(|v| v.decimals() > 3) {
            self.warn(
                pair.as_span().start(),
                format!("version `{}` has more than 3 decimals", pair.as_str()),
            );
        }
        v
    }

    fn count(&mut self, pair: &Pair<Rule>) -> Option<u32> {
        let t = pair.as_str();
        if t.eq_ignore_ascii_case("uncounted") {
            return Some(0);
        }
        match t.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.error(
                    pair.as_span().start(),
                    format!("license count `{t}` is too large"),
                );
                None
            }
        }
    }

    fn positional_hostid(&mut self, f: &mut Feature, at: usize, text: &str) {
        f.hostids = self.hostids(at, text);
        f.attributes.push(Attribute {
            name: "HOSTID".into(),
            value: Some(text.to_string()),
        });
    }

    /// Records one attribute of a FEATURE-like line and fills the typed field.
    fn feature_attr(
        &mut self,
        f: &mut Feature,
        at: usize,
        name: &str,
        value: Option<&str>,
        value_offset: usize,
    ) {
        if name != "SIGN"
            && name != "SIGN2"
            && name != "AUTH"
            && f.attributes.iter().any(|a| a.name == name)
        {
            self.error(at, format!("{name} appears twice on this line"));
            return;
        }
        if name.bytes().any(|b| b.is_ascii_lowercase()) {
            if !USER_ATTRS.contains(&name) {
                self.warn(
                    at,
                    format!("unknown attribute `{name}`: kept, not covered by the signature"),
                );
            }
        } else if !FEATURE_ATTRS.contains(&name) {
            self.warn(
                at,
                format!("unknown attribute `{name}`: kept, and covered by the signature"),
            );
        }
        let v = value.unwrap_or("");
        match (name, value) {
            ("HOSTID", Some(v)) => f.hostids = self.hostids(value_offset, v),
            ("VENDOR_STRING", Some(v)) => f.vendor_string = Some(collapse(v)),
            ("START", Some(v)) => match self.date(value_offset, "START", v) {
                Some(Expiry::On(d)) => f.start = Some(d),
                Some(Expiry::Permanent) => self.error(value_offset, "START= needs a real date"),
                None => {}
            },
            ("ISSUED", Some(v)) => match self.date(value_offset, "ISSUED", v) {
                Some(Expiry::On(d)) => f.issued = Some(d),
                Some(Expiry::Permanent) => self.error(value_offset, "ISSUED= needs a real date"),
                None => {}
            },
            ("OVERDRAFT", Some(v)) => f.overdraft = self.number(value_offset, name, v).unwrap_or(0),
            ("DUP_GROUP" | "SUITE_DUP_GROUP", Some(v)) => {
                let g = DupGroup::parse(v);
                if g.is_none() {
                    self.error(
                        value_offset,
                        format!("{name}={v}: expected NONE, SITE or letters from UHDV"),
                    );
                }
                if name == "DUP_GROUP" {
                    f.dup_group = g;
                } else {
                    f.suite_dup_group = g;
                }
            }
            ("BORROW", None) => f.borrow_hours = Some(168),
            ("BORROW", Some(v)) => f.borrow_hours = self.number(value_offset, name, v),
            ("FLOAT_OK", None) => f.float_ok = Some(None),
            ("FLOAT_OK", Some(v)) => {
                f.float_ok = self
                    .hostids(value_offset, v)
                    .map(|ids| ids.into_iter().next());
            }
            ("USER_BASED", None) => f.user_based = Some(None),
            ("USER_BASED", Some(v)) => f.user_based = Some(self.number(value_offset, name, v)),
            ("HOST_BASED", None) => f.host_based = Some(None),
            ("HOST_BASED", Some(v)) => f.host_based = Some(self.number(value_offset, name, v)),
            ("PLATFORMS", Some(v)) => {
                f.platforms = v.split_whitespace().map(str::to_string).collect()
            }
            ("SUPERSEDE", None) => f.supersede = Some(Vec::new()),
            ("SUPERSEDE", Some(v)) => {
                f.supersede = Some(v.split_whitespace().map(str::to_string).collect())
            }
            ("SN", Some(v)) => f.serial = Some(v.to_string()),
            ("NOTICE", Some(v)) => f.notice = Some(collapse(v)),
            ("ISSUER", Some(v)) => f.issuer = Some(collapse(v)),
            ("TS_OK", _) => f.ts_ok = true,
            ("sort", Some(v)) => f.sort = self.number(value_offset, name, v),
            ("ck", Some(v)) => f.ck = self.number(value_offset, name, v),
            _ => {}
        }
        let _ = v;
        f.attributes.push(Attribute {
            name: name.to_string(),
            value: value.map(str::to_string),
        });
    }

    /// Rules that involve several fields of a FEATURE-like line.
    fn feature_rules(&mut self, f: &Feature, at: usize, count_pair: &Pair<Rule>) {
        // A HOSTID= that was written but is bad has its own error already.
        let hostid_written = f.attributes.iter().any(|a| a.name == "HOSTID");
        if !f.is_counted() && f.hostids.is_none() && !hostid_written {
            self.error(
                count_pair.as_span().start(),
                "an uncounted line must be locked with HOSTID= (or DEMO/ANY)",
            );
        }
        if f.is_counted() && f.is_demo() {
            self.error(
                count_pair.as_span().start(),
                "HOSTID=DEMO is only allowed on uncounted lines",
            );
        }
        if !f.is_counted() && matches!(f.kind, FeatureKind::Upgrade { .. }) {
            self.error(
                count_pair.as_span().start(),
                "UPGRADE does not work on uncounted lines",
            );
        }
        if let (Some(start), Expiry::On(end)) = (f.start, f.expiry) {
            if start > end {
                self.warn(
                    at,
                    format!(
                        "START={start} is after the expiry date {end}: the line can never be used"
                    ),
                );
            }
        }
    }

    fn package(&mut self, pair: Pair<Rule>) -> Option<EntryKind> {
        let mut parts = pair.into_inner();
        let kw = parts.next()?;
        let name = parts.next()?;
        self.check_len(&name, MAX_FEATURE_NAME, "package name");
        let vendor = parts.next()?;
        let mut p = Package {
            name: name.as_str().to_string(),
            vendor: vendor.as_str().to_string(),
            version: None,
            legacy_key: None,
            components: Vec::new(),
            suite: false,
            attributes: Vec::new(),
            signature: SignField::Missing,
        };
        let mut seen_attr = false;
        let mut sign = None;
        let mut components_at = None;
        for item in parts {
            let (at, item) = self.item(item);
            match item {
                Item::Bare(w)
                    if !seen_attr
                        && p.version.is_none()
                        && p.legacy_key.is_none()
                        && Version::parse(w).is_some() =>
                {
                    p.version = Version::parse(w);
                }
                Item::Bare("SUPERSEDE") => {
                    seen_attr = true;
                    p.attributes.push(Attribute {
                        name: "SUPERSEDE".into(),
                        value: None,
                    });
                }
                Item::Bare(w) if !seen_attr && p.legacy_key.is_none() && !w.starts_with('=') => {
                    p.legacy_key = Some(w.to_string())
                }
                Item::Attr {
                    name,
                    value,
                    value_offset,
                } => {
                    seen_attr = true;
                    if p.attributes.iter().any(|a| a.name == name) && name != "SIGN" {
                        self.error(at, format!("{name} appears twice on this line"));
                        continue;
                    }
                    match name {
                        "COMPONENTS" => {
                            components_at = Some(value_offset);
                            p.components = self.components(value_offset, value);
                        }
                        "OPTIONS" => {
                            if value.eq_ignore_ascii_case("SUITE") {
                                p.suite = true;
                            } else {
                                self.error(value_offset, format!("OPTIONS={value}: the only package option is SUITE"));
                            }
                        }
                        "SIGN" => sign = Some(value.to_string()),
                        "ISSUED" | "SUPERSEDE" | "SIGN2" | "AUTH" | "ck" | "sort" => {}
                        n if n.bytes().any(|b| b.is_ascii_lowercase()) => {
                            if !USER_ATTRS.contains(&n) {
                                self.warn(at, format!("unknown attribute `{n}`: kept, not covered by the signature"));
                            }
                        }
                        n => self.warn(at, format!("unknown attribute `{n}` on a PACKAGE line: kept, and covered by the signature")),
                    }
                    p.attributes.push(Attribute {
                        name: name.to_string(),
                        value: Some(value.to_string()),
                    });
                }
                other => self.unexpected(at, &other, "PACKAGE"),
            }
        }
        match components_at {
            None => self.error(
                kw.as_span().start(),
                "a PACKAGE line needs COMPONENTS=\"...\"",
            ),
            Some(at) if p.suite && p.components.iter().any(|c| c.count.is_some()) => {
                self.error(
                    at,
                    "component counts (name:version:count) are not allowed with OPTIONS=SUITE",
                );
            }
            _ => {}
        }
        p.signature = match (sign, &p.legacy_key) {
            (Some(s), _) => SignField::parse(&s),
            (None, Some(k)) => SignField::Legacy(k.clone()),
            (None, None) => SignField::Missing,
        };
        Some(EntryKind::Package(p))
    }

    fn components(&mut self, at: usize, value: &str) -> Vec<Component> {
        let mut out = Vec::new();
        for word in value.split_whitespace() {
            let mut parts = word.split(':');
            let name = parts.next().unwrap_or("");
            let version = parts.next();
            let count = parts.next();
            if name.is_empty() || parts.next().is_some() {
                self.error(
                    at,
                    format!("component `{word}`: expected feature[:version[:count]]"),
                );
                continue;
            }
            let version = match version {
                None => None,
                Some(v) => match Version::parse(v) {
                    Some(v) => Some(v),
                    None => {
                        self.error(
                            at,
                            format!("component `{word}`: `{v}` is not a version number"),
                        );
                        continue;
                    }
                },
            };
            let count = match count {
                None => None,
                Some(c) => match c.parse::<u32>() {
                    Ok(n) if n > 0 => Some(n),
                    _ => {
                        self.error(
                            at,
                            format!("component `{word}`: `{c}` is not a positive count"),
                        );
                        continue;
                    }
                },
            };
            out.push(Component {
                name: name.to_string(),
                version,
                count,
            });
        }
        if out.is_empty() {
            self.error(at, "COMPONENTS= lists no component");
        }
        out
    }

    fn featureset(&mut self, pair: Pair<Rule>) -> Option<EntryKind> {
        let mut parts = pair.into_inner();
        parts.next();
        let vendor = parts.next()?.as_str().to_string();
        let mut fs = FeatureSet {
            vendor,
            legacy_key: None,
            ck: None,
            signature: SignField::Missing,
        };
        let mut sign = None;
        for item in parts {
            match self.item(item) {
                (_, Item::Bare(w))
                    if fs.legacy_key.is_none() && sign.is_none() && !w.starts_with('=') =>
                {
                    fs.legacy_key = Some(w.to_string())
                }
                (
                    _,
                    Item::Attr {
                        name: "SIGN",
                        value,
                        ..
                    },
                ) => sign = Some(value.to_string()),
                (
                    _,
                    Item::Attr {
                        name: "ck",
                        value,
                        value_offset,
                    },
                ) => fs.ck = self.number(value_offset, "ck", value),
                (at, other) => self.unexpected(at, &other, "FEATURESET"),
            }
        }
        fs.signature = match (sign, &fs.legacy_key) {
            (Some(s), _) => SignField::parse(&s),
            (None, Some(k)) => SignField::Legacy(k.clone()),
            (None, None) => SignField::Missing,
        };
        Some(EntryKind::FeatureSet(fs))
    }
}

/// Byte offset of the first word of a hostid list that is not a hostid.
fn bad_hostid_at(list: &str) -> Option<usize> {
    let mut pos = 0;
    for word in list.split_whitespace() {
        let start = pos + list[pos..].find(word)?;
        if HostId::parse(word).is_err() {
            return Some(start);
        }
        pos = start + word.len();
    }
    None
}

/// Free text in quotes: runs of white space count as one space.
fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_parse_matches_one_thread() {
        let mut text = String::from("SERVER this_host ANY 27000\nVENDOR demo\n");
        for i in 0..(PARALLEL_FROM * 2 + 17) {
            match i % 5 {
                0 => text.push_str(&format!(
                    "FEATURE f{i} demo 1.0 permanent {i} \\\n\tNOTICE=\"n {i}\"\n"
                )),
                1 => text.push_str(&format!("INCREMENT f{i} demo 1.0 31-foo-2030 2\n")),
                2 => text.push_str("# a comment\n"),
                3 => text.push_str(&format!("FEATUER f{i}\n")),
                _ => text.push_str(&format!(
                    "FEATURE f{i} demo {i}.5 1-jan-2030 uncounted HOSTID=ANY\n"
                )),
            }
        }
        let parallel = parse_license("big.lic", &text);
        let (entries, diagnostics) = parse_lines("big.lic", &logical_lines(&text));
        assert_eq!(parallel.diagnostics, diagnostics);
        assert_eq!(format!("{:?}", parallel.entries), format!("{entries:?}"));
        assert!(
            logical_lines(&text).len() > PARALLEL_FROM,
            "the file is large enough to be split"
        );
    }
}
