//! What the publisher wrote on the license line behind a checkout:
//! VENDOR_STRING, NOTICE, ISSUER, SN and the expiry. Publishers encode
//! product tiers and customer references in them, so an application
//! reads them after a checkout (FLEXlm's `lc_auth_data`).
//!
//! For a server's grant they are read from the signed line the grant
//! carries (the one the publisher's keys just vouched for), never from
//! anything the vendor daemon could make up; for a local license, from
//! the line that was validated on this machine.

use grammar::model::Feature;
use grammar::{Date, Expiry};
use wire::LineProof;

/// The publisher's text attributes of a license line. `None` when the
/// line has no such attribute.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineTerms {
    /// `VENDOR_STRING=`.
    pub vendor_string: Option<String>,
    /// `NOTICE=`.
    pub notice: Option<String>,
    /// `ISSUER=`.
    pub issuer: Option<String>,
    /// `SN=` (the serial number).
    pub serial: Option<String>,
}

impl LineTerms {
    /// The terms of a line parsed from a license file.
    pub(crate) fn of_feature(f: &Feature) -> LineTerms {
        let text = |t: &Option<grammar::small_str::SmallStr>| t.as_deref().map(str::to_string);
        LineTerms {
            vendor_string: text(&f.vendor_string),
            notice: text(&f.notice),
            issuer: text(&f.issuer),
            serial: text(&f.serial),
        }
    }

    /// The terms of the FEATURE-like line in a grant's proof: the one
    /// named `feature`, else the first (a package's enabling line).
    /// Unreadable proof gives empty terms.
    pub(crate) fn from_proof(proof: &[LineProof], feature: &str) -> LineTerms {
        let lines: Vec<Vec<&str>> = proof
            .iter()
            .filter_map(|p| grammar::signature::content_fields(&p.content.0))
            .filter(|f| matches!(f.first(), Some(&("FEATURE" | "INCREMENT" | "UPGRADE"))))
            .collect();
        let line = lines
            .iter()
            .find(|f| f.get(1) == Some(&feature))
            .or_else(|| lines.first());
        line.map_or_else(LineTerms::default, |fields| LineTerms::from_fields(fields))
    }

    /// Reads `NAME=value` fields (the signed form of the attributes).
    fn from_fields(fields: &[&str]) -> LineTerms {
        let value = |name: &str| {
            fields.iter().find_map(|f| {
                f.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix('='))
                    .map(str::to_string)
            })
        };
        LineTerms {
            vendor_string: value("VENDOR_STRING"),
            notice: value("NOTICE"),
            issuer: value("ISSUER"),
            serial: value("SN"),
        }
    }
}

/// Days from `today` until a license that expires as `expiry` says (as a
/// license file writes it) stops working, counted as FLEXlm's
/// `lc_expire_days` does: 0 when it expires tonight, `None` for a
/// permanent license, negative once it has expired. An unreadable date
/// counts as expired yesterday.
pub fn expire_days(expiry: &str, today: Date) -> Option<i64> {
    match Date::parse(expiry).map(|p| p.expiry) {
        Ok(Expiry::Permanent) => None,
        Ok(Expiry::On(last)) => Some(last.days_since_epoch() - today.days_since_epoch()),
        Err(_) => Some(-1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::codec::Blob;

    fn proof_of(content: &[u8]) -> LineProof {
        LineProof {
            content: Blob(content.to_vec()),
            key_id: 1,
            signature: Blob(vec![0; 64]),
        }
    }

    fn field(s: &str) -> String {
        format!("{}:{s}\n", s.len())
    }

    fn line(fields: &[&str]) -> Vec<u8> {
        let mut out = "lmsign1\n".to_string();
        for f in fields {
            out.push_str(&field(f));
        }
        out.into_bytes()
    }

    #[test]
    fn terms_come_from_the_signed_line_of_the_feature() {
        let other = line(&["FEATURE", "g", "demo", "1.0", "permanent", "1", "SN=9"]);
        let mine = line(&[
            "FEATURE",
            "f1",
            "demo",
            "1.0",
            "permanent",
            "4",
            "ISSUER=Acme",
            "NOTICE=For Example Corp",
            "SN=123-A",
            "VENDOR_STRING=tier=gold",
        ]);
        let t = LineTerms::from_proof(&[proof_of(&other), proof_of(&mine)], "f1");
        assert_eq!(t.vendor_string.as_deref(), Some("tier=gold"));
        assert_eq!(t.notice.as_deref(), Some("For Example Corp"));
        assert_eq!(t.issuer.as_deref(), Some("Acme"));
        assert_eq!(t.serial.as_deref(), Some("123-A"));
    }

    #[test]
    fn a_package_component_reads_the_enabling_line_and_junk_reads_nothing() {
        let pkg = line(&["PACKAGE", "suite", "demo", "1.0", "COMPONENTS=a b"]);
        let enabling = line(&["FEATURE", "suite", "demo", "1.0", "permanent", "2", "SN=7"]);
        let t = LineTerms::from_proof(&[proof_of(&pkg), proof_of(&enabling)], "a");
        assert_eq!(t.serial.as_deref(), Some("7"));
        assert_eq!(t.vendor_string, None);
        let junk = LineTerms::from_proof(&[proof_of(b"not signed content")], "a");
        assert_eq!(junk, LineTerms::default());
    }

    #[test]
    fn expire_days_counts_like_flexlm() {
        let today = Date::new(2030, 6, 10).unwrap();
        assert_eq!(expire_days("permanent", today), None);
        assert_eq!(expire_days("10-jun-2030", today), Some(0));
        assert_eq!(expire_days("12-jun-2030", today), Some(2));
        assert_eq!(expire_days("1-jul-2030", today), Some(21));
        assert_eq!(expire_days("9-jun-2030", today), Some(-1));
        assert_eq!(expire_days("garbage", today), Some(-1));
    }
}
