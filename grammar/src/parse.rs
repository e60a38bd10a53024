//! From text to the typed model: logical lines, the pest grammar, and the
//! classification of each line's items.

use crate::date::{Date, Expiry};
use crate::diag::{Diagnostic, LineIssue, Severity};
use crate::hostid::HostId;
use crate::model::*;
use crate::signature::SignField;
use crate::small_str::SmallStr;
use crate::source::{cut_points, logical_lines, logical_lines_in, LogicalLine};
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
    parse_license_with(name, src, true)
}

/// [`parse_license`], with the hand-written tokenizer turned on or off.
/// Both give the same result; this exists so tests can compare them.
#[doc(hidden)]
pub fn parse_license_with(name: &str, src: &str, use_fast_path: bool) -> LicenseFile {
    // Logical lines are independent, so a large file is cut into stretches
    // that are each split into lines and parsed on their own core; the
    // results are joined in file order.
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let cuts = if src.len() < PARALLEL_FROM || threads < 2 {
        Vec::new()
    } else {
        cut_points(src, threads)
    };
    let (entries, diagnostics) = if cuts.is_empty() {
        parse_lines(name, &mut logical_lines(src), use_fast_path)
    } else {
        let mut ranges = Vec::with_capacity(cuts.len() + 1);
        let (mut start, mut lines_before) = (0, 0u32);
        for &cut in &cuts {
            ranges.push((start..cut, lines_before));
            lines_before += count_newlines(&src.as_bytes()[start..cut]);
            start = cut;
        }
        ranges.push((start..src.len(), lines_before));
        std::thread::scope(|s| {
            let parts: Vec<_> = ranges
                .into_iter()
                .map(|(range, before)| {
                    s.spawn(move || {
                        let mut lines = logical_lines_in(src, range, before);
                        parse_lines(name, &mut lines, use_fast_path)
                    })
                })
                .collect();
            let mut entries = Vec::new();
            let mut diagnostics = Vec::new();
            for part in parts {
                // A panic in a worker is a bug; re-raise it where it belongs.
                let (e, d) = part.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
                if entries.is_empty() {
                    entries = e;
                } else {
                    entries.extend(e);
                }
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

/// The number of `\n` in `bytes`. This runs over the whole file before
/// the threads start, so it is written as a sum per chunk, which the
/// compiler can vectorize (less than half the time of a plain count).
fn count_newlines(bytes: &[u8]) -> u32 {
    bytes
        .chunks(4096)
        .map(|chunk| chunk.iter().map(|&b| u32::from(b == b'\n')).sum::<u32>())
        .fold(0u32, u32::wrapping_add)
}

/// Below this many bytes, threads cost more than they save.
const PARALLEL_FROM: usize = 256 * 1024;

fn parse_lines(
    name: &str,
    lines: &mut [LogicalLine],
    use_fast_path: bool,
) -> (Vec<Entry>, Vec<Diagnostic>) {
    let mut entries = Vec::with_capacity(lines.len());
    let mut diagnostics = Vec::new();
    // One token list for all lines, rather than one allocation per line.
    let mut scratch = Vec::new();
    for line in lines {
        if line.is_comment() {
            continue;
        }
        let first = line.text.split_whitespace().next().unwrap_or("");
        if !KEYWORDS.contains(&first) {
            if let Some(kw) = near_keyword(first) {
                let at = line.text.find(first).unwrap_or(0);
                diagnostics.push(place(name, line, LineIssue::warning(at, format!(
                    "line starts with `{first}`, which is not a keyword, so it is read as a comment (did you mean {kw}?)"
                ))));
            }
            continue;
        }
        let (entry, issues) = parse_line(line, use_fast_path, &mut scratch);
        diagnostics.extend(issues.into_iter().map(|issue| place(name, line, issue)));
        if let Some(mut entry) = entry {
            entry.text = std::mem::take(&mut line.text);
            entries.push(entry);
        }
    }
    (entries, diagnostics)
}

/// Places a line's finding at its physical line and column.
fn place(name: &str, line: &LogicalLine, issue: LineIssue) -> Diagnostic {
    let (l, c) = line.position(issue.offset);
    Diagnostic {
        severity: issue.severity,
        file: name.to_string(),
        line: l,
        column: c,
        message: issue.message,
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

/// An empty token list that keeps the allocation of `list`, whatever
/// lines its tokens borrowed from.
// `filter` would keep the tokens' lifetime, which is what must change.
#[allow(clippy::unnecessary_filter_map)]
fn recycle<'b>(mut list: Vec<Token<'_>>) -> Vec<Token<'b>> {
    list.clear();
    // The standard library collects a vector's own iterator in place when
    // the item types have the same size and alignment, so the allocation
    // is kept (and were it not, this would only allocate again). There are
    // no items to convert.
    list.into_iter().filter_map(|_| None).collect()
}

/// Parses one logical line into an entry. Any error drops the line. The
/// entry's `text` is left empty for the caller to fill. `scratch` is an
/// empty token list lent for the line and given back empty.
fn parse_line(
    line: &LogicalLine,
    use_fast_path: bool,
    scratch: &mut Vec<Token<'static>>,
) -> (Option<Entry>, Vec<LineIssue>) {
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
    // Curly quotes and their kin would be read as part of a value, or
    // make the grammar's error point at the wrong place: name them first.
    let before = issues.len();
    issues.extend(
        crate::lookalike::find(text)
            .map(|(at, l)| LineIssue::error(at, crate::lookalike::message(l))),
    );
    if issues.len() > before {
        return (None, issues);
    }
    // The tokenizer accepts exactly what the grammar accepts, with the same
    // spans, or gives up; the grammar then decides, and words any error.
    let fast = if use_fast_path {
        tokenize(text, recycle(std::mem::take(scratch)))
    } else {
        Err(recycle(std::mem::take(scratch)))
    };
    let tokens = match fast {
        Ok(t) => t,
        Err(list) => match LicenseGrammar::parse(Rule::line, text) {
            Ok(mut pairs) => {
                let tokens = pairs
                    .next()
                    .and_then(|p| p.into_inner().next())
                    .and_then(|p| tokens_from_pest(p, list));
                let Some(tokens) = tokens else {
                    issues.push(LineIssue::error(0, "empty line"));
                    return (None, issues);
                };
                tokens
            }
            Err(e) => {
                issues.push(syntax_issue(text, &e));
                return (None, issues);
            }
        },
    };
    let mut b = LineBuilder {
        issues,
        items: Vec::with_capacity(tokens.items.len()),
    };
    let kind = match tokens.keyword {
        Keyword::Server => b.server(&tokens),
        Keyword::Vendor | Keyword::Daemon => b.vendor(&tokens),
        Keyword::UseServer => b.use_server(&tokens),
        Keyword::Feature | Keyword::Increment | Keyword::Upgrade => b.feature(&tokens),
        Keyword::Package => b.package(&tokens),
        Keyword::FeatureSet => b.featureset(&tokens),
    };
    *scratch = recycle(tokens.items);
    let failed = b.issues.iter().any(|i| i.severity == Severity::Error);
    let entry = kind.filter(|_| !failed).map(|kind| {
        for item in &mut b.items {
            item.at = line.position(item.range.start);
        }
        Entry {
            line: line.first_line(),
            end_line: line.last_line(),
            source_range: line.source_range.clone(),
            text: String::new(),
            items: b.items,
            kind,
        }
    });
    (entry, b.issues)
}

/// The keyword a license line starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keyword {
    Server,
    Vendor,
    Daemon,
    UseServer,
    Feature,
    Increment,
    Upgrade,
    Package,
    FeatureSet,
}

impl Keyword {
    fn from_word(word: &str) -> Option<Keyword> {
        Some(match word {
            "SERVER" => Keyword::Server,
            "VENDOR" => Keyword::Vendor,
            "DAEMON" => Keyword::Daemon,
            "USE_SERVER" => Keyword::UseServer,
            "FEATURE" => Keyword::Feature,
            "INCREMENT" => Keyword::Increment,
            "UPGRADE" => Keyword::Upgrade,
            "PACKAGE" => Keyword::Package,
            "FEATURESET" => Keyword::FeatureSet,
            _ => return None,
        })
    }

    fn from_rule(rule: Rule) -> Option<Keyword> {
        Some(match rule {
            Rule::kw_server => Keyword::Server,
            Rule::kw_vendor => Keyword::Vendor,
            Rule::kw_daemon => Keyword::Daemon,
            Rule::kw_use_server => Keyword::UseServer,
            Rule::kw_feature => Keyword::Feature,
            Rule::kw_increment => Keyword::Increment,
            Rule::kw_upgrade => Keyword::Upgrade,
            Rule::kw_package => Keyword::Package,
            Rule::kw_featureset => Keyword::FeatureSet,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Keyword::Server => "SERVER",
            Keyword::Vendor => "VENDOR",
            Keyword::Daemon => "DAEMON",
            Keyword::UseServer => "USE_SERVER",
            Keyword::Feature => "FEATURE",
            Keyword::Increment => "INCREMENT",
            Keyword::Upgrade => "UPGRADE",
            Keyword::Package => "PACKAGE",
            Keyword::FeatureSet => "FEATURESET",
        }
    }

    /// The positional fields that follow the keyword, as `line` in
    /// license.pest defines them.
    fn fields(self) -> &'static [Shape] {
        use Shape::*;
        match self {
            Keyword::Server => &[Name, HostIdField],
            Keyword::Vendor | Keyword::Daemon | Keyword::FeatureSet => &[Name],
            Keyword::UseServer => &[],
            Keyword::Feature | Keyword::Increment => &[Name, Name, Version, Date, Count],
            Keyword::Upgrade => &[Name, Name, Version, Version, Date, Count],
            Keyword::Package => &[Name, Name],
        }
    }
}

/// The shape of a positional field.
#[derive(Clone, Copy)]
enum Shape {
    /// `host`, `vendor_name`, `feature_name`: `name_char+`.
    Name,
    /// `hostid_field`: `quoted | bare`.
    HostIdField,
    Version,
    Date,
    Count,
}

/// A positional field and where it starts in the line.
#[derive(Debug, Clone, Copy, Default)]
struct Field<'a> {
    text: &'a str,
    start: usize,
}

/// The positional fields of a line (six at most).
#[derive(Debug, Default)]
struct Fields<'a> {
    list: [Field<'a>; 6],
    len: usize,
}

impl<'a> Fields<'a> {
    fn push(&mut self, field: Field<'a>) {
        if let Some(slot) = self.list.get_mut(self.len) {
            *slot = field;
            self.len += 1;
        }
    }

    fn iter(&self) -> std::slice::Iter<'_, Field<'a>> {
        self.list[..self.len].iter()
    }

    fn first(&self) -> Option<&Field<'a>> {
        self.iter().next()
    }
}

/// One item after the positional fields, with its span in the line.
#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    start: usize,
    end: usize,
    item: Item<'a>,
}

/// A line cut into its keyword, positional fields and items.
#[derive(Debug)]
struct Tokens<'a> {
    keyword: Keyword,
    kw_start: usize,
    fields: Fields<'a>,
    items: Vec<Token<'a>>,
}

/// The character classes of license.pest per byte, so that the
/// tokenizer's loops test one bit of a table entry per byte.
const CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let blank = matches!(b, b' ' | b'\t' | 0x0B..=0x0D);
        let mut class = 0;
        if blank {
            class |= BLANK;
        }
        if !blank && b != b'"' {
            class |= BARE;
            if b != b'=' {
                class |= NAME;
            }
        }
        if b.is_ascii_alphanumeric() || b == b'_' {
            class |= WORD;
        }
        table[i] = class;
        i += 1;
    }
    table
};
const BLANK: u8 = 1;
const BARE: u8 = 2;
const NAME: u8 = 4;
const WORD: u8 = 8;

fn class(b: u8) -> u8 {
    CLASS[usize::from(b)]
}

/// `WHITESPACE` of license.pest.
fn is_blank(b: u8) -> bool {
    class(b) & BLANK != 0
}

/// `bare_char`: anything but white space and `"`. Bytes of multi-byte
/// characters are all in the class, as the characters are.
fn is_bare(b: u8) -> bool {
    class(b) & BARE != 0
}

/// `name_char`: a `bare_char` that is not `=`.
fn is_name(b: u8) -> bool {
    class(b) & NAME != 0
}

/// The characters of `attr_name` after the first: ASCII letters, digits, `_`.
fn is_word(b: u8) -> bool {
    class(b) & WORD != 0
}

fn run_end(b: &[u8], from: usize, class: impl Fn(u8) -> bool) -> usize {
    b[from..]
        .iter()
        .position(|&c| !class(c))
        .map_or(b.len(), |n| from + n)
}

// Long runs (values, signatures, quoted text) are skipped eight bytes at a
// time: a word is skipped only when none of its bytes can end the run, and
// the byte loop then finds exactly where it ends. The word tests are exact
// ("is any byte below n" for n <= 128), so no byte is skipped wrongly.
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The eight bytes of `b` from `at`, if there are as many.
fn word(b: &[u8], at: usize) -> Option<u64> {
    let bytes = b.get(at..at.checked_add(8)?)?;
    <[u8; 8]>::try_from(bytes).ok().map(u64::from_le_bytes)
}

/// Whether any byte of `w` is below `n` (`n` at most 128).
fn any_below(w: u64, n: u8) -> bool {
    w.wrapping_sub(ONES * u64::from(n)) & !w & HIGHS != 0
}

/// Whether any byte of `w` is `c`.
fn any_is(w: u64, c: u8) -> bool {
    any_below(w ^ (ONES * u64::from(c)), 1)
}

/// Skips whole words of `b` from `from` while `inside` says that all
/// their bytes belong to the run.
fn skip_words(b: &[u8], mut from: usize, inside: impl Fn(u64) -> bool) -> usize {
    while let Some(w) = word(b, from) {
        if !inside(w) {
            break;
        }
        from += 8;
    }
    from
}

/// End of a run of `bare_char`s. White space and the control characters
/// are all below `!`, so a word without those and without `"` is all bare.
fn bare_run_end(b: &[u8], from: usize) -> usize {
    let from = skip_words(b, from, |w| !any_below(w, b'!') && !any_is(w, b'"'));
    run_end(b, from, is_bare)
}

/// End of a run of `name_char`s: bare, and not `=`.
fn name_run_end(b: &[u8], from: usize) -> usize {
    let from = skip_words(b, from, |w| {
        !any_below(w, b'!') && !any_is(w, b'"') && !any_is(w, b'=')
    });
    run_end(b, from, is_name)
}

/// End of a run of anything but white space.
fn nonblank_run_end(b: &[u8], from: usize) -> usize {
    let from = skip_words(b, from, |w| !any_below(w, b'!'));
    run_end(b, from, |c| !is_blank(c))
}

/// Is `b` a quote that opens a quoted string where a value, an item or a
/// hostid field starts? Double quotes everywhere; single quotes too, as
/// FLEXlm's manuals print values (`HOSTID='12001234 1700ab12'`).
fn is_quote(b: u8) -> bool {
    b == b'"' || b == b'\''
}

/// Index of the `quote` closing a quoted string whose text starts at `from`.
fn closing_quote(b: &[u8], from: usize, quote: u8) -> Option<usize> {
    let from = skip_words(b, from, |w| !any_is(w, quote));
    b.get(from..)?
        .iter()
        .position(|&c| c == quote)
        .map(|n| from + n)
}

/// A positional field without its quotes, and how many bytes the opening
/// quote takes (0 when bare).
fn unquoted(field: &str) -> (&str, usize) {
    match field.as_bytes() {
        [q, .., last] if is_quote(*q) && last == q => (&field[1..field.len() - 1], 1),
        _ => (field, 0),
    }
}

/// `version` without its boundary: `digits[.digits*]` or `.digits`.
fn is_version(s: &[u8]) -> bool {
    let int = s.iter().take_while(|b| b.is_ascii_digit()).count();
    let rest = &s[int..];
    if int > 0 {
        rest.is_empty() || (rest[0] == b'.' && rest[1..].iter().all(u8::is_ascii_digit))
    } else {
        rest.len() > 1 && rest[0] == b'.' && rest[1..].iter().all(u8::is_ascii_digit)
    }
}

/// `date` without its boundary: `permanent` (any case) or `d[d]-mmm-y[yyy]`.
fn is_date(s: &[u8]) -> bool {
    if s.eq_ignore_ascii_case(b"permanent") {
        return true;
    }
    let day = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if !(1..=2).contains(&day) || s.len() < day + 6 {
        return false;
    }
    let rest = &s[day..];
    let year = &rest[5..];
    rest[0] == b'-'
        && rest[1..4].iter().all(u8::is_ascii_alphabetic)
        && rest[4] == b'-'
        && (1..=4).contains(&year.len())
        && year.iter().all(u8::is_ascii_digit)
}

/// `count` without its boundary: `uncounted` (any case) or digits.
fn is_count(s: &[u8]) -> bool {
    s.eq_ignore_ascii_case(b"uncounted") || (!s.is_empty() && s.iter().all(u8::is_ascii_digit))
}

/// Cuts a line as license.pest's `line` rule does, without pest, putting
/// its items in `items` (given empty). Gives `items` back, emptied, for any
/// line the grammar would refuse.
fn tokenize<'a>(text: &'a str, mut items: Vec<Token<'a>>) -> Result<Tokens<'a>, Vec<Token<'a>>> {
    match cut(text, &mut items) {
        Some((keyword, kw_start, fields)) => Ok(Tokens {
            keyword,
            kw_start,
            fields,
            items,
        }),
        None => {
            items.clear();
            Err(items)
        }
    }
}

/// The keyword of a line, where it starts and its positional fields, with
/// its items pushed onto `items`; `None` if the grammar would refuse it.
fn cut<'a>(text: &'a str, items: &mut Vec<Token<'a>>) -> Option<(Keyword, usize, Fields<'a>)> {
    let b = text.as_bytes();
    let mut i = run_end(b, 0, is_blank);
    let kw_start = i;
    i = nonblank_run_end(b, i);
    let keyword = Keyword::from_word(&text[kw_start..i])?;
    let shapes = keyword.fields();
    let mut fields = Fields::default();
    for shape in shapes {
        let start = run_end(b, i, is_blank);
        let end = match shape {
            Shape::Name => name_run_end(b, start),
            Shape::HostIdField => {
                if let Some(&q) = b.get(start).filter(|&&q| is_quote(q)) {
                    closing_quote(b, start + 1, q)? + 1
                } else {
                    bare_run_end(b, start)
                }
            }
            Shape::Version | Shape::Date | Shape::Count => {
                let end = nonblank_run_end(b, start);
                let word = &b[start..end];
                let ok = match shape {
                    Shape::Version => is_version(word),
                    Shape::Date => is_date(word),
                    _ => is_count(word),
                };
                if !ok {
                    return None;
                }
                end
            }
        };
        if end == start {
            return None;
        }
        fields.push(Field {
            text: &text[start..end],
            start,
        });
        i = end;
    }
    loop {
        let start = run_end(b, i, is_blank);
        let Some(&c) = b.get(start) else {
            break;
        };
        let item = if c.is_ascii_alphabetic() || c == b'_' {
            let name_end = run_end(b, start + 1, is_word);
            if b.get(name_end) == Some(&b'=') {
                let name = &text[start..name_end];
                let v = name_end + 1;
                if let Some(&q) = b.get(v).filter(|&&q| is_quote(q)) {
                    let close = closing_quote(b, v + 1, q)?;
                    i = close + 1;
                    Item::Attr {
                        name,
                        value: &text[v + 1..close],
                        value_offset: v + 1,
                    }
                } else {
                    i = bare_run_end(b, v);
                    Item::Attr {
                        name,
                        value: &text[v..i],
                        value_offset: v,
                    }
                }
            } else {
                i = bare_run_end(b, start);
                Item::Bare(&text[start..i])
            }
        } else if is_quote(c) {
            let close = closing_quote(b, start + 1, c)?;
            i = close + 1;
            Item::Quoted {
                inner: &text[start + 1..close],
            }
        } else {
            i = bare_run_end(b, start);
            Item::Bare(&text[start..i])
        };
        items.push(Token {
            start,
            end: i,
            item,
        });
    }
    Some((keyword, kw_start, fields))
}

/// The same cut, from the pairs of a line pest accepted, with the items in
/// `items` (given empty).
fn tokens_from_pest<'a>(pair: Pair<'a, Rule>, items: Vec<Token<'a>>) -> Option<Tokens<'a>> {
    let mut parts = pair.into_inner();
    let kw = parts.next()?;
    let mut tokens = Tokens {
        keyword: Keyword::from_rule(kw.as_rule())?,
        kw_start: kw.as_span().start(),
        fields: Fields::default(),
        items,
    };
    for part in parts {
        if part.as_rule() == Rule::item {
            tokens.items.push(pest_item(part));
        } else {
            tokens.fields.push(Field {
                text: part.as_str(),
                start: part.as_span().start(),
            });
        }
    }
    Some(tokens)
}

/// Reads an `item` pair.
fn pest_item(pair: Pair<'_, Rule>) -> Token<'_> {
    let (start, end) = (pair.as_span().start(), pair.as_span().end());
    let Some(inner) = pair.into_inner().next() else {
        return Token {
            start,
            end,
            item: Item::Bare(""),
        };
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
                        inner.map_or(start, |i| i.as_span().start()),
                    )
                }
                Some(v) => (v.as_str(), v.as_span().start()),
                None => ("", start),
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
    Token { start, end, item }
}

/// Turns a pest error into "expected X, found Y" at the right column.
fn syntax_issue(text: &str, e: &pest::error::Error<Rule>) -> LineIssue {
    let offset = match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((p, _)) => p,
    };
    let rest = text.get(offset..).unwrap_or("");
    for quote in ['"', '\''] {
        if rest.starts_with(quote) && !rest[1..].contains(quote) {
            return LineIssue::error(
                offset,
                format!("quoted string is not closed: expected a closing `{quote}`"),
            );
        }
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
#[derive(Debug, Clone, Copy)]
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

    /// Reads an item, recording where it sits.
    fn item<'a>(&mut self, token: &Token<'a>) -> (usize, Item<'a>) {
        let item = token.item;
        let name = match item {
            Item::Attr { name, .. } => Some(SmallStr::new(name)),
            Item::Bare(w) if FLAGS.contains(&w) => Some(SmallStr::new(w)),
            _ => None,
        };
        self.items.push(ItemSpan {
            range: token.start..token.end,
            name,
            at: (0, 0),
        });
        (token.start, item)
    }

    fn check_len(&mut self, field: Field, max: usize, what: &str) {
        // Bytes are never fewer than characters.
        if field.text.len() <= max {
            return;
        }
        let len = field.text.chars().count();
        if len > max {
            self.warn(
                field.start,
                format!(
                    "{what} `{}` is {len} characters long; FLEXlm accepts at most {max}",
                    field.text
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

    fn server(&mut self, t: &Tokens) -> Option<EntryKind> {
        let mut fields = t.fields.iter().copied();
        let host = fields.next()?;
        self.check_len(host, MAX_HOST_NAME, "host name");
        let hostid_field = fields.next()?;
        let (hostid_text, quote) = unquoted(hostid_field.text);
        let hostid_offset = hostid_field.start + quote;
        let hostids = self.hostids(hostid_offset, hostid_text).unwrap_or_default();
        let mut server = Server {
            host: host.text.to_string(),
            hostids,
            port: None,
            primary_is_master: false,
            server_timeout: None,
            heartbeat_interval: None,
        };
        for p in &t.items {
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

    fn vendor(&mut self, t: &Tokens) -> Option<EntryKind> {
        let keyword = match t.keyword {
            Keyword::Daemon => VendorKeyword::Daemon,
            _ => VendorKeyword::Vendor,
        };
        let name = *t.fields.first()?;
        self.check_len(name, MAX_VENDOR_NAME, "vendor name");
        let mut v = Vendor {
            keyword,
            name: name.text.to_string(),
            path: None,
            options: None,
            port: None,
        };
        let mut positional = 0;
        for p in &t.items {
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

    fn use_server(&mut self, t: &Tokens) -> Option<EntryKind> {
        if let Some(extra) = t.items.first() {
            self.warn(
                extra.start,
                "USE_SERVER takes no arguments; the rest of the line is ignored",
            );
        }
        Some(EntryKind::UseServer)
    }

    fn feature(&mut self, t: &Tokens) -> Option<EntryKind> {
        let is_upgrade = t.keyword == Keyword::Upgrade;
        let mut fields = t.fields.iter().copied();
        let name = fields.next()?;
        self.check_len(name, MAX_FEATURE_NAME, "feature name");
        let vendor = fields.next()?;
        self.check_len(vendor, MAX_VENDOR_NAME, "vendor name");
        let from = if is_upgrade {
            Some(self.version(fields.next()?)?)
        } else {
            None
        };
        let version = self.version(fields.next()?)?;
        let date = fields.next()?;
        let expiry = self.date(date.start, "expiry date", date.text)?;
        let count_field = fields.next()?;
        let count = self.count(count_field)?;
        let kind = match (t.keyword, from) {
            (_, Some(from)) => {
                if from >= version {
                    self.error(
                        t.kw_start,
                        format!(
                        "UPGRADE from version {from} to {version}: the new version must be higher"
                    ),
                    );
                }
                FeatureKind::Upgrade { from }
            }
            (Keyword::Increment, None) => FeatureKind::Increment,
            _ => FeatureKind::Feature,
        };
        let mut f = Feature {
            kind,
            name: name.text.into(),
            vendor: vendor.text.into(),
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
            attributes: Vec::with_capacity(t.items.len()),
            signature: SignField::Missing,
        };
        let line_start = t.kw_start;
        let mut sign: Option<&str> = None;
        let mut auth: Option<&str> = None;
        let mut seen_attr = false;
        for p in &t.items {
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
                        "SIGN" => sign = Some(value),
                        "AUTH" => auth = Some(value),
                        _ => {}
                    }
                    self.feature_attr(&mut f, at, name, Some(value), value_offset);
                }
                Item::Quoted { inner } if !seen_attr && !f.old_format => {
                    f.old_format = true;
                    f.vendor_string = Some(collapse(inner));
                    f.attributes.push(Attribute {
                        name: "VENDOR_STRING".into(),
                        value: Some(inner.into()),
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
                    f.legacy_key = Some(w.into());
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
                        name: w.into(),
                        value: None,
                    });
                }
                other => self.unexpected(at, &other, t.keyword.as_str()),
            }
        }
        f.signature = match (sign, auth, &f.legacy_key) {
            (Some(s), _, _) => SignField::parse(s),
            (None, Some(a), _) => SignField::Legacy(a.to_string()),
            (None, None, Some(k)) => SignField::Legacy(k.to_string()),
            (None, None, None) => SignField::Missing,
        };
        self.feature_rules(&f, line_start, count_field);
        Some(EntryKind::Feature(f))
    }

    fn version(&mut self, field: Field) -> Option<Version> {
        self.check_len(field, MAX_VERSION, "version");
        let v = Version::parse(field.text);
        if v.is_none() {
            self.error(
                field.start,
                format!("`{}` is not a version number", field.text),
            );
        }
        if v.as_ref().is_some_and(|v| v.decimals() > 3) {
            self.warn(
                field.start,
                format!("version `{}` has more than 3 decimals", field.text),
            );
        }
        v
    }

    fn count(&mut self, field: Field) -> Option<u32> {
        let t = field.text;
        if t.eq_ignore_ascii_case("uncounted") {
            return Some(0);
        }
        match t.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.error(field.start, format!("license count `{t}` is too large"));
                None
            }
        }
    }

    fn positional_hostid(&mut self, f: &mut Feature, at: usize, text: &str) {
        f.hostids = self.hostids(at, text);
        f.attributes.push(Attribute {
            name: "HOSTID".into(),
            value: Some(text.into()),
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
            ("SN", Some(v)) => f.serial = Some(v.into()),
            ("NOTICE", Some(v)) => f.notice = Some(collapse(v)),
            ("ISSUER", Some(v)) => f.issuer = Some(collapse(v)),
            ("TS_OK", _) => f.ts_ok = true,
            ("sort", Some(v)) => f.sort = self.number(value_offset, name, v),
            ("ck", Some(v)) => f.ck = self.number(value_offset, name, v),
            _ => {}
        }
        let _ = v;
        f.attributes.push(Attribute {
            name: name.into(),
            value: value.map(SmallStr::new),
        });
    }

    /// Rules that involve several fields of a FEATURE-like line.
    fn feature_rules(&mut self, f: &Feature, at: usize, count_field: Field) {
        // A HOSTID= that was written but is bad has its own error already.
        let hostid_written = f.attributes.iter().any(|a| a.name == "HOSTID");
        if !f.is_counted() && f.hostids.is_none() && !hostid_written {
            self.error(
                count_field.start,
                "an uncounted line must be locked with HOSTID= (or DEMO/ANY)",
            );
        }
        if f.is_counted() && f.is_demo() {
            self.error(
                count_field.start,
                "HOSTID=DEMO is only allowed on uncounted lines",
            );
        }
        if !f.is_counted() && matches!(f.kind, FeatureKind::Upgrade { .. }) {
            self.error(
                count_field.start,
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

    fn package(&mut self, t: &Tokens) -> Option<EntryKind> {
        let mut fields = t.fields.iter().copied();
        let name = fields.next()?;
        self.check_len(name, MAX_FEATURE_NAME, "package name");
        let vendor = fields.next()?;
        let mut p = Package {
            name: name.text.to_string(),
            vendor: vendor.text.to_string(),
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
        for item in &t.items {
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
                        "SIGN" => sign = Some(value),
                        "ISSUED" | "SUPERSEDE" | "SIGN2" | "AUTH" | "ck" | "sort" => {}
                        n if n.bytes().any(|b| b.is_ascii_lowercase()) => {
                            if !USER_ATTRS.contains(&n) {
                                self.warn(at, format!("unknown attribute `{n}`: kept, not covered by the signature"));
                            }
                        }
                        n => self.warn(at, format!("unknown attribute `{n}` on a PACKAGE line: kept, and covered by the signature")),
                    }
                    p.attributes.push(Attribute {
                        name: name.into(),
                        value: Some(value.into()),
                    });
                }
                other => self.unexpected(at, &other, "PACKAGE"),
            }
        }
        match components_at {
            None => self.error(t.kw_start, "a PACKAGE line needs COMPONENTS=\"...\""),
            Some(at) if p.suite && p.components.iter().any(|c| c.count.is_some()) => {
                self.error(
                    at,
                    "component counts (name:version:count) are not allowed with OPTIONS=SUITE",
                );
            }
            _ => {}
        }
        p.signature = match (sign, &p.legacy_key) {
            (Some(s), _) => SignField::parse(s),
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

    fn featureset(&mut self, t: &Tokens) -> Option<EntryKind> {
        let vendor = t.fields.first()?.text.to_string();
        let mut fs = FeatureSet {
            vendor,
            legacy_key: None,
            ck: None,
            signature: SignField::Missing,
        };
        let mut sign = None;
        for item in &t.items {
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
                ) => sign = Some(value),
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
            (Some(s), _) => SignField::parse(s),
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
fn collapse(s: &str) -> SmallStr {
    if is_collapsed(s) {
        return SmallStr::new(s);
    }
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.into()
}

/// Whether `collapse` would leave `s` as it is, decided on the bytes: ASCII
/// (so no other character is white space), single spaces only between
/// words, none at either end.
fn is_collapsed(s: &str) -> bool {
    let mut prev = b' ';
    for &c in s.as_bytes() {
        if !c.is_ascii() || matches!(c, b'\t'..=b'\r') || (c == b' ' && prev == b' ') {
            return false;
        }
        prev = c;
    }
    prev != b' ' || s.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tokenizer accepts exactly the lines pest accepts, with the same
    /// fields and items.
    fn same_tokens(text: &str) {
        let fast = tokenize(text, Vec::new()).ok();
        let pest = LicenseGrammar::parse(Rule::line, text)
            .ok()
            .and_then(|mut p| p.next())
            .and_then(|p| p.into_inner().next())
            .and_then(|p| tokens_from_pest(p, Vec::new()));
        assert_eq!(format!("{fast:?}"), format!("{pest:?}"), "line {text:?}");
    }

    #[test]
    fn tokenizer_matches_the_grammar() {
        let heads = [
            "SERVER h ANY",
            "SERVER h\"a b\"c",
            "SERVER h 'a b'",
            "SERVER h 'a b",
            "SERVER h=x",
            "VENDOR v",
            "DAEMON v",
            "USE_SERVER",
            "FEATURE f v 1.0 permanent 1",
            "INCREMENT f v .5 1-JAN-0 UNCOUNTED",
            "UPGRADE f v 1. 2.0 31-dec-2030 3",
            "PACKAGE p v",
            "PACKAGE p v=",
            "FEATURESET v",
            "FEATURE f v 1.0.0 permanent 1",
            "FEATURE f v 1.0 123-jan-2030 1",
            "FEATURE f v 1.0 1-jan-12345 1",
            "FEATURE f v 1.0 permanent 1x",
            "\u{A0}FEATURE f v 1.0 permanent 1",
            "FEATURE\u{85} f v 1.0 permanent 1",
        ];
        let tails = [
            "",
            " ",
            " A=\"x\"B=y C= D==E =F \"G\"H I\"J\"",
            " NOTICE=\"open",
            " \"open",
            " A = B \t\u{0B}\u{0C}\r",
            " _x1=2 9a=3 é=4 N=\"h\u{0}\u{1F}é\" \u{7F}",
            "\"q\"",
            "=x",
            " A='x y' 'z' B='' C='open",
            " O'Brien D=it's 'a\"b' E=\"c'd\"",
        ];
        for head in heads {
            for tail in tails {
                same_tokens(&format!("{head}{tail}"));
                same_tokens(&format!("  {head}{tail}  "));
            }
        }
    }

    #[test]
    fn word_tests_are_exact() {
        // Every byte value at every position of a word, among bytes that
        // are just past the limit tested, or far from it.
        for b in 0..=255u8 {
            for at in 0..8 {
                for n in [1u8, b'!'] {
                    for other in [n, n + 1, b'x', 0x80, 0xFF] {
                        let mut bytes = [other; 8];
                        bytes[at] = b;
                        let w = u64::from_le_bytes(bytes);
                        assert_eq!(any_below(w, n), b < n, "{b:#x} at {at} below {n:#x}");
                    }
                }
                for c in [b'"', b'=', b'\'', 0u8, 0xFF] {
                    for other in [c ^ 1, c ^ 0x80, c.wrapping_add(1), c.wrapping_sub(1)] {
                        let mut bytes = [other; 8];
                        bytes[at] = b;
                        let w = u64::from_le_bytes(bytes);
                        assert_eq!(any_is(w, c), b == c, "{b:#x} at {at} is {c:#x}");
                    }
                }
            }
        }
    }

    #[test]
    fn run_ends_match_the_byte_loops() {
        let texts: [&[u8]; 6] = [
            b"abcdefghijklmnopqrstuvwxyz0123456789 rest",
            b"VENDOR_STRING=\"a long value with spaces\" x",
            b"0123456789abcdef0123456789ABCDEF\x01\x0e\x1f!tail",
            b"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9=\"\t",
            b"12345678=12345678\"12345678'12345678\x0b",
            b"",
        ];
        for text in texts {
            for from in 0..=text.len() {
                assert_eq!(bare_run_end(text, from), run_end(text, from, is_bare));
                assert_eq!(name_run_end(text, from), run_end(text, from, is_name));
                assert_eq!(
                    nonblank_run_end(text, from),
                    run_end(text, from, |c| !is_blank(c))
                );
                for q in [b'"', b'\''] {
                    assert_eq!(
                        closing_quote(text, from, q),
                        text[from..].iter().position(|&c| c == q).map(|n| from + n)
                    );
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn collapse_shortcut_is_exact(s in "[ a\t\n\u{0B}\u{85}\u{A0}é]{0,12}") {
            let slow = s.split_whitespace().collect::<Vec<_>>().join(" ");
            proptest::prop_assert_eq!(collapse(&s).to_string(), slow.clone());
            proptest::prop_assert!(!is_collapsed(&s) || s == slow);
        }
    }

    #[test]
    fn parallel_parse_matches_one_thread() {
        let mut text = String::from("SERVER this_host ANY 27000\nVENDOR demo\n");
        let mut i = 0;
        while text.len() < PARALLEL_FROM * 2 {
            i += 1;
            match i % 7 {
                5 => text.push_str("# a comment that ends in \\\n"),
                6 => text.push_str(&format!(
                    "INCREMENT g{i} demo 1.0 permanent 1 \\ \r\n  \\\r\nNOTICE=\"x\"\r\n"
                )),
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
        let (entries, diagnostics) = parse_lines("big.lic", &mut logical_lines(&text), false);
        assert_eq!(parallel.diagnostics, diagnostics);
        assert_eq!(format!("{:?}", parallel.entries), format!("{entries:?}"));
        assert!(
            !cut_points(&text, 2).is_empty(),
            "the file is large enough to be split"
        );
    }
}
