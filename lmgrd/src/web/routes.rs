//! The endpoint's routes:
//!
//! | Route | Answer |
//! | --- | --- |
//! | `GET /` | the dashboard (one page, every asset inline) |
//! | `GET /api/1.0/health` | 200 or 503 with `status`, `role`, `master`, vendor daemons up/down, `reason` |
//! | `GET /api/1.0/status` | the status document (`lmutil::statusdoc`) |
//! | `GET /api/1.0/history` | per-minute peak use per feature |
//! | `GET /api/1.0/usage` | daily peak, checkouts and denials per feature, from the vendor daemons' report logs |
//! | `GET /metrics` | Prometheus/OpenMetrics text ([`super::metrics`]) |
//! | `POST /api/1.0/admin/{remove,reread,switch,shutdown}` | admin actions ([`super::admin`]) |

use super::admin::{self, ActionBody, Lockout};
use super::metrics::{self, Counters, Extra};
use super::probe::{Probe, Snapshot};
use super::Context;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// The dashboard page.
const DASHBOARD: &str = include_str!("dashboard.html");
/// The largest admin request body.
const MAX_BODY: usize = 4096;

/// What every request task shares.
pub struct Shared {
    context: Context,
    probe: Mutex<Probe>,
    lockout: Mutex<Lockout>,
    counters: Counters,
    /// The daily use and when it was asked for ([`super::probe::USAGE_MAX_AGE`]).
    usage: Mutex<Option<(Instant, Arc<serde_json::Value>)>>,
}

/// Locks `m`, going on after a panic elsewhere (the data stays usable).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub fn new(context: Context) -> Shared {
        Shared {
            probe: Mutex::new(Probe::new(context.lmgrd)),
            context,
            lockout: Mutex::new(Lockout::default()),
            counters: Counters::default(),
            usage: Mutex::new(None),
        }
    }

    /// The daily use, asked of the vendor daemons off the runtime's thread
    /// at most once per [`super::probe::USAGE_MAX_AGE`].
    async fn usage(self: &Arc<Self>) -> Arc<serde_json::Value> {
        if let Some((at, u)) = &*lock(&self.usage) {
            if at.elapsed() < super::probe::USAGE_MAX_AGE {
                return u.clone();
            }
        }
        let lmgrd = self.context.lmgrd;
        let fresh = tokio::task::spawn_blocking(move || super::probe::usage(lmgrd))
            .await
            .unwrap_or_else(|_| json!({"error": "gathering the daily use failed"}));
        let fresh = Arc::new(fresh);
        *lock(&self.usage) = Some((Instant::now(), fresh.clone()));
        fresh
    }

    /// The current snapshot, gathered off the runtime's thread.
    async fn snapshot(self: &Arc<Self>) -> Arc<Snapshot> {
        let me = self.clone();
        let snap = tokio::task::spawn_blocking(move || lock(&me.probe).current()).await;
        let snap = snap.unwrap_or_else(|_| {
            Arc::new(Snapshot {
                doc: Err(lmutil::statusdoc::ErrorInfo {
                    code: wire::lmerr::LM_BADCOMM,
                    minor: 0,
                    text: "status gathering failed".into(),
                }),
                took: std::time::Duration::ZERO,
                fresh: false,
                stats: Vec::new(),
            })
        });
        if snap.fresh {
            self.counters
                .status_seconds
                .observe(snap.took.as_secs_f64());
            if snap.doc.is_err() {
                self.counters.status_failures.inc();
            }
        }
        snap
    }
}

type Answer = Response<Full<Bytes>>;

fn answer(status: u16, content_type: &str, body: impl Into<Bytes>) -> Answer {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    if let Ok(v) = "no-store".parse() {
        r.headers_mut().insert(hyper::header::CACHE_CONTROL, v);
    }
    r
}

fn json_answer(status: u16, value: &serde_json::Value) -> Answer {
    answer(status, "application/json", value.to_string())
}

/// Answers one request; counts and times it.
pub async fn handle(
    shared: Arc<Shared>,
    peer: SocketAddr,
    secure: bool,
    req: Request<Incoming>,
) -> Answer {
    let started = Instant::now();
    let path = req.uri().path().to_string();
    let route = route_name(&path);
    let response = route_request(&shared, peer, secure, req).await;
    shared
        .counters
        .request_seconds
        .observe(started.elapsed().as_secs_f64());
    shared
        .counters
        .requests
        .get_or_create(&vec![
            ("route".into(), route.into()),
            ("code".into(), response.status().as_u16().to_string()),
        ])
        .inc();
    response
}

/// A route's name for the metrics: never the raw path (unbounded labels).
fn route_name(path: &str) -> &'static str {
    match path {
        "/" => "/",
        "/api/1.0/health" => "/api/1.0/health",
        "/api/1.0/status" => "/api/1.0/status",
        "/api/1.0/history" => "/api/1.0/history",
        "/api/1.0/usage" => "/api/1.0/usage",
        "/metrics" => "/metrics",
        p if p.starts_with("/api/1.0/admin/") => "/api/1.0/admin",
        _ => "other",
    }
}

async fn route_request(
    shared: &Arc<Shared>,
    peer: SocketAddr,
    secure: bool,
    req: Request<Incoming>,
) -> Answer {
    let path = req.uri().path().to_string();
    if let Some(action) = path.strip_prefix("/api/1.0/admin/") {
        if req.method() != Method::POST {
            return json_answer(405, &json!({"error": "use POST"}));
        }
        let action = action.to_string();
        return admin_request(shared, peer, secure, &action, req).await;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return json_answer(405, &json!({"error": "use GET"}));
    }
    match path.as_str() {
        "/" | "/index.html" => answer(200, "text/html; charset=utf-8", DASHBOARD),
        "/api/1.0/health" => health(&*shared.snapshot().await),
        "/api/1.0/status" => match &shared.snapshot().await.doc {
            Ok(doc) => answer(
                200,
                "application/json",
                serde_json::to_string(doc).unwrap_or_default(),
            ),
            Err(e) => json_answer(503, &json!({"error": e})),
        },
        "/api/1.0/history" => {
            shared.snapshot().await;
            let history = lock(&shared.probe).history.features.clone();
            json_answer(200, &json!({"minutes": history}))
        }
        "/api/1.0/usage" => json_answer(200, &*shared.usage().await),
        "/metrics" => {
            let snap = shared.snapshot().await;
            let extra = Extra {
                last_failover: lock(&shared.probe).master.last_change,
            };
            answer(
                200,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                metrics::render(&snap, &extra, &shared.counters),
            )
        }
        _ => json_answer(404, &json!({"error": "not found"})),
    }
}

/// 200 when lmgrd answers, a master is known and every vendor daemon
/// answers; 503 with the reason otherwise.
fn health(snap: &Snapshot) -> Answer {
    let doc = match &snap.doc {
        Ok(d) => d,
        Err(e) => {
            return json_answer(
                503,
                &json!({"status": "down", "reason": format!("lmgrd does not answer: {}", e.text)}),
            )
        }
    };
    // A standby's vendor daemons do not serve (the master's do), so lmgrd
    // lists them as not up; one is down only when it has no port, that is
    // when it is not running.
    let standby = doc.role == "standby";
    let running = |v: &&lmutil::statusdoc::VendorInfo| if standby { v.port != 0 } else { v.up };
    let (up, down): (Vec<_>, Vec<_>) = doc.vendors.iter().partition(running);
    let up: Vec<&str> = up.iter().map(|v| v.name.as_str()).collect();
    let down: Vec<&str> = down.iter().map(|v| v.name.as_str()).collect();
    let reason = if doc.master.is_none() {
        Some("no quorum: the triad has no master".to_string())
    } else if !down.is_empty() {
        Some(format!("vendor daemon(s) down: {}", down.join(", ")))
    } else {
        None
    };
    let mut body = json!({
        "status": if reason.is_none() { "ok" } else { "down" },
        "role": doc.role,
        "master": doc.master,
        "serving": !standby && reason.is_none(),
        "vendors": {"up": up, "down": down},
    });
    match reason {
        None => json_answer(200, &body),
        Some(r) => {
            body["reason"] = json!(r);
            json_answer(503, &body)
        }
    }
}

async fn admin_request(
    shared: &Arc<Shared>,
    peer: SocketAddr,
    secure: bool,
    action: &str,
    req: Request<Incoming>,
) -> Answer {
    let cred = admin::credential(
        req.headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    );
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return json_answer(413, &json!({"error": "request body too large"})),
    };
    let me = shared.clone();
    let auth = tokio::task::spawn_blocking(move || {
        admin::authorize(
            &me.context.state_dir,
            &mut lock(&me.lockout),
            peer,
            secure,
            cred,
            Instant::now(),
        )
    })
    .await;
    let actor = match auth {
        Ok(Ok(a)) => a,
        Ok(Err(refusal)) => {
            shared
                .counters
                .admin_refusals
                .get_or_create(&vec![(
                    "reason".into(),
                    format!("{refusal:?}").to_lowercase(),
                )])
                .inc();
            return json_answer(refusal.status(), &json!({"error": refusal.to_string()}));
        }
        Err(_) => return json_answer(500, &json!({"error": "internal error"})),
    };
    let parsed: ActionBody = if body.is_empty() {
        ActionBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => return json_answer(400, &json!({"error": format!("bad request body: {e}")})),
        }
    };
    let lmgrd = shared.context.lmgrd;
    let what = action.to_string();
    let logged = format!("{parsed:?}");
    let result = tokio::task::spawn_blocking(move || admin::act(lmgrd, &what, &parsed)).await;
    let result = result.unwrap_or(Err(admin::ActionError::Internal));
    match &result {
        Ok(text) => log::info!(
            "HTTP admin: {actor} from {}: {action} {logged}: {text}",
            peer.ip()
        ),
        Err(e) => log::warn!(
            "HTTP admin: {actor} from {}: {action} {logged} failed: {e}",
            peer.ip()
        ),
    }
    match result {
        Ok(text) => json_answer(
            200,
            &json!({"ok": true, "actor": actor.to_string(), "result": text}),
        ),
        Err(e) => json_answer(
            409,
            &json!({"ok": false, "actor": actor.to_string(), "error": e.to_string()}),
        ),
    }
}
