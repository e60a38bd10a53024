//! `/metrics`: the families and labels flexlm_exporter publishes (so
//! dashboards built for it keep working), computed from the status
//! document at scrape time, plus our own: queue length, holders, vendor
//! daemon ports, the triad role and last failover, the license
//! protocol's status latency and the endpoint's own requests.
//!
//! The label `app` is the server as lmstat names it (`port@host`); the
//! exporter takes it from its configuration, where it names a license
//! server too.

use super::probe::Snapshot;
use lmutil::statusdoc::StatusDoc;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

type Labels = Vec<(String, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// What is counted across scrapes.
#[derive(Clone)]
pub struct Counters {
    /// HTTP requests by route and status code.
    pub requests: Family<Labels, Counter>,
    /// Seconds to answer an HTTP request.
    pub request_seconds: Histogram,
    /// Seconds for one status round over the license protocol.
    pub status_seconds: Histogram,
    /// Status rounds that failed.
    pub status_failures: Counter,
    /// Admin requests refused, by reason.
    pub admin_refusals: Family<Labels, Counter>,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            requests: Family::default(),
            request_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            status_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            status_failures: Counter::default(),
            admin_refusals: Family::default(),
        }
    }
}

/// What the probe knows beyond one document.
pub struct Extra {
    /// Unix time the triad's master last changed.
    pub last_failover: Option<u64>,
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

/// Registers a gauge family and returns it.
fn gauge_family<G>(r: &mut Registry, name: &str, help: &str) -> Family<Labels, G>
where
    G: prometheus_client::metrics::TypedMetric
        + prometheus_client::encoding::EncodeMetric
        + Default
        + Clone
        + Send
        + Sync
        + std::fmt::Debug
        + 'static,
{
    let f = Family::<Labels, G>::default();
    r.register(name, help, f.clone());
    f
}

/// The exposition text for `snap`.
pub fn render(snap: &Snapshot, extra: &Extra, counters: &Counters) -> String {
    let mut r = Registry::default();
    r.register(
        "lm_http_requests",
        "HTTP requests answered, by route and status",
        counters.requests.clone(),
    );
    r.register(
        "lm_http_request_duration_seconds",
        "Time to answer an HTTP request",
        counters.request_seconds.clone(),
    );
    r.register(
        "lm_status_request_duration_seconds",
        "Time for one status round to lmgrd and its vendor daemons over the license protocol",
        counters.status_seconds.clone(),
    );
    r.register(
        "lm_status_request_failures",
        "Status rounds that failed",
        counters.status_failures.clone(),
    );
    r.register(
        "lm_http_admin_refusals",
        "Admin requests refused, by reason",
        counters.admin_refusals.clone(),
    );
    let up = gauge_family::<Gauge>(&mut r, "lm_up", "1 when lmgrd answered the status request");
    up.get_or_create(&vec![]).set(i64::from(snap.doc.is_ok()));
    if let Ok(doc) = &snap.doc {
        exporter_families(&mut r, doc);
        our_families(&mut r, doc, extra);
    }
    vendor_activity(&mut r, &snap.stats);
    let mut out = String::new();
    if encode(&mut out, &r).is_err() {
        out.clear();
    }
    out
}

/// The flexlm_exporter families.
fn exporter_families(r: &mut Registry, doc: &StatusDoc) {
    let app = format!("{}@{}", doc.server.port, doc.server.host);
    let server = gauge_family::<Gauge>(r, "flexlm_server_status", "License server status");
    if doc.triad.is_empty() {
        let port = doc.server.port.to_string();
        server
            .get_or_create(&labels(&[
                ("app", &app),
                ("fqdn", &doc.server.host),
                ("master", "true"),
                ("port", &port),
                ("version", &doc.server.version),
            ]))
            .set(1);
    }
    for m in &doc.triad {
        let port = m.port.to_string();
        server
            .get_or_create(&labels(&[
                ("app", &app),
                ("fqdn", &m.host),
                ("master", if m.master { "true" } else { "false" }),
                ("port", &port),
                ("version", &doc.server.version),
            ]))
            .set(i64::from(m.up));
    }
    let vendor = gauge_family::<Gauge>(r, "flexlm_vendor_status", "Vendor daemon status");
    let issued = gauge_family::<Gauge>(r, "flexlm_feature_issued", "Licenses issued");
    let used = gauge_family::<Gauge>(r, "flexlm_feature_used", "Licenses in use");
    let users = gauge_family::<Gauge>(r, "flexlm_feature_used_users", "Licenses in use by user");
    let groups = gauge_family::<Gauge>(
        r,
        "flexlm_feature_reserved_groups",
        "Licenses reserved for a group",
    );
    let hosts = gauge_family::<Gauge>(
        r,
        "flexlm_feature_reserved_host",
        "Licenses reserved for a host",
    );
    let expiry = gauge_family::<FloatGauge>(
        r,
        "flexlm_feature_expiration_seconds",
        "Unix time the license line expires (+Inf when permanent)",
    );
    for v in &doc.vendors {
        vendor
            .get_or_create(&labels(&[
                ("app", &app),
                ("name", &v.name),
                ("version", &v.version),
            ]))
            .set(i64::from(v.up));
        // Several pools of one feature are one feature to the exporter.
        let mut totals: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for (index, f) in v.features.iter().enumerate() {
            let t = totals.entry(&f.name).or_default();
            t.0 += i64::from(f.issued);
            t.1 += i64::from(f.in_use);
            for h in &f.holders {
                let since = h.start.to_string();
                users
                    .get_or_create(&labels(&[
                        ("app", &app),
                        ("name", &f.name),
                        ("user", &h.user),
                        ("host", &h.host),
                        ("device", &h.display),
                        ("version", &h.version),
                        ("since", &since),
                    ]))
                    .inc_by(i64::from(h.count));
            }
            for res in &f.reservations {
                let count = i64::from(res.count);
                match res.kind.as_str() {
                    "GROUP" | "HOST_GROUP" => groups
                        .get_or_create(&labels(&[
                            ("app", &app),
                            ("name", &f.name),
                            ("group", &res.name),
                        ]))
                        .inc_by(count),
                    "HOST" => hosts
                        .get_or_create(&labels(&[
                            ("app", &app),
                            ("name", &f.name),
                            ("host", &res.name),
                        ]))
                        .inc_by(count),
                    _ => 0,
                };
            }
            let index = index.to_string();
            let licenses = f.issued.to_string();
            let at = f.expires_at.map_or(f64::INFINITY, |s| s as f64);
            expiry
                .get_or_create(&labels(&[
                    ("app", &app),
                    ("name", &f.name),
                    ("vendor", &v.name),
                    ("version", &f.version),
                    ("index", &index),
                    ("licenses", &licenses),
                ]))
                .set(at);
        }
        for (name, (i, u)) in totals {
            let l = labels(&[("app", &app), ("name", name), ("vendor", &v.name)]);
            issued.get_or_create(&l).set(i);
            used.get_or_create(&l).set(u);
        }
    }
}

/// Ours: queue, holders, vendor daemons, triad.
fn our_families(r: &mut Registry, doc: &StatusDoc, extra: &Extra) {
    let queued = gauge_family::<Gauge>(
        r,
        "lm_feature_queued",
        "Licenses asked for by queued checkouts",
    );
    let holders = gauge_family::<Gauge>(
        r,
        "lm_feature_holders",
        "Checkouts holding licenses (client connections with seats)",
    );
    for v in &doc.vendors {
        for f in &v.features {
            let l = labels(&[
                ("vendor", &v.name),
                ("name", &f.name),
                ("version", &f.version),
            ]);
            queued.get_or_create(&l).inc_by(i64::from(f.queued));
            holders.get_or_create(&l).inc_by(f.holders.len() as i64);
        }
    }
    let role = gauge_family::<Gauge>(
        r,
        "lm_triad_role",
        "This server's role (1 for the current one)",
    );
    for name in ["single", "master", "standby"] {
        role.get_or_create(&labels(&[("role", name)]))
            .set(i64::from(doc.role == name));
    }
    let members = gauge_family::<Gauge>(
        r,
        "lm_triad_members_up",
        "Triad members this server sees up",
    );
    members
        .get_or_create(&vec![])
        .set(doc.triad.iter().filter(|m| m.up).count() as i64);
    if let Some(t) = extra.last_failover {
        let g = gauge_family::<Gauge>(
            r,
            "lm_triad_last_failover_timestamp_seconds",
            "Unix time this server last saw the master change",
        );
        g.get_or_create(&vec![]).set(t as i64);
    }
}

/// The vendor daemons' own counters (`StatsQuery`): what was granted,
/// refused (by error number), reclaimed, and how long checkouts took.
fn vendor_activity(r: &mut Registry, stats: &[(String, wire::StatsReply)]) {
    let counter = |r: &mut Registry, name: &str, help: &str| {
        let f = Family::<Labels, Counter>::default();
        r.register(name, help, f.clone());
        f
    };
    let granted = counter(r, "lm_checkouts", "Checkouts granted");
    let queued = counter(r, "lm_checkouts_queued", "Checkouts that joined the queue");
    let denied = counter(
        r,
        "lm_checkout_denials",
        "Checkouts refused, by FLEXlm error number",
    );
    let released = counter(r, "lm_seats_released", "Seats given back, for any reason");
    let reclaimed = counter(
        r,
        "lm_seats_reclaimed",
        "Seats taken back from silent or idle holders",
    );
    let removed = counter(r, "lm_seats_removed", "Seats taken back by lmremove");
    let misses = counter(
        r,
        "lm_heartbeat_misses",
        "Connections holding seats closed because no heartbeat came in time",
    );
    let connections = gauge_family::<Gauge>(
        r,
        "lm_vendor_connections",
        "Client connections open to the vendor daemon",
    );
    let mut latency = ReportedHistograms::default();
    for (vendor, s) in stats {
        let l = labels(&[("vendor", vendor)]);
        granted.get_or_create(&l).inc_by(s.granted);
        queued.get_or_create(&l).inc_by(s.queued);
        released.get_or_create(&l).inc_by(s.released);
        reclaimed.get_or_create(&l).inc_by(s.reclaimed);
        removed.get_or_create(&l).inc_by(s.removed);
        misses.get_or_create(&l).inc_by(s.heartbeat_misses);
        connections.get_or_create(&l).set(i64::from(s.connections));
        for c in &s.denied {
            let code = c.code.to_string();
            denied
                .get_or_create(&labels(&[("vendor", vendor), ("code", &code)]))
                .inc_by(c.count);
        }
        latency.0.push((l, ReportedHistogram::from_stats(s)));
    }
    r.register(
        "lm_checkout_duration_seconds",
        "Time from a checkout's arrival at the vendor daemon to its answer (in a triad, once the majority holds it)",
        latency,
    );
}

/// A histogram counted elsewhere (by a vendor daemon) and only shown here.
#[derive(Debug, Clone, Default)]
struct ReportedHistogram {
    sum: f64,
    count: u64,
    /// Upper bound and count of each bucket, not cumulative; the last
    /// bound is +Inf.
    buckets: Vec<(f64, u64)>,
}

impl ReportedHistogram {
    fn from_stats(s: &wire::StatsReply) -> ReportedHistogram {
        let bounds = wire::CHECKOUT_LATENCY_BOUNDS_US
            .iter()
            .map(|&us| us as f64 / 1e6)
            .chain(std::iter::once(f64::INFINITY));
        let buckets: Vec<(f64, u64)> = bounds.zip(s.latency_buckets.iter().copied()).collect();
        ReportedHistogram {
            sum: s.latency_sum_us as f64 / 1e6,
            count: buckets.iter().map(|(_, n)| n).sum(),
            buckets,
        }
    }
}

/// One [`ReportedHistogram`] per label set, encoded as one family.
#[derive(Debug, Default)]
struct ReportedHistograms(Vec<(Labels, ReportedHistogram)>);

impl prometheus_client::encoding::EncodeMetric for ReportedHistograms {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::MetricEncoder,
    ) -> Result<(), std::fmt::Error> {
        for (labels, h) in &self.0 {
            encoder
                .encode_family(labels)?
                .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                    h.sum, h.count, &h.buckets, None,
                )?;
        }
        Ok(())
    }

    fn metric_type(&self) -> prometheus_client::metrics::MetricType {
        prometheus_client::metrics::MetricType::Histogram
    }
}
