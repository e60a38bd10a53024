//! Host identifiers on SERVER lines and HOSTID= fields, and matching them
//! against the identity of a machine or a user.
//!
//! Matching is a pure function of a [`HostId`] and a [`HostIdentity`]: the
//! caller (a daemon or the client library) gathers the machine's ids once.

use serde::Serialize;
use std::fmt;
use std::net::Ipv4Addr;

/// One host identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostId {
    /// Any machine (`ANY`).
    Any,
    /// Any machine, uncounted demonstration lines only (`DEMO`).
    Demo,
    /// A hexadecimal id: a 32-bit host id or a 48-bit Ethernet address.
    /// `digits` keeps the written width so it prints as it was written.
    Hex {
        value: u64,
        digits: u8,
    },
    /// `INTERNET=a.b.c.d`, each part a number or `*`.
    Internet([Option<u8>; 4]),
    Hostname(String),
    User(String),
    Display(String),
    /// `ID=n`: an identification number that locks to nothing.
    Id(String),
    /// Any other `TYPE=value` (DISK_SERIAL_NUM, ID_STRING, SENTINEL_KEY,
    /// FLEXID, COMPOSITE, vendor-defined...). It matches only a machine that
    /// reports the same type and value.
    Other {
        kind: String,
        value: String,
    },
}

/// Why a hostid was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostIdError {
    #[error("empty hostid")]
    Empty,
    #[error(
        "`{0}` is not a hostid: expected hexadecimal digits, #decimal, ANY, DEMO or TYPE=value"
    )]
    Shape(String),
    #[error("`{0}` is not an INTERNET= address: expected four parts, each 0-255 or *")]
    Internet(String),
    #[error("`{0}` is too large for a hostid")]
    TooLarge(String),
}

/// Everything a machine and its user can be identified by.
#[derive(Debug, Clone, Default)]
pub struct HostIdentity {
    /// Ethernet addresses and the 32-bit host id, as numbers.
    pub hex_ids: Vec<u64>,
    pub hostname: String,
    pub user: String,
    pub display: String,
    pub addresses: Vec<Ipv4Addr>,
    /// Other typed ids the machine can show, as (TYPE, value).
    pub others: Vec<(String, String)>,
}

impl HostIdentity {
    /// This machine's ids as lmhostid would print them, for messages that
    /// must show both sides of a hostid mismatch: hexadecimal ids (12
    /// digits for Ethernet addresses, 8 for 32-bit ids), then
    /// `INTERNET=`, `HOSTNAME=` and the other typed ids.
    pub fn describe(&self) -> String {
        let mut ids: Vec<String> = self
            .hex_ids
            .iter()
            .map(|v| match *v > u64::from(u32::MAX) {
                true => format!("{v:012x}"),
                false => format!("{v:08x}"),
            })
            .collect();
        ids.extend(self.addresses.iter().map(|a| format!("INTERNET={a}")));
        if !self.hostname.is_empty() {
            ids.push(format!("HOSTNAME={}", self.hostname));
        }
        ids.extend(self.others.iter().map(|(k, v)| format!("{k}={v}")));
        ids.join(" ")
    }
}

impl HostId {
    /// Parses one hostid token. Type names are case-insensitive, as are
    /// hexadecimal digits.
    pub fn parse(text: &str) -> Result<HostId, HostIdError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(HostIdError::Empty);
        }
        if text.eq_ignore_ascii_case("ANY") {
            return Ok(HostId::Any);
        }
        if text.eq_ignore_ascii_case("DEMO") {
            return Ok(HostId::Demo);
        }
        if let Some((kind, value)) = text.split_once('=') {
            let is = |name: &str| kind.eq_ignore_ascii_case(name);
            return Ok(if is("INTERNET") {
                HostId::Internet(parse_internet(value)?)
            } else if is("HOSTNAME") {
                HostId::Hostname(value.to_string())
            } else if is("USER") {
                HostId::User(value.to_string())
            } else if is("DISPLAY") {
                HostId::Display(value.to_string())
            } else if is("ID") {
                HostId::Id(value.to_string())
            } else if kind.is_empty() {
                return Err(HostIdError::Shape(text.to_string()));
            } else {
                HostId::Other {
                    kind: kind.to_ascii_uppercase(),
                    value: value.to_string(),
                }
            });
        }
        if let Some(decimal) = text.strip_prefix('#') {
            let value: u64 = decimal
                .parse()
                .map_err(|_| HostIdError::Shape(text.to_string()))?;
            if value > u64::from(u32::MAX) {
                return Err(HostIdError::TooLarge(text.to_string()));
            }
            return Ok(HostId::Hex { value, digits: 8 });
        }
        parse_hex(text)
    }

    /// Parses a whitespace-separated list, as in `HOSTID="id1 id2"`.
    pub fn parse_list(text: &str) -> Result<Vec<HostId>, HostIdError> {
        // Most lists are one id, in ASCII without white space.
        if text.bytes().all(|b| b.is_ascii_graphic()) {
            return Ok(vec![HostId::parse(text)?]);
        }
        // Count first, so the list is allocated once.
        let words = || text.split(char::is_whitespace).filter(|w| !w.is_empty());
        let mut ids = Vec::with_capacity(words().count());
        for word in words() {
            ids.push(HostId::parse(word)?);
        }
        if ids.is_empty() {
            return Err(HostIdError::Empty);
        }
        Ok(ids)
    }

    /// True when this id locks nothing down (ANY, DEMO, ID=).
    pub fn is_unrestricted(&self) -> bool {
        matches!(self, HostId::Any | HostId::Demo | HostId::Id(_))
    }

    /// Does `who` satisfy this hostid?
    pub fn matches(&self, who: &HostIdentity) -> bool {
        match self {
            HostId::Any | HostId::Demo | HostId::Id(_) => true,
            HostId::Hex { value, .. } => who.hex_ids.contains(value),
            HostId::Internet(pattern) => who.addresses.iter().any(|a| {
                a.octets()
                    .iter()
                    .zip(pattern)
                    .all(|(octet, part)| part.is_none_or(|p| p == *octet))
            }),
            HostId::Hostname(name) => hostname_matches(name, &who.hostname),
            HostId::User(user) => *user == who.user,
            HostId::Display(display) => *display == who.display,
            HostId::Other { kind, value } => who
                .others
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case(kind) && v.eq_ignore_ascii_case(value)),
        }
    }
}

/// True when any id of the list matches (a list means "one of these").
pub fn any_matches(ids: &[HostId], who: &HostIdentity) -> bool {
    ids.iter().any(|id| id.matches(who))
}

/// Host names compare without case; a short name matches the fully
/// qualified name that starts with it, and the other way round.
fn hostname_matches(wanted: &str, actual: &str) -> bool {
    let short = |s: &str| s.split('.').next().unwrap_or("").to_ascii_lowercase();
    wanted.eq_ignore_ascii_case(actual)
        || ((!wanted.contains('.') || !actual.contains('.')) && short(wanted) == short(actual))
}

fn parse_hex(text: &str) -> Result<HostId, HostIdError> {
    let body = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    // Ethernet addresses are sometimes pasted with separators: 08:00:20:00:05:ac.
    let cleaned: std::borrow::Cow<str> =
        if body.len() == 17 && body.chars().filter(|c| *c == ':' || *c == '-').count() == 5 {
            body.chars().filter(|c| *c != ':' && *c != '-').collect()
        } else {
            body.into()
        };
    if cleaned.is_empty() || !cleaned.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(HostIdError::Shape(text.to_string()));
    }
    let significant = cleaned.trim_start_matches('0');
    if significant.len() > 16 {
        return Err(HostIdError::TooLarge(text.to_string()));
    }
    let value = u64::from_str_radix(
        if significant.is_empty() {
            "0"
        } else {
            significant
        },
        16,
    )
    .map_err(|_| HostIdError::TooLarge(text.to_string()))?;
    Ok(HostId::Hex {
        value,
        digits: cleaned.len().min(16) as u8,
    })
}

fn parse_internet(value: &str) -> Result<[Option<u8>; 4], HostIdError> {
    let bad = || HostIdError::Internet(value.to_string());
    let mut out = [None; 4];
    let mut parts = value.split('.');
    for slot in out.iter_mut() {
        let part = parts.next().ok_or_else(bad)?;
        *slot = match part {
            "*" => None,
            p if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                Some(p.parse::<u8>().map_err(|_| bad())?)
            }
            _ => return Err(bad()),
        };
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(out)
}

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostId::Any => f.write_str("ANY"),
            HostId::Demo => f.write_str("DEMO"),
            HostId::Hex { value, digits } => {
                write!(f, "{:0width$x}", value, width = usize::from(*digits))
            }
            HostId::Internet(parts) => {
                let shown: Vec<String> = parts
                    .iter()
                    .map(|p| p.map_or_else(|| "*".to_string(), |n| n.to_string()))
                    .collect();
                write!(f, "INTERNET={}", shown.join("."))
            }
            HostId::Hostname(v) => write!(f, "HOSTNAME={v}"),
            HostId::User(v) => write!(f, "USER={v}"),
            HostId::Display(v) => write!(f, "DISPLAY={v}"),
            HostId::Id(v) => write!(f, "ID={v}"),
            HostId::Other { kind, value } => write!(f, "{kind}={value}"),
        }
    }
}

impl Serialize for HostId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Prints a list the way a license file writes it: one id bare, several quoted.
pub fn display_list(ids: &[HostId]) -> String {
    let joined: Vec<String> = ids.iter().map(ToString::to_string).collect();
    joined.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_described_as_lmhostid_prints_ids() {
        let who = HostIdentity {
            hex_ids: vec![0x0800_2000_05ac, 0x1700_7ea8],
            hostname: "ws1".into(),
            addresses: vec![Ipv4Addr::new(10, 0, 0, 5)],
            others: vec![("USER".into(), "joe".into())],
            ..HostIdentity::default()
        };
        assert_eq!(
            who.describe(),
            "0800200005ac 17007ea8 INTERNET=10.0.0.5 HOSTNAME=ws1 USER=joe"
        );
    }

    fn identity() -> HostIdentity {
        HostIdentity {
            hex_ids: vec![0x0800_2000_05ac, 0x1700_7ea8],
            hostname: "build7.example.com".into(),
            user: "joe".into(),
            display: ":0".into(),
            addresses: vec![Ipv4Addr::new(195, 186, 4, 2)],
            others: vec![("DISK_SERIAL_NUM".into(), "1CA25283".into())],
        }
    }

    #[test]
    fn parses_every_kind() {
        assert_eq!(HostId::parse("any").unwrap(), HostId::Any);
        assert_eq!(HostId::parse("DEMO").unwrap(), HostId::Demo);
        assert_eq!(
            HostId::parse("17007EA8").unwrap(),
            HostId::Hex {
                value: 0x1700_7ea8,
                digits: 8
            }
        );
        assert_eq!(
            HostId::parse("#385941160").unwrap(),
            HostId::parse("1700fea8").unwrap()
        );
        assert_eq!(
            HostId::parse("08:00:20:00:05:ac").unwrap(),
            HostId::parse("0800200005AC").unwrap()
        );
        assert_eq!(
            HostId::parse("INTERNET=195.186.*.*").unwrap(),
            HostId::Internet([Some(195), Some(186), None, None])
        );
        assert_eq!(
            HostId::parse("hostname=globes").unwrap(),
            HostId::Hostname("globes".into())
        );
        assert_eq!(
            HostId::parse("USER=joe").unwrap(),
            HostId::User("joe".into())
        );
        assert_eq!(
            HostId::parse("DISPLAY=:0").unwrap(),
            HostId::Display(":0".into())
        );
        assert_eq!(HostId::parse("ID=1234").unwrap(), HostId::Id("1234".into()));
        assert!(matches!(
            HostId::parse("SENTINEL_KEY=B285003").unwrap(),
            HostId::Other { .. }
        ));
    }

    #[test]
    fn refuses_bad_ids() {
        assert!(HostId::parse("").is_err());
        assert!(HostId::parse("xyz").is_err());
        assert!(HostId::parse("INTERNET=1.2.3").is_err());
        assert!(HostId::parse("INTERNET=1.2.3.256").is_err());
        assert!(HostId::parse("#99999999999").is_err());
        assert!(HostId::parse("=x").is_err());
        assert!(HostId::parse_list("   ").is_err());
    }

    #[test]
    fn matching() {
        let who = identity();
        for yes in [
            "ANY",
            "DEMO",
            "0800200005ac",
            "17007ea8",
            "INTERNET=195.186.*.*",
            "HOSTNAME=BUILD7",
            "HOSTNAME=build7.example.com",
            "USER=joe",
            "DISPLAY=:0",
            "DISK_SERIAL_NUM=1ca25283",
        ] {
            assert!(HostId::parse(yes).unwrap().matches(&who), "{yes}");
        }
        for no in [
            "12345678",
            "INTERNET=10.*.*.*",
            "HOSTNAME=other",
            "USER=ann",
            "SENTINEL_KEY=1",
        ] {
            assert!(!HostId::parse(no).unwrap().matches(&who), "{no}");
        }
        let list = HostId::parse_list("12345678 17007ea8").unwrap();
        assert!(any_matches(&list, &who));
    }

    #[test]
    fn prints_as_written() {
        for t in [
            "17007ea8",
            "0800200005ac",
            "INTERNET=195.186.*.*",
            "HOSTNAME=x",
            "ANY",
        ] {
            assert_eq!(HostId::parse(t).unwrap().to_string(), t);
        }
    }
}
