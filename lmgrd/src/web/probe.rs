//! The endpoint's view of its lmgrd: a status document gathered over the
//! license protocol as lmstat gathers it, kept for [`MAX_AGE`] so that
//! any number of dashboards and scrapers cost the daemons at most one
//! status round per [`MAX_AGE`]. It also keeps what one document cannot
//! tell: usage over time (the peak per minute of each feature, for the
//! dashboard's charts) and when the triad's master last changed.

use lmutil::net::Timeouts;
use lmutil::statusdoc::{self, ErrorInfo, StatusDoc};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a gathered document is served before asking again.
pub const MAX_AGE: Duration = Duration::from_millis(500);
/// Minutes of history kept per feature (a day).
const HISTORY_MINUTES: usize = 24 * 60;
/// The status requests' time limits: short, so a hung daemon shows as
/// down rather than hanging the endpoint.
const TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(2),
    io: Duration::from_secs(3),
};

/// One gathered document, or why there is none.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub doc: Result<StatusDoc, ErrorInfo>,
    /// How long gathering took (the license protocol's latency).
    pub took: Duration,
    /// Whether this gathering was new (not from the cache).
    pub fresh: bool,
    /// Each vendor daemon's counters (by vendor name) where it gave them.
    pub stats: Vec<(String, wire::StatsReply)>,
}

/// The peak use of one feature in one minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Sample {
    /// Unix time of the minute's start.
    pub minute: u64,
    pub peak: u32,
    pub issued: u32,
}

/// Per-minute peaks per feature (`vendor/feature`), oldest first.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub features: BTreeMap<String, VecDeque<Sample>>,
}

impl History {
    /// Adds what `doc` shows to the minute it was gathered in.
    pub fn record(&mut self, doc: &StatusDoc) {
        let minute = doc.time / 60 * 60;
        let mut totals: BTreeMap<String, (u32, u32)> = BTreeMap::new();
        for v in &doc.vendors {
            for f in &v.features {
                let t = totals.entry(format!("{}/{}", v.name, f.name)).or_default();
                t.0 += f.in_use;
                t.1 += f.issued;
            }
        }
        for (key, (in_use, issued)) in totals {
            let series = self.features.entry(key).or_default();
            match series.back_mut() {
                Some(last) if last.minute == minute => {
                    last.peak = last.peak.max(in_use);
                    last.issued = issued;
                }
                _ => {
                    series.push_back(Sample {
                        minute,
                        peak: in_use,
                        issued,
                    });
                    if series.len() > HISTORY_MINUTES {
                        series.pop_front();
                    }
                }
            }
        }
    }
}

/// Watches who is master; the time it last changed is a failover.
#[derive(Debug, Clone, Default)]
pub struct MasterWatch {
    seen: Option<Option<String>>,
    /// Unix time the master last changed, once it has.
    pub last_change: Option<u64>,
}

impl MasterWatch {
    pub fn observe(&mut self, master: Option<&str>, now: u64) {
        let master = master.map(str::to_string);
        match &self.seen {
            Some(old) if *old != master => self.last_change = Some(now),
            _ => {}
        }
        self.seen = Some(master);
    }
}

/// How long the daily use is served before asking the vendor daemons
/// again: it changes slowly, and the report log is theirs to read.
pub const USAGE_MAX_AGE: Duration = Duration::from_secs(10);
/// How many days back the dashboard shows.
const USAGE_DAYS: u32 = 31;

/// Each vendor daemon's daily use from its report log, as JSON:
/// `{"vendors": [{"name", "logged", "truncated", "features": [{"feature",
/// "issued", "days": [{"date", "peak", "checkouts", "denied"}]}]}]}`; a
/// vendor daemon that cannot be asked has an `"error"` instead.
pub fn usage(lmgrd: SocketAddr) -> serde_json::Value {
    let spec = client::ServerSpec {
        host: lmgrd.ip().to_string(),
        port: Some(lmgrd.port()),
    };
    let lm = match lmutil::net::lmgrd(&spec, TIMEOUTS) {
        Ok(lm) => lm,
        Err(e) => return serde_json::json!({"error": ErrorInfo::from(&e)}),
    };
    let vendors: Vec<serde_json::Value> = lm
        .status
        .vendors
        .iter()
        .map(|v| {
            match lm
                .vendor(&v.name, TIMEOUTS)
                .and_then(|mut c| c.usage(USAGE_DAYS))
            {
                Ok(u) => serde_json::json!({
                    "name": v.name,
                    "logged": u.logged,
                    "truncated": u.truncated,
                    "features": u.features.iter().map(|f| serde_json::json!({
                        "feature": f.feature,
                        "issued": f.issued,
                        "days": f.days.iter().map(|d| serde_json::json!({
                            "date": d.date,
                            "peak": d.peak,
                            "checkouts": d.checkouts,
                            "denied": d.denied,
                        })).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                }),
                Err(e) => serde_json::json!({"name": v.name, "error": ErrorInfo::from(&e)}),
            }
        })
        .collect();
    serde_json::json!({ "vendors": vendors })
}

/// The cache, the history and the master watch.
pub struct Probe {
    lmgrd: SocketAddr,
    cached: Option<(Instant, Arc<Snapshot>)>,
    pub history: History,
    pub master: MasterWatch,
}

impl Probe {
    pub fn new(lmgrd: SocketAddr) -> Probe {
        Probe {
            lmgrd,
            cached: None,
            history: History::default(),
            master: MasterWatch::default(),
        }
    }

    /// The current snapshot: the cached one if younger than [`MAX_AGE`],
    /// else a new one (blocking: call from a blocking task).
    pub fn current(&mut self) -> Arc<Snapshot> {
        let now = Instant::now();
        if let Some((at, snap)) = &self.cached {
            if now.duration_since(*at) < MAX_AGE {
                let mut old = (**snap).clone();
                old.fresh = false;
                return Arc::new(old);
            }
        }
        let spec = client::ServerSpec {
            host: self.lmgrd.ip().to_string(),
            port: Some(self.lmgrd.port()),
        };
        let started = Instant::now();
        let gathered = statusdoc::gather_with_stats(&spec, TIMEOUTS);
        let stats = match &gathered {
            Ok((replies, counters)) => replies
                .lmgrd
                .vendors
                .iter()
                .zip(counters)
                .filter_map(|(v, c)| Some((v.name.clone(), c.clone()?)))
                .collect(),
            Err(_) => Vec::new(),
        };
        let doc = gathered
            .map(|(r, _)| statusdoc::build(&r, statusdoc::unix_now()))
            .map_err(|e| ErrorInfo::from(&e));
        let took = started.elapsed();
        if let Ok(d) = &doc {
            self.history.record(d);
            self.master.observe(d.master.as_deref(), d.time);
        }
        let snap = Arc::new(Snapshot {
            doc,
            took,
            fresh: true,
            stats,
        });
        self.cached = Some((now, snap.clone()));
        snap
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lmutil::statusdoc::{FeatureInfo, ServerInfo, VendorInfo};

    fn doc(time: u64, in_use: u32) -> StatusDoc {
        StatusDoc {
            schema: statusdoc::SCHEMA.into(),
            time,
            server: ServerInfo {
                host: "h".into(),
                port: 1,
                version: "v".into(),
            },
            license_files: vec![],
            triad: vec![],
            master: Some("h".into()),
            role: "single".into(),
            vendors: vec![VendorInfo {
                name: "demo".into(),
                up: true,
                port: 2,
                version: "v".into(),
                error: None,
                features: vec![FeatureInfo {
                    name: "f1".into(),
                    version: "1.0".into(),
                    counted: true,
                    issued: 4,
                    in_use,
                    queued: 0,
                    reserved: 0,
                    expiry: "permanent".into(),
                    expires_at: None,
                    vendor_string: String::new(),
                    hostids: String::new(),
                    reservations: vec![],
                    holders: vec![],
                    queue: vec![],
                    omitted: 0,
                }],
            }],
        }
    }

    #[test]
    fn history_keeps_the_peak_of_each_minute() {
        let mut h = History::default();
        for (t, n) in [(600, 1), (610, 3), (650, 2), (660, 0)] {
            h.record(&doc(t, n));
        }
        let s: Vec<(u64, u32)> = h.features["demo/f1"]
            .iter()
            .map(|s| (s.minute, s.peak))
            .collect();
        assert_eq!(s, vec![(600, 3), (660, 0)]);
    }

    #[test]
    fn a_new_master_is_a_failover_the_first_sighting_is_not() {
        let mut w = MasterWatch::default();
        w.observe(Some("a"), 10);
        w.observe(Some("a"), 20);
        assert_eq!(w.last_change, None);
        w.observe(None, 30);
        w.observe(Some("b"), 40);
        assert_eq!(w.last_change, Some(40));
    }
}
