//! From options-file text to [`Statement`]s: logical lines, the pest
//! grammar, and the checks the grammar cannot make (numbers in range, IP
//! address parts, filter values).

use super::matching::parse_ip_pattern;
use super::model::*;
use crate::date::Date;
use crate::diag::{Diagnostic, LineIssue, Severity};
use crate::hostid::HostId;
use crate::source::{logical_lines, LogicalLine};
use crate::version::Version;
use pest::iterators::Pair;
use pest::Parser as _;

#[derive(pest_derive::Parser)]
#[grammar = "options.pest"]
struct OptionsGrammar;

/// Every keyword the grammar knows, for "did you mean" hints.
const KEYWORDS: [&str; 31] = [
    "INCLUDE",
    "INCLUDEALL",
    "EXCLUDE",
    "EXCLUDEALL",
    "INCLUDE_BORROW",
    "EXCLUDE_BORROW",
    "RESERVE",
    "MAX",
    "MAX_OVERDRAFT",
    "GROUP",
    "USER_GROUP",
    "HOST_GROUP",
    "GROUPCASEINSENSITIVE",
    "TIMEOUT",
    "TIMEOUTALL",
    "LINGER",
    "NOLOG",
    "REPORTLOG",
    "DEBUGLOG",
    "BORROW_LOWWATER",
    "MAX_BORROW_HOURS",
    "AUTOMATIC_REREAD",
    "FQDN_MATCHING",
    "DAEMON_SELECT_TIMEOUT",
    "MAX_CONNECTIONS",
    "ACTIVATION_LOWWATER",
    "ACTIVATION_EXPIRY_DAYS",
    "INCLUDE_ENTITLEMENT",
    "INCLUDEALL_ENTITLEMENT",
    "EXCLUDE_ENTITLEMENT",
    "EXCLUDEALL_ENTITLEMENT",
];

/// Keywords whose line ends with `type name`.
const TYPED: [&str; 8] = [
    "INCLUDE",
    "INCLUDEALL",
    "EXCLUDE",
    "EXCLUDEALL",
    "INCLUDE_BORROW",
    "EXCLUDE_BORROW",
    "RESERVE",
    "MAX",
];

const TYPES: [&str; 8] = [
    "USER",
    "HOST",
    "DISPLAY",
    "INTERNET",
    "PROJECT",
    "GROUP",
    "USER_GROUP",
    "HOST_GROUP",
];

/// Parses a whole options file. Never fails and never panics: lines that
/// cannot be understood are reported and left out.
pub(super) fn parse_statements(name: &str, src: &str) -> (Vec<Statement>, Vec<Diagnostic>) {
    let mut statements = Vec::new();
    let mut diags = Vec::new();
    for line in logical_lines(src) {
        let t = line
            .text
            .trim_start_matches(|c: char| c.is_whitespace() || c == '\u{FEFF}');
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let (kind, issues) = parse_line(&line);
        for issue in &issues {
            let (l, c) = line.position(issue.offset);
            diags.push(Diagnostic {
                severity: issue.severity,
                file: name.to_string(),
                line: l,
                column: c,
                message: issue.message.clone(),
            });
        }
        let failed = issues.iter().any(|i| i.severity == Severity::Error);
        if let (Some(kind), false) = (kind, failed) {
            statements.push(Statement {
                line: line.first_line(),
                end_line: line.last_line(),
                kind,
            });
        }
    }
    (statements, diags)
}

fn parse_line(line: &LogicalLine) -> (Option<StatementKind>, Vec<LineIssue>) {
    let text = line.text.as_str();
    let pair = match OptionsGrammar::parse(Rule::line, text) {
        Ok(mut pairs) => pairs.next().and_then(|p| p.into_inner().next()),
        Err(e) => return (None, vec![syntax_issue(text, &e)]),
    };
    let Some(pair) = pair else {
        return (None, vec![LineIssue::error(0, "empty line")]);
    };
    let mut r = LineReader {
        line,
        issues: Vec::new(),
    };
    let kind = r.statement(pair);
    (kind, r.issues)
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
    let word = rest.split_whitespace().next();
    let found = word.map_or_else(|| "end of line".to_string(), |t| format!("`{t}`"));
    let mut names: Vec<&str> = Vec::new();
    if let pest::error::ErrorVariant::ParsingError { positives, .. } = &e.variant {
        for r in positives {
            let n = rule_name(*r);
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    // "end of line" reads best as the last choice.
    names.sort_by_key(|n| *n == EOL);
    let expected = match names.as_slice() {
        [] => "something else".to_string(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    };
    let mut message = format!("expected {expected}, found {found}");
    let keyword = text
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    if names == [KEYWORD] {
        if let Some(kw) = word.and_then(near_keyword) {
            message.push_str(&format!(" (did you mean {kw}?)"));
        }
    } else if names == [EOL] && word.is_some_and(|w| w.starts_with('#')) {
        message.push_str(": a comment must be on a line of its own");
    } else if names == [EOL] && TYPED.contains(&keyword.as_str()) {
        message.push_str(": a type names one member; list several in a GROUP or HOST_GROUP");
    } else if names == [TYPE] && rest.starts_with('=') {
        message.push_str(": a feature is narrowed with feature:KEYWORD=value");
    } else if names == [TYPE] && offset > 0 {
        // `INCLUDE USER bob`: the feature is missing, so the type was read as one.
        let before = text[..offset].split_whitespace().last().unwrap_or("");
        if TYPES.iter().any(|t| t.eq_ignore_ascii_case(before)) {
            message.push_str(&format!(
                " (`{before}` was read as the feature name: expected feature[:keyword=value] before the type)"
            ));
        }
    }
    LineIssue::error(offset, message)
}

const KEYWORD: &str = "an options keyword";
const EOL: &str = "end of line";
const TYPE: &str = "a type (USER, HOST, DISPLAY, INTERNET, PROJECT, GROUP or HOST_GROUP)";

fn rule_name(rule: Rule) -> &'static str {
    match rule {
        Rule::feature | Rule::feature_name => "a feature name",
        Rule::filter | Rule::filter_key => {
            "a feature keyword (VERSION, HOSTID, EXPDATE, KEY, SIGN, VENDOR_STRING, ISSUER, NOTICE, dist_info, user_info or asset_info)"
        }
        Rule::filter_value | Rule::bare_value => "a value",
        Rule::who
        | Rule::who_user
        | Rule::who_host
        | Rule::who_display
        | Rule::who_internet
        | Rule::who_project
        | Rule::who_group
        | Rule::who_host_group
        | Rule::t_user
        | Rule::t_host
        | Rule::t_display
        | Rule::t_internet
        | Rule::t_project
        | Rule::t_group
        | Rule::t_host_group => TYPE,
        Rule::user_name | Rule::member => "a user name",
        Rule::host_name | Rule::host_member => "a host name or IP address",
        Rule::display_name => "a display name",
        Rule::project_name => "a project name",
        Rule::group_ref | Rule::group_name => "a group name",
        Rule::host_group_ref => "a host group name",
        Rule::address => "an IP address (such as 10.1.*.*)",
        Rule::count => "a number of licenses",
        Rule::seconds => "a number of seconds",
        Rule::hours => "a number of hours",
        Rule::number => "a number",
        Rule::on_off => "ON or OFF",
        Rule::fqdn_mode => "exact or lenient",
        Rule::log_class => "a log class (IN, OUT, DENIED, QUEUED or UNSUPPORTED)",
        Rule::log_path | Rule::path | Rule::quoted | Rule::append => "a file path",
        Rule::EOI => EOL,
        _ => KEYWORD,
    }
}

/// A keyword the word is probably a misspelling of: one letter changed,
/// added or left out, or two neighbours swapped.
fn near_keyword(word: &str) -> Option<&'static str> {
    let upper = word.to_ascii_uppercase();
    let w = upper.as_bytes();
    if w.len() < 3 {
        return None;
    }
    KEYWORDS.into_iter().find(|kw| {
        let k = kw.as_bytes();
        match k.len() as isize - w.len() as isize {
            0 => {
                let diff: Vec<usize> = (0..k.len()).filter(|&i| k[i] != w[i]).collect();
                diff.len() == 1
                    || (diff.len() == 2
                        && diff[1] == diff[0] + 1
                        && k[diff[0]] == w[diff[1]]
                        && k[diff[1]] == w[diff[0]])
            }
            1 => (0..k.len()).any(|i| k[..i] == w[..i] && k[i + 1..] == w[i..]),
            -1 => (0..w.len()).any(|i| w[..i] == k[..i] && w[i + 1..] == k[i..]),
            _ => false,
        }
    })
}

/// Reads the pairs of one parsed line into a statement, collecting the
/// findings the grammar cannot make.
struct LineReader<'l> {
    line: &'l LogicalLine,
    issues: Vec<LineIssue>,
}

impl LineReader<'_> {
    fn error(&mut self, offset: usize, msg: impl Into<String>) {
        self.issues.push(LineIssue::error(offset, msg));
    }

    fn warn(&mut self, offset: usize, msg: impl Into<String>) {
        self.issues.push(LineIssue::warning(offset, msg));
    }

    fn statement(&mut self, pair: Pair<Rule>) -> Option<StatementKind> {
        let rule = pair.as_rule();
        let mut parts = pair.into_inner();
        let kw = parts.next()?;
        let kind = match rule {
            Rule::include | Rule::exclude | Rule::include_borrow | Rule::exclude_borrow => {
                let list = match rule {
                    Rule::include => AccessList::Include,
                    Rule::exclude => AccessList::Exclude,
                    Rule::include_borrow => AccessList::IncludeBorrow,
                    _ => AccessList::ExcludeBorrow,
                };
                let feature = self.feature(parts.next()?);
                let who = self.who(parts.next()?);
                StatementKind::Access {
                    list,
                    feature: Some(feature?),
                    who: who?,
                }
            }
            Rule::include_all | Rule::exclude_all => StatementKind::Access {
                list: if rule == Rule::include_all {
                    AccessList::IncludeAll
                } else {
                    AccessList::ExcludeAll
                },
                feature: None,
                who: self.who(parts.next()?)?,
            },
            Rule::reserve | Rule::max => {
                let count = self.number(&parts.next()?);
                let feature = self.feature(parts.next()?);
                let who = self.who(parts.next()?);
                let (count, feature, who) = (count?, feature?, who?);
                if rule == Rule::reserve {
                    if count == 0 {
                        self.warn(kw.as_span().start(), "RESERVE 0 reserves nothing");
                    }
                    StatementKind::Reserve {
                        count,
                        feature,
                        who,
                    }
                } else {
                    StatementKind::Max {
                        count,
                        feature,
                        who,
                    }
                }
            }
            Rule::max_overdraft | Rule::borrow_lowwater => {
                let feature = self.feature(parts.next()?);
                let count = self.number(&parts.next()?);
                let (feature, count) = (feature?, count?);
                if rule == Rule::max_overdraft {
                    StatementKind::MaxOverdraft { feature, count }
                } else {
                    StatementKind::BorrowLowwater { feature, count }
                }
            }
            Rule::timeout | Rule::linger => {
                let feature = self.feature(parts.next()?);
                let seconds = self.number(&parts.next()?);
                let (feature, seconds) = (feature?, seconds?);
                if rule == Rule::timeout {
                    StatementKind::Timeout { feature, seconds }
                } else {
                    StatementKind::Linger { feature, seconds }
                }
            }
            Rule::max_borrow_hours => {
                let feature = self.feature(parts.next()?);
                let hours = self.number(&parts.next()?);
                StatementKind::MaxBorrowHours {
                    feature: feature?,
                    hours: hours?,
                }
            }
            Rule::timeout_all => StatementKind::TimeoutAll {
                seconds: self.number(&parts.next()?)?,
            },
            Rule::daemon_select_timeout => {
                StatementKind::DaemonSelectTimeout(self.number(&parts.next()?)?)
            }
            Rule::max_connections => StatementKind::MaxConnections(self.number(&parts.next()?)?),
            Rule::group | Rule::host_group => {
                let name = parts.next()?.as_str().to_string();
                let mut members = Vec::new();
                for m in parts {
                    if rule == Rule::host_group && looks_like_address(m.as_str()) {
                        self.address(&m)?;
                    }
                    members.push(m.as_str().to_string());
                }
                if rule == Rule::group {
                    StatementKind::Group { name, members }
                } else {
                    StatementKind::HostGroup { name, members }
                }
            }
            Rule::group_case => StatementKind::GroupCaseInsensitive(on(&parts.next()?)),
            Rule::automatic_reread => StatementKind::AutomaticReread(on(&parts.next()?)),
            Rule::fqdn_matching => {
                let mode = parts.next()?;
                StatementKind::FqdnMatching(if mode.as_str().eq_ignore_ascii_case("exact") {
                    FqdnMatching::Exact
                } else {
                    FqdnMatching::Lenient
                })
            }
            Rule::nolog => StatementKind::NoLog(
                parts
                    .map(|p| match p.as_str().to_ascii_uppercase().as_str() {
                        "IN" => LogClass::In,
                        "OUT" => LogClass::Out,
                        "DENIED" => LogClass::Denied,
                        "QUEUED" => LogClass::Queued,
                        _ => LogClass::Unsupported,
                    })
                    .collect(),
            ),
            Rule::reportlog | Rule::debuglog => {
                let file = self.log_file(parts.next()?)?;
                if rule == Rule::reportlog {
                    StatementKind::ReportLog(file)
                } else {
                    StatementKind::DebugLog(file)
                }
            }
            Rule::unsupported => {
                let keyword = kw.as_str().to_ascii_uppercase();
                self.warn(
                    kw.as_span().start(),
                    format!("{keyword} applies to trusted storage, which this license server does not use: line ignored"),
                );
                StatementKind::Unsupported { keyword }
            }
            _ => return None,
        };
        Some(kind)
    }

    fn number(&mut self, pair: &Pair<Rule>) -> Option<u32> {
        match pair.as_str().parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.error(
                    pair.as_span().start(),
                    format!("`{}` is too large: at most {}", pair.as_str(), u32::MAX),
                );
                None
            }
        }
    }

    fn feature(&mut self, pair: Pair<Rule>) -> Option<FeatureSpec> {
        let mut parts = pair.into_inner();
        let name = parts.next()?.as_str().to_string();
        let filter = match parts.next() {
            Some(f) => Some(self.filter(f)?),
            None => None,
        };
        Some(FeatureSpec { name, filter })
    }

    fn filter(&mut self, pair: Pair<Rule>) -> Option<Filter> {
        let mut parts = pair.into_inner();
        let key = parts.next()?.as_str().to_ascii_uppercase();
        let value_pair = parts.next()?.into_inner().next()?;
        let (value, at) = if value_pair.as_rule() == Rule::quoted {
            let start = value_pair.as_span().start() + 1;
            let inner = value_pair.into_inner().next();
            (inner.map_or("", |i| i.as_str()), start)
        } else {
            (value_pair.as_str(), value_pair.as_span().start())
        };
        let text = || collapse(value);
        Some(match key.as_str() {
            "VERSION" => match Version::parse(value.trim()) {
                Some(v) => Filter::Version(v),
                None => {
                    self.error(at, format!("`{value}` is not a version number"));
                    return None;
                }
            },
            "HOSTID" => match HostId::parse_list(value) {
                Ok(ids) => Filter::HostId(ids),
                Err(e) => {
                    self.error(at, format!("HOSTID: {e}"));
                    return None;
                }
            },
            "EXPDATE" => match Date::parse(value.trim()) {
                Ok(d) => Filter::ExpDate(d.expiry),
                Err(e) => {
                    self.error(at, format!("EXPDATE: {e}"));
                    return None;
                }
            },
            "KEY" => Filter::Key(value.trim().to_string()),
            "SIGN" => Filter::Sign(value.trim().to_string()),
            "VENDOR_STRING" => Filter::VendorString(text()),
            "ISSUER" => Filter::Issuer(text()),
            "NOTICE" => Filter::Notice(text()),
            "DIST_INFO" => Filter::DistInfo(text()),
            "USER_INFO" => Filter::UserInfo(text()),
            _ => Filter::AssetInfo(text()),
        })
    }

    fn who(&mut self, pair: Pair<Rule>) -> Option<Who> {
        let inner = pair.into_inner().next()?;
        let rule = inner.as_rule();
        let name_pair = inner.into_inner().nth(1)?;
        let kind = match rule {
            Rule::who_user => WhoKind::User,
            Rule::who_host => WhoKind::Host,
            Rule::who_display => WhoKind::Display,
            Rule::who_internet => WhoKind::Internet,
            Rule::who_project => WhoKind::Project,
            Rule::who_group => WhoKind::Group,
            _ => WhoKind::HostGroup,
        };
        if kind == WhoKind::Internet
            || (kind == WhoKind::Host && looks_like_address(name_pair.as_str()))
        {
            self.address(&name_pair)?;
        }
        Some(Who {
            kind,
            name: name_pair.as_str().to_string(),
            at: self.line.position(name_pair.as_span().start()),
        })
    }

    fn address(&mut self, pair: &Pair<Rule>) -> Option<()> {
        match parse_ip_pattern(pair.as_str()) {
            Some(_) => Some(()),
            None => {
                self.error(
                    pair.as_span().start(),
                    format!(
                        "`{}` is not an IP address: expected four parts, each 0-255 or *",
                        pair.as_str()
                    ),
                );
                None
            }
        }
    }

    fn log_file(&mut self, pair: Pair<Rule>) -> Option<LogFile> {
        let start = pair.as_span().start();
        let mut append = false;
        let mut path = "";
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::append => append = true,
                Rule::quoted => path = p.into_inner().next().map_or("", |i| i.as_str()),
                _ => path = p.as_str(),
            }
        }
        if path.trim().is_empty() {
            self.error(start, "expected a file path, found an empty one");
            return None;
        }
        Some(LogFile {
            path: path.to_string(),
            append,
        })
    }
}

fn on(pair: &Pair<Rule>) -> bool {
    pair.as_str().eq_ignore_ascii_case("on")
}

/// A host written with digits, dots and `*` only is an IP address.
pub(super) fn looks_like_address(name: &str) -> bool {
    name.contains('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'*')
}

/// Free text: runs of white space count as one space, as in the license file.
fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_keywords() {
        assert_eq!(near_keyword("INCLUD"), Some("INCLUDE"));
        assert_eq!(near_keyword("exlcude"), Some("EXCLUDE"));
        assert_eq!(near_keyword("RESERVES"), Some("RESERVE"));
        assert_eq!(near_keyword("TIMEOUTAL"), Some("TIMEOUTALL"));
        assert_eq!(near_keyword("BANANA"), None);
        assert_eq!(near_keyword("MA"), None);
    }

    #[test]
    fn addresses_are_recognised_by_shape() {
        assert!(looks_like_address("10.1.*.*"));
        assert!(looks_like_address("10.1.2"));
        assert!(!looks_like_address("build7.example.com"));
        assert!(!looks_like_address("1234"));
    }
}
