//! Whose keys a job trusts, and what it checks with them.
//!
//! A licensed application carries its publisher's keys ([`Publisher`]),
//! built in: they alone validate uncounted lines, vouch for each grant a
//! vendor daemon makes (the signed line behind it must verify) and for
//! borrow records (the vendor daemon's seal). Keys found at run time are
//! under the control of whoever runs the application, so only the admin
//! tools use them ([`Trust::Inspection`]), to show what a file holds; they
//! license nothing.

use crate::borrow::BorrowRecord;
use crate::error::{minor, LmError, Step};
use grammar::publisher::{BorrowSeal, Publisher, SignedLine};
use grammar::signature::{key_search_dirs, KeyRing};
use grammar::{Date, Version};
use std::path::Path;
use std::sync::Arc;
use wire::{lmerr, Granted, LineProof};

/// The keys a job checks licenses with.
#[derive(Debug, Clone)]
pub(crate) enum Trust {
    /// A licensed application: its publisher's built-in keys, nothing else.
    Publisher(Arc<Publisher>),
    /// An admin tool (lmdiag, lmborrow): keys found on
    /// `LM_PUBLIC_KEY_PATH`, beside the program or beside the license
    /// file, to diagnose; grants are taken as the server states them.
    Inspection,
}

impl Trust {
    /// The keys to verify the lines of `license` (a file of `vendor`'s).
    pub(crate) fn key_ring(&self, vendor: &str, license: &Path) -> KeyRing {
        match self {
            Trust::Publisher(p) => p.key_ring(),
            Trust::Inspection => KeyRing::load([vendor], &key_search_dirs(Some(license))).0,
        }
    }

    /// Checks that a line signed by the publisher backs `granted`, asked
    /// for at `version` or later: LM_BADCODE when none does (a vendor
    /// daemon serving a line the publisher never signed).
    pub(crate) fn vouch(
        &self,
        granted: &Granted,
        version: &str,
        today: Date,
        server: &str,
    ) -> Result<(), LmError> {
        let Trust::Publisher(publisher) = self else {
            return Ok(());
        };
        let wanted = Version::parse(version).ok_or_else(|| {
            LmError::new(
                lmerr::LM_BADPARAM,
                minor::BAD_PARAM,
                Step::CheckoutDenied,
                format!("`{version}` is not a version number"),
            )
        })?;
        let problem = match proof_from_wire(&granted.proof) {
            Some(proof) => publisher
                .check_grant(&proof, &granted.feature, &wanted, today)
                .err()
                .map(|p| p.to_string()),
            None => Some("the signed license line sent with the grant is malformed".into()),
        };
        match problem {
            None => Ok(()),
            Some(why) => Err(LmError::new(
                lmerr::LM_BADCODE,
                minor::GRANT_NOT_SIGNED,
                Step::CheckoutDenied,
                format!(
                    "checkout of {} from {server}: refused the grant: {why}",
                    granted.feature
                ),
            )),
        }
    }

    /// True if `record` carries its vendor daemon's seal over its terms,
    /// for this `user` on this `host`. Admin tools take records as they are.
    pub(crate) fn seal_holds(&self, record: &BorrowRecord, user: &str, host: &str) -> bool {
        let Trust::Publisher(publisher) = self else {
            return true;
        };
        publisher.check_seal(&seal_terms(record, user, host), &record.seal)
    }
}

/// A borrow record's terms, as the vendor daemon sealed them.
pub(crate) fn seal_terms<'a>(
    record: &'a BorrowRecord,
    user: &'a str,
    host: &'a str,
) -> BorrowSeal<'a> {
    BorrowSeal {
        vendor: &record.vendor,
        feature: &record.feature,
        version: &record.version,
        count: record.count,
        expiry: &record.expiry,
        until: record.until,
        handle: record.handle,
        user,
        host,
    }
}

/// The proof lines of a grant, or `None` if one is malformed.
fn proof_from_wire(proof: &[LineProof]) -> Option<Vec<SignedLine>> {
    proof
        .iter()
        .map(|p| {
            Some(SignedLine {
                content: p.content.0.as_slice().into(),
                key_id: p.key_id.to_be_bytes(),
                signature: p.signature.0.as_slice().try_into().ok()?,
            })
        })
        .collect()
}
