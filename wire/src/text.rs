//! What a peer may put in a string that the daemons print, and how every
//! printed string is escaped.
//!
//! Every string a client sends ends up somewhere a person or a script
//! reads it line by line: the debug log (`OUT: "f1" joe@ws1`), the report
//! log, `lmstat`, the HTTP dashboard. A line break in a user name would
//! let its owner write a line of their choosing there (a fake `IN:`), and
//! a bidi override would make a line read differently from what it holds.
//! So both daemons check every client string on arrival
//! ([`check_request`]: a length limit per field and [`refused_char`]), and
//! everything that prints a peer's string escapes it ([`escape`]), so that
//! even a string from before these checks (an old borrow record) cannot
//! start a new line.
//!
//! The character rule is deliberately wide: user and host names in real
//! sites hold dots, dashes, underscores, `@`, `\` (Windows domains),
//! spaces (display names) and letters of every script. Refused are only
//! the characters that change how text is laid out rather than what it
//! says: C0 and C1 controls (tab and line feed included), DEL, the Unicode
//! line and paragraph separators, and the bidirectional embeddings,
//! overrides, isolates and marks.

use crate::message::{AdminRequest, ClientIdentity, Message, StatusReply};
use std::borrow::Cow;
use std::fmt;

/// Longest user name, in bytes of UTF-8 (Windows `DOMAIN\user` included).
pub const MAX_USER: usize = 128;
/// Longest host name: a fully qualified DNS name has at most 253 bytes.
pub const MAX_HOST: usize = 255;
/// Longest display (an X display, a terminal device, a Windows console).
pub const MAX_DISPLAY: usize = 255;
/// Longest project (`LM_PROJECT`).
pub const MAX_PROJECT: usize = 128;
/// Longest platform name and client version.
pub const MAX_TAG: usize = 64;
/// Longest hostid as lmhostid prints it, and how many a client may list
/// (a container host has an Ethernet address per virtual interface: the
/// client sends at most this many).
pub const MAX_HOSTID: usize = 128;
pub const MAX_HOSTIDS: usize = 1024;
/// Longest feature name (FLEXlm's are at most 30 characters; ours allow
/// more, but not without bound).
pub const MAX_FEATURE: usize = 128;
/// Longest version string (`1.0`, `2024.05`).
pub const MAX_VERSION: usize = 32;
/// Longest vendor daemon name.
pub const MAX_VENDOR: usize = 64;
/// Longest path in an admin request (lmswitch): the usual `PATH_MAX`.
pub const MAX_PATH: usize = 4096;
/// Longest admin token name (`hostenv::admin_tokens` makes them of at
/// most 64 letters, digits, `-` and `_`).
pub const MAX_TOKEN_NAME: usize = 64;

/// Why a client's string was refused: which field, and what is wrong
/// with it. It never contains the string itself, so it may be logged and
/// sent back as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The message and field, e.g. `Hello user`.
    pub field: &'static str,
    pub problem: Problem,
}

/// What is wrong with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Longer than `max` bytes.
    TooLong { len: usize, max: usize },
    /// A character the rule refuses, at this byte offset.
    Refused { ch: char, at: usize },
    /// More than `max` entries in a list.
    TooMany { count: usize, max: usize },
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problem {
            Problem::TooLong { len, max } => write!(
                f,
                "{} is {len} bytes long; at most {max} are allowed",
                self.field
            ),
            Problem::Refused { ch, at } => write!(
                f,
                "{} holds {} ({}) at byte {at}; control characters, line \
                 separators and bidirectional overrides are not allowed",
                self.field,
                code_point(ch),
                kind_of(ch)
            ),
            Problem::TooMany { count, max } => write!(
                f,
                "{} has {count} entries; at most {max} are allowed",
                self.field
            ),
        }
    }
}

impl std::error::Error for FieldError {}

/// `U+000A`.
fn code_point(ch: char) -> String {
    format!("U+{:04X}", u32::from(ch))
}

fn kind_of(ch: char) -> &'static str {
    match ch {
        '\n' | '\r' | '\u{2028}' | '\u{2029}' | '\u{85}' => "a line break",
        c if c.is_control() => "a control character",
        _ => "a bidirectional formatting character",
    }
}

/// True for a character no client string may hold: C0 and C1 controls,
/// DEL, the line and paragraph separators, and the bidirectional
/// formatting characters (marks, embeddings, overrides, isolates).
pub fn refused_char(ch: char) -> bool {
    ch.is_control()
        || matches!(
            ch,
            '\u{2028}' | '\u{2029}'
                | '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// Checks one string against a limit and the character rule.
pub fn check_field(field: &'static str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.len() > max {
        return Err(FieldError {
            field,
            problem: Problem::TooLong {
                len: value.len(),
                max,
            },
        });
    }
    match value.char_indices().find(|(_, c)| refused_char(*c)) {
        Some((at, ch)) => Err(FieldError {
            field,
            problem: Problem::Refused { ch, at },
        }),
        None => Ok(()),
    }
}

/// Checks who a client says it is (its Hello).
pub fn check_identity(id: &ClientIdentity) -> Result<(), FieldError> {
    check_field("Hello user", &id.user, MAX_USER)?;
    check_field("Hello host", &id.host, MAX_HOST)?;
    check_field("Hello display", &id.display, MAX_DISPLAY)?;
    check_field("Hello project", &id.project, MAX_PROJECT)?;
    check_field("Hello platform", &id.platform, MAX_TAG)?;
    check_field("Hello client_version", &id.client_version, MAX_TAG)?;
    if id.hostids.len() > MAX_HOSTIDS {
        return Err(FieldError {
            field: "Hello hostids",
            problem: Problem::TooMany {
                count: id.hostids.len(),
                max: MAX_HOSTIDS,
            },
        });
    }
    for h in &id.hostids {
        check_field("Hello hostid", h, MAX_HOSTID)?;
    }
    Ok(())
}

fn check_admin(a: &AdminRequest) -> Result<(), FieldError> {
    check_field("Admin vendor", &a.vendor, MAX_VENDOR)?;
    check_field("Admin feature", &a.feature, MAX_FEATURE)?;
    check_field("Admin user", &a.user, MAX_USER)?;
    check_field("Admin host", &a.host, MAX_HOST)?;
    check_field("Admin display", &a.display, MAX_DISPLAY)?;
    check_field("Admin path", &a.path, MAX_PATH)
}

/// Checks every string of a message a client sends (Hello, VendorLookup,
/// Checkout, ReturnBorrow, StatusQuery, Admin, AdminFor). Messages only servers send
/// are not checked here: a daemon refuses them from a client anyway.
pub fn check_request(m: &Message) -> Result<(), FieldError> {
    match m {
        Message::Hello(h) => check_identity(&h.identity),
        Message::VendorLookup(l) => check_field("VendorLookup vendor", &l.vendor, MAX_VENDOR),
        Message::Checkout(c) => {
            check_field("Checkout feature", &c.feature, MAX_FEATURE)?;
            check_field("Checkout version", &c.version, MAX_VERSION)
        }
        Message::ReturnBorrow(r) => check_field("ReturnBorrow feature", &r.feature, MAX_FEATURE),
        Message::StatusQuery(q) => check_field("StatusQuery feature", &q.feature, MAX_FEATURE),
        Message::Admin(a) => check_admin(a),
        Message::AdminFor(a) => {
            check_field("AdminFor token", &a.token, MAX_TOKEN_NAME)?;
            check_admin(&a.request)
        }
        _ => Ok(()),
    }
}

/// `s` as it may be printed on one line: every character [`refused_char`]
/// refuses is written as an escape (`\n`, `\r`, `\t`, else `\u{…}`), the
/// rest as is. A string that passes the rule comes back unchanged (and
/// unallocated); whatever `s` holds, the result has no line break.
///
/// A backslash is left alone, so `DOMAIN\user` prints as itself; a
/// string that already reads `\n` is therefore indistinguishable from an
/// escaped line feed, which is harmless: it stays on its line.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(refused_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for ch in s.chars() {
        match ch {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if refused_char(c) => {
                use std::fmt::Write as _;
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Escapes `s` in place (see [`escape`]); nothing is allocated when it
/// is clean.
pub fn escape_in_place(s: &mut String) {
    if let Cow::Owned(clean) = escape(s) {
        *s = clean;
    }
}

/// Escapes every string of a status reply in place: what a tool prints
/// from a server's answer (`lmstat`, its JSON, the dashboard) cannot
/// start a new line, whatever the server sent.
pub fn escape_status(reply: &mut StatusReply) {
    let StatusReply {
        server,
        version,
        host,
        vendors,
        features,
        license_files,
        triad,
        port: _,
        next: _,
    } = reply;
    for s in [server, version, host] {
        escape_in_place(s);
    }
    for v in vendors {
        escape_in_place(&mut v.name);
        escape_in_place(&mut v.version);
    }
    for f in features {
        for s in [
            &mut f.name,
            &mut f.version,
            &mut f.expiry,
            &mut f.hostids,
            &mut f.vendor_string,
        ] {
            escape_in_place(s);
        }
        for h in &mut f.holders {
            for s in [
                &mut h.user,
                &mut h.host,
                &mut h.display,
                &mut h.version,
                &mut h.requested_version,
            ] {
                escape_in_place(s);
            }
        }
        for r in &mut f.reservations {
            escape_in_place(&mut r.kind);
            escape_in_place(&mut r.name);
        }
    }
    license_files.iter_mut().for_each(escape_in_place);
    for m in triad {
        escape_in_place(&mut m.host);
        escape_in_place(&mut m.reason);
    }
}

/// [`escape`] for `format!` arguments: `Esc(&user)` prints escaped.
#[derive(Debug, Clone, Copy)]
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Checkout, Hello};
    use proptest::prelude::*;

    fn hello(user: &str, host: &str) -> Message {
        Message::Hello(Hello {
            identity: ClientIdentity {
                user: user.into(),
                host: host.into(),
                ..ClientIdentity::default()
            },
        })
    }

    #[test]
    fn real_names_pass() {
        for name in [
            "joe",
            "j.doe-2_x",
            "joe@EXAMPLE.COM",
            "CORP\\joe",
            "Joe Bloggs",
            "Jörg Müller",
            "山田太郎",
            "ws-01.lab.example.com",
            "",
        ] {
            assert_eq!(check_request(&hello(name, name)), Ok(()), "{name}");
        }
    }

    #[test]
    fn line_breaks_and_overrides_are_refused_naming_the_field() {
        let e = check_request(&hello("joe", "ws1\n12:00:00 (demo) IN: \"f1\" x@y")).unwrap_err();
        assert_eq!(e.field, "Hello host");
        assert_eq!(e.problem, Problem::Refused { ch: '\n', at: 3 });
        let text = e.to_string();
        assert!(
            text.contains("Hello host") && text.contains("U+000A") && !text.contains("IN:"),
            "{text}"
        );
        for bad in [
            "a\rb",
            "a\tb",
            "a\u{7f}",
            "a\u{85}",
            "a\u{9b}",
            "a\u{2028}",
            "a\u{2029}",
            "a\u{202e}",
            "a\u{2066}",
            "a\u{200f}",
            "a\u{61c}",
            "\0",
        ] {
            assert!(check_request(&hello(bad, "h")).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lengths_are_limited_per_field() {
        let long = "x".repeat(MAX_USER + 1);
        let e = check_request(&hello(&long, "h")).unwrap_err();
        assert_eq!(e.field, "Hello user");
        assert!(matches!(e.problem, Problem::TooLong { len: 129, max: 128 }));
        assert!(check_request(&hello(&"x".repeat(MAX_USER), "h")).is_ok());
        let co = Message::Checkout(Checkout {
            feature: "f".repeat(MAX_FEATURE + 1),
            ..Checkout::default()
        });
        assert_eq!(check_request(&co).unwrap_err().field, "Checkout feature");
        let admin = Message::AdminFor(crate::message::AdminFor {
            token: "ops\n 9:00:00 (demo) SHUTDOWN".into(),
            ..crate::message::AdminFor::default()
        });
        assert_eq!(check_request(&admin).unwrap_err().field, "AdminFor token");
        let many = Message::Hello(Hello {
            identity: ClientIdentity {
                hostids: vec!["ID=1".into(); MAX_HOSTIDS + 1],
                ..ClientIdentity::default()
            },
        });
        assert!(matches!(
            check_request(&many).unwrap_err().problem,
            Problem::TooMany { .. }
        ));
    }

    #[test]
    fn escape_keeps_good_strings_and_flattens_the_rest() {
        assert!(matches!(escape("CORP\\joe"), Cow::Borrowed("CORP\\joe")));
        assert_eq!(escape("a\nb\r\tc"), "a\\nb\\r\\tc");
        assert_eq!(escape("x\u{202e}y\u{2028}"), "x\\u{202e}y\\u{2028}");
        assert_eq!(format!("<{}>", Esc("a\u{0}b")), "<a\\u{0}b>");
    }

    #[test]
    fn a_status_reply_is_escaped_everywhere() {
        use crate::message::{FeatureStatus, Holder};
        let mut reply = StatusReply {
            host: "srv\n".into(),
            features: vec![FeatureStatus {
                name: "f1".into(),
                holders: vec![Holder {
                    user: "joe\n 9:00:00 (demo) IN: \"f1\" x@y".into(),
                    display: "\u{202e}".into(),
                    ..Holder::default()
                }],
                ..FeatureStatus::default()
            }],
            license_files: vec!["a\rb".into()],
            ..StatusReply::default()
        };
        escape_status(&mut reply);
        let h = &reply.features[0].holders[0];
        assert_eq!(h.user, "joe\\n 9:00:00 (demo) IN: \"f1\" x@y");
        assert_eq!(h.display, "\\u{202e}");
        assert_eq!(reply.host, "srv\\n");
        assert_eq!(reply.license_files, ["a\\rb"]);
        assert_eq!(reply.features[0].name, "f1");
    }

    proptest! {
        /// Any string is either refused, or prints on exactly one line as
        /// itself; escaped, it always prints on one line.
        #[test]
        fn refused_or_one_line(s in any::<String>()) {
            let escaped = escape(&s);
            prop_assert!(!escaped.chars().any(refused_char));
            prop_assert!(!escaped.contains('\n') && !escaped.contains('\r'));
            match check_field("Hello user", &s, usize::MAX) {
                Ok(()) => {
                    prop_assert_eq!(escaped.as_ref(), s.as_str());
                    prop_assert_eq!(format!("x {s} y").lines().count(), 1);
                }
                Err(e) => {
                    let refused = matches!(e.problem, Problem::Refused { .. });
                    prop_assert!(refused);
                }
            }
        }

        /// Strings made mostly of the characters that matter.
        #[test]
        fn refused_or_one_line_near_the_edges(
            s in proptest::collection::vec(
                prop_oneof![
                    Just('\n'), Just('\r'), Just('\u{2028}'), Just('\u{85}'),
                    Just('\u{202e}'), Just('a'), Just('\\'), Just('é'), Just(' ')
                ],
                0..12,
            ).prop_map(|v| v.into_iter().collect::<String>())
        ) {
            let ok = check_field("Hello host", &s, MAX_HOST).is_ok();
            prop_assert_eq!(ok, !s.chars().any(refused_char));
            if ok {
                prop_assert_eq!(s.lines().count().max(1), 1);
            }
            prop_assert_eq!(escape(&s).lines().count().max(1), 1);
        }
    }
}
