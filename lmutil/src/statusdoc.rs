//! The status document: everything `lmstat -a` shows, as JSON with a
//! versioned schema (`docs/admin-guide.md`, "The status document").
//! `lmutil lmstat -json` prints it and lmgrd's `GET /api/1.0/status`
//! serves it; both fill it the same way, from lmgrd's status reply and
//! each of its vendor daemons' ([`gather`]), as lmstat's text is filled.
//!
//! [`build`] is pure: replies and the time in, document out.

use crate::common::LmFailure;
use crate::net::{self, Timeouts};
use client::ServerSpec;
use grammar::{Date, Expiry};
use serde::{Deserialize, Serialize};
use wire::{FeatureStatus, Holder, StatusReply};

/// The schema's name and version. A change that removes or renames a
/// field, or changes its meaning, gets a new version; new fields do not.
pub const SCHEMA: &str = "lm-status/1";

/// One lmgrd's view of everything it serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusDoc {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// When the replies were gathered (Unix seconds).
    pub time: u64,
    /// The lmgrd that answered.
    pub server: ServerInfo,
    /// The license files it serves.
    pub license_files: Vec<String>,
    /// The triad's members as this lmgrd sees them (empty: one server).
    pub triad: Vec<MemberInfo>,
    /// The host of the master: this server alone, the triad's master, or
    /// `None` when the triad has no quorum.
    pub master: Option<String>,
    /// This server's role: `single`, `master`, `standby`.
    pub role: String,
    pub vendors: Vec<VendorInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    pub host: String,
    pub port: u16,
    pub version: String,
}

/// One triad member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// 1, 2, 3: the SERVER line it is.
    pub line: u32,
    pub host: String,
    pub port: u16,
    pub up: bool,
    pub master: bool,
    pub reason: String,
}

/// A FLEXlm error as a field: code, minor and text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorInfo {
    pub code: i32,
    pub minor: i32,
    pub text: String,
}

impl From<&LmFailure> for ErrorInfo {
    fn from(f: &LmFailure) -> Self {
        ErrorInfo {
            code: f.code,
            minor: f.minor,
            text: f.text.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VendorInfo {
    pub name: String,
    /// lmgrd says it runs and it answered.
    pub up: bool,
    pub port: u16,
    pub version: String,
    /// Why its usage is missing, when it is.
    pub error: Option<ErrorInfo>,
    pub features: Vec<FeatureInfo>,
}

/// One pool of a feature, as lmstat shows one `Users of` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureInfo {
    pub name: String,
    pub version: String,
    pub counted: bool,
    pub issued: u32,
    pub in_use: u32,
    /// Licenses asked for by checkouts waiting in the queue.
    pub queued: u32,
    /// Licenses set aside by the options file's RESERVE lines.
    pub reserved: u32,
    /// The expiry as the license line writes it (`permanent` or a date).
    pub expiry: String,
    /// Unix time the line stops being valid (the end of its expiry day,
    /// UTC); `None` when permanent.
    pub expires_at: Option<u64>,
    pub vendor_string: String,
    /// The HOSTID the pool is locked to; empty when floating.
    pub hostids: String,
    pub reservations: Vec<ReservationInfo>,
    pub holders: Vec<HolderInfo>,
    /// Checkouts waiting, in queue order.
    pub queue: Vec<HolderInfo>,
    /// Holders and waiters the vendor daemon left out of its reply so
    /// that it fits in one message; absent when none were.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub omitted: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReservationInfo {
    pub count: u32,
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HolderInfo {
    pub user: String,
    pub host: String,
    pub display: String,
    /// The version the application asked for.
    pub version: String,
    /// Unix time of the checkout (or of joining the queue).
    pub start: u64,
    pub count: u32,
    pub handle: u64,
    pub pid: u32,
    /// Borrowed until this Unix time, `None` when not borrowed.
    pub borrowed_until: Option<u64>,
    /// Seconds the seat stays taken after checkin (LINGER), 0 for none.
    pub linger: u32,
}

/// What lmgrd and its vendor daemons answered at one moment.
#[derive(Debug, Clone)]
pub struct Replies {
    pub lmgrd: StatusReply,
    /// Each vendor daemon lmgrd names, in its order, with its answer.
    pub vendors: Vec<Result<StatusReply, LmFailure>>,
}

/// Asks lmgrd at `spec` and each of its running vendor daemons for status.
pub fn gather(spec: &ServerSpec, t: Timeouts) -> Result<Replies, LmFailure> {
    gather_with(spec, t, false).map(|(replies, _)| replies)
}

/// [`gather`], and each vendor daemon's counters asked on the same
/// connection (`None` where they could not be had).
pub fn gather_with_stats(
    spec: &ServerSpec,
    t: Timeouts,
) -> Result<(Replies, Vec<Option<wire::StatsReply>>), LmFailure> {
    gather_with(spec, t, true)
}

fn gather_with(
    spec: &ServerSpec,
    t: Timeouts,
    stats: bool,
) -> Result<(Replies, Vec<Option<wire::StatsReply>>), LmFailure> {
    let lmgrd = net::lmgrd(spec, t)?;
    let (vendors, counters) = lmgrd
        .status
        .vendors
        .iter()
        .map(|v| match lmgrd.vendor(&v.name, t) {
            Ok(mut c) => {
                let status = c.status("");
                let counters = if stats { c.stats().ok() } else { None };
                (status, counters)
            }
            Err(e) => (Err(e), None),
        })
        .unzip();
    Ok((
        Replies {
            lmgrd: lmgrd.status,
            vendors,
        },
        counters,
    ))
}

/// The document for `replies`, gathered at Unix time `now`.
pub fn build(replies: &Replies, now: u64) -> StatusDoc {
    let lm = &replies.lmgrd;
    let triad: Vec<MemberInfo> = lm
        .triad
        .iter()
        .map(|m| MemberInfo {
            line: m.line,
            host: m.host.clone(),
            port: m.port,
            up: m.up,
            master: m.master,
            reason: m.reason.clone(),
        })
        .collect();
    let (master, role) = roles(lm, &triad);
    let vendors = lm
        .vendors
        .iter()
        .zip(replies.vendors.iter())
        .map(|(v, reply)| match reply {
            Ok(s) => VendorInfo {
                name: v.name.clone(),
                up: v.up,
                port: v.port,
                version: s.version.clone(),
                error: None,
                features: s.features.iter().map(feature).collect(),
            },
            Err(e) => VendorInfo {
                name: v.name.clone(),
                up: false,
                port: v.port,
                version: v.version.clone(),
                error: Some(e.into()),
                features: Vec::new(),
            },
        })
        .collect();
    StatusDoc {
        schema: SCHEMA.to_string(),
        time: now,
        server: ServerInfo {
            host: lm.host.clone(),
            port: lm.port,
            version: lm.version.clone(),
        },
        license_files: lm.license_files.clone(),
        triad,
        master,
        role: role.to_string(),
        vendors,
    }
}

/// Who is master and what this server is.
fn roles(lm: &StatusReply, triad: &[MemberInfo]) -> (Option<String>, &'static str) {
    if triad.is_empty() {
        return (Some(lm.host.clone()), "single");
    }
    let master = triad.iter().find(|m| m.master);
    let me = master.is_some_and(|m| m.port == lm.port && m.host.eq_ignore_ascii_case(&lm.host));
    (
        master.map(|m| m.host.clone()),
        if me { "master" } else { "standby" },
    )
}

fn feature(f: &FeatureStatus) -> FeatureInfo {
    let (queue, holders): (Vec<&Holder>, Vec<&Holder>) = f.holders.iter().partition(|h| h.queued);
    FeatureInfo {
        name: f.name.clone(),
        version: f.version.clone(),
        counted: f.counted,
        issued: f.issued,
        in_use: f.in_use,
        queued: queue.iter().map(|h| h.count).sum(),
        reserved: f.reservations.iter().map(|r| r.count).sum(),
        expiry: f.expiry.clone(),
        expires_at: expires_at(&f.expiry),
        vendor_string: f.vendor_string.clone(),
        hostids: f.hostids.clone(),
        reservations: f
            .reservations
            .iter()
            .map(|r| ReservationInfo {
                count: r.count,
                kind: r.kind.clone(),
                name: r.name.clone(),
            })
            .collect(),
        holders: holders.into_iter().map(holder).collect(),
        queue: queue.into_iter().map(holder).collect(),
        omitted: f.omitted,
    }
}

fn holder(h: &Holder) -> HolderInfo {
    HolderInfo {
        user: h.user.clone(),
        host: h.host.clone(),
        display: h.display.clone(),
        version: h.requested_version.clone(),
        start: h.started,
        count: h.count,
        handle: h.handle,
        pid: h.pid,
        borrowed_until: (h.borrow_until != 0).then_some(h.borrow_until),
        linger: h.linger,
    }
}

/// The system clock as Unix seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The end of a license line's expiry day as Unix time.
fn expires_at(expiry: &str) -> Option<u64> {
    match Date::parse(expiry).ok()?.expiry {
        Expiry::Permanent => None,
        Expiry::On(d) => u64::try_from(d.days_since_epoch() + 1)
            .ok()
            .map(|days| days * 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::{ReservationStatus, TriadMember, VendorState};

    fn holder(user: &str, handle: u64, count: u32, queued: bool) -> Holder {
        Holder {
            user: user.into(),
            host: "h1".into(),
            display: "/dev/pts/1".into(),
            version: "1.0".into(),
            handle,
            started: 1_700_000_000,
            count,
            pid: 42,
            requested_version: "1.0".into(),
            queued,
            borrow_until: 0,
            linger: 0,
        }
    }

    fn reply(server: &str, features: Vec<FeatureStatus>) -> StatusReply {
        StatusReply {
            next: 0,
            server: server.into(),
            version: "v1".into(),
            host: "alpha".into(),
            port: 27000,
            vendors: vec![],
            features,
            license_files: vec!["/etc/lm/license.dat".into()],
            triad: vec![],
        }
    }

    fn f1() -> FeatureStatus {
        FeatureStatus {
            name: "f1".into(),
            version: "1.0".into(),
            counted: true,
            issued: 4,
            in_use: 3,
            expiry: "1-jan-2030".into(),
            holders: vec![holder("ann", 7, 3, false), holder("bob", 8, 2, true)],
            hostids: String::new(),
            vendor_string: "pro".into(),
            reservations: vec![ReservationStatus {
                count: 1,
                kind: "USER".into(),
                name: "carl".into(),
            }],
            omitted: 0,
        }
    }

    #[test]
    fn holders_queue_and_reservations_are_split_and_summed() {
        let mut lm = reply("lmgrd", vec![]);
        lm.vendors = vec![VendorState {
            name: "demo".into(),
            up: true,
            port: 27001,
            version: "v1".into(),
        }];
        let doc = build(
            &Replies {
                lmgrd: lm,
                vendors: vec![Ok(reply("demo", vec![f1()]))],
            },
            5,
        );
        assert_eq!(doc.schema, SCHEMA);
        assert_eq!(
            (doc.role.as_str(), doc.master.as_deref()),
            ("single", Some("alpha"))
        );
        let f = &doc.vendors[0].features[0];
        assert_eq!((f.in_use, f.queued, f.reserved), (3, 2, 1));
        assert_eq!(f.holders.len(), 1);
        assert_eq!(f.holders[0].user, "ann");
        assert_eq!(f.queue[0].user, "bob");
        // 1-jan-2030 ends at 2-jan-2030 00:00 UTC.
        assert_eq!(f.expires_at, Some(1_893_542_400));
    }

    #[test]
    fn a_vendor_that_did_not_answer_is_down_with_the_reason() {
        let mut lm = reply("lmgrd", vec![]);
        lm.vendors = vec![VendorState {
            name: "demo".into(),
            up: false,
            port: 0,
            version: String::new(),
        }];
        let doc = build(
            &Replies {
                lmgrd: lm,
                vendors: vec![Err(LmFailure::new(wire::lmerr::LM_VENDOR_DOWN, 121))],
            },
            5,
        );
        let v = &doc.vendors[0];
        assert!(!v.up);
        assert_eq!(
            v.error.as_ref().map(|e| e.code),
            Some(wire::lmerr::LM_VENDOR_DOWN)
        );
    }

    #[test]
    fn a_triad_member_knows_whether_it_is_master() {
        let member = |line: u32, host: &str, master: bool| TriadMember {
            line,
            host: host.into(),
            port: 27000,
            up: true,
            master,
            reason: String::new(),
        };
        let mut lm = reply("lmgrd", vec![]);
        lm.triad = vec![member(1, "alpha", false), member(2, "beta", true)];
        let doc = build(
            &Replies {
                lmgrd: lm.clone(),
                vendors: vec![],
            },
            0,
        );
        assert_eq!(
            (doc.role.as_str(), doc.master.as_deref()),
            ("standby", Some("beta"))
        );
        lm.triad[1].master = false;
        let doc = build(
            &Replies {
                lmgrd: lm,
                vendors: vec![],
            },
            0,
        );
        assert_eq!(doc.master, None);
    }
}
