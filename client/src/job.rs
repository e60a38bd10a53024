//! A license job: what an application holds, and how it checks licenses
//! out along the search path.

use crate::error::{minor, LmError, Step};
use crate::event::{lock, Events, JobEvent};
use crate::identity::LocalIdentity;
use crate::local::{plan_file, FilePlan, Request};
use crate::route::Route;
use crate::search::{self, LicensePath, PathEntry};
use crate::session::{JobCtx, Opened, Session, Settings};
use grammar::{Date, Version};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use wire::lmerr;

/// How a job searches, connects and keeps its licenses.
#[derive(Debug, Clone)]
pub struct JobConfig {
    /// A license path to use instead of the search (`:`-separated, like
    /// `LM_LICENSE_FILE`). `None`: `<VENDOR>_LICENSE_FILE`,
    /// `LM_LICENSE_FILE`, `~/.flexlmrc`, the default file.
    pub license_path: Option<String>,
    /// How long a TCP connect may take.
    pub connect_timeout: Duration,
    /// How long a reply may take.
    pub io_timeout: Duration,
    /// The first wait between reconnect attempts; it doubles each time.
    pub retry_initial: Duration,
    /// The longest wait between reconnect attempts.
    pub retry_max: Duration,
    /// After this many failed reconnect attempts the licenses are reported
    /// lost ([`JobEvent::LicenseLost`]); attempts go on, and a later
    /// success checks them out again.
    pub retry_count: u32,
    /// DUP_GROUP mask asked for at checkout (see the protocol); 0 for none.
    pub dup_group: u8,
    /// The date expiry is judged against; `None`: today, local time.
    pub today: Option<Date>,
}

impl Default for JobConfig {
    fn default() -> Self {
        JobConfig {
            license_path: None,
            connect_timeout: Duration::from_secs(5),
            io_timeout: Duration::from_secs(5),
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            retry_count: 5,
            dup_group: 0,
            today: None,
        }
    }
}

/// An application's license job: one job id, shown to every server in
/// `Hello`, for the life of the job.
#[derive(Debug)]
pub struct Job {
    inner: Arc<JobInner>,
}

#[derive(Debug)]
struct JobInner {
    ctx: Arc<JobCtx>,
    config: JobConfig,
    local: LocalIdentity,
    sessions: Mutex<Vec<Arc<Session>>>,
}

/// How a job's server connections are doing.
#[derive(Debug, Clone, Default)]
pub struct JobStatus {
    /// Open server connections (including ones being re-established).
    pub servers: usize,
    /// Of those, currently connected.
    pub connected: usize,
    /// Server licenses held (seats, not counting local licenses).
    pub held: usize,
    /// Successful reconnects so far.
    pub reconnects: u64,
    /// Heartbeats the servers acknowledged so far.
    pub heartbeats_acked: u64,
    /// The latest problem keeping licenses, if one is unresolved.
    pub error: Option<LmError>,
}

/// A checked-out license. Dropping it checks it in.
#[derive(Debug)]
pub struct License {
    feature: String,
    version: String,
    count: u32,
    expiry: String,
    source: String,
    seat: Option<(Arc<Session>, u64)>,
    job: Weak<JobInner>,
    returned: AtomicBool,
}

impl Job {
    /// A job for `vendor` with the default settings and the search path
    /// from the environment.
    pub fn new(vendor: &str) -> Job {
        Job::with_config(vendor, JobConfig::default())
    }

    pub fn with_config(vendor: &str, config: JobConfig) -> Job {
        let local = LocalIdentity::gather();
        let job_id = loop {
            let id: u64 = rand::random();
            if id != 0 {
                break id;
            }
        };
        let ctx = JobCtx {
            vendor: vendor.to_string(),
            identity: local.client_identity(job_id),
            settings: Settings {
                connect_timeout: config.connect_timeout,
                io_timeout: config.io_timeout,
                retry_initial: config.retry_initial,
                retry_max: config.retry_max,
                retry_count: config.retry_count,
                dup_group: config.dup_group,
            },
            events: Events::default(),
        };
        Job {
            inner: Arc::new(JobInner {
                ctx: Arc::new(ctx),
                config,
                local,
                sessions: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The job id sent in every `Hello`.
    pub fn id(&self) -> u64 {
        self.inner.ctx.identity.job
    }

    pub fn vendor(&self) -> &str {
        &self.inner.ctx.vendor
    }

    /// This machine as the job sees it (hostids, user, display).
    pub fn identity(&self) -> &LocalIdentity {
        &self.inner.local
    }

    /// The path this job searches.
    pub fn license_path(&self) -> LicensePath {
        match &self.inner.config.license_path {
            Some(p) => LicensePath::explicit(p),
            None => search::from_process_env(&self.inner.ctx.vendor),
        }
    }

    /// Calls `f` for every [`JobEvent`], on the job's connection threads.
    pub fn on_event(&self, f: impl Fn(&JobEvent) + Send + Sync + 'static) {
        self.inner.ctx.events.subscribe(Arc::new(f));
    }

    /// Checks out `count` licenses of `feature`, version `version` or
    /// later, trying each entry of the license path in order. When every
    /// entry fails, the most informative error is returned (a server's
    /// denial before an unreachable server before a missing file), with
    /// the feature and the whole path filled in.
    pub fn checkout(&self, feature: &str, version: &str, count: u32) -> Result<License, LmError> {
        let path = self.license_path();
        let finish = |mut e: LmError| {
            feature.clone_into(&mut e.feature);
            e.path = path.to_string();
            e
        };
        let bad = |why: String| {
            finish(LmError::new(
                lmerr::LM_BADPARAM,
                minor::BAD_PARAM,
                Step::Search,
                why,
            ))
        };
        let Some(v) = Version::parse(version) else {
            return Err(bad(format!("`{version}` is not a version number")));
        };
        if feature.is_empty() || count == 0 {
            return Err(bad(
                "a checkout needs a feature name and a count of at least 1".into(),
            ));
        }
        let req = Request {
            vendor: self.inner.ctx.vendor.clone(),
            feature: feature.to_string(),
            version: v,
            count,
        };
        let mut best: Option<LmError> = None;
        for entry in &path.entries {
            match self.try_entry(entry, &req) {
                Ok(l) => return Ok(l),
                Err(e) => best = Some(LmError::better(best, e.on_entry(&entry.to_string()))),
            }
        }
        Err(finish(best.unwrap_or_else(|| {
            LmError::new(
                lmerr::LM_NOCONFFILE,
                minor::NO_LICENSE_FILE,
                Step::Search,
                "the license path is empty",
            )
        })))
    }

    /// Returns a license to its server (nothing to do for a local one).
    /// Checking in twice is harmless.
    pub fn checkin(&self, license: &License) -> Result<(), LmError> {
        license.give_back()
    }

    /// How the job's server connections are doing.
    pub fn status(&self) -> JobStatus {
        let mut sessions = lock(&self.inner.sessions);
        sessions.retain(|s| !s.is_closed());
        let mut status = JobStatus::default();
        for s in sessions.iter() {
            let st = s.status();
            status.servers += 1;
            status.connected += usize::from(st.connected);
            status.held += st.held;
            status.reconnects += st.reconnects;
            status.heartbeats_acked += st.heartbeats_acked;
            if st.error.is_some() {
                status.error = st.error;
            }
        }
        status
    }

    fn try_entry(&self, entry: &PathEntry, req: &Request) -> Result<License, LmError> {
        match entry {
            PathEntry::File(p) if p.is_dir() => {
                let files = search::expand_directory(p).map_err(|e| {
                    LmError::new(
                        lmerr::LM_NOCONFFILE,
                        minor::NO_LICENSE_FILE,
                        Step::ReadFile,
                        format!("read directory {}: {}", p.display(), e),
                    )
                    .with_errno(e.raw_os_error())
                })?;
                let mut best: Option<LmError> = None;
                for f in &files {
                    match self.try_file(f, req) {
                        Ok(l) => return Ok(l),
                        Err(e) => best = Some(LmError::better(best, e)),
                    }
                }
                Err(best.unwrap_or_else(|| {
                    LmError::new(
                        lmerr::LM_NOCONFFILE,
                        minor::NO_LICENSE_FILE,
                        Step::ReadFile,
                        format!("no *.lic file in directory {}", p.display()),
                    )
                }))
            }
            PathEntry::File(p) => self.try_file(p, req),
            PathEntry::Server(_) | PathEntry::Triad(_) => self.try_route(
                Route {
                    entry: entry.to_string(),
                    servers: entry.servers().to_vec(),
                },
                req,
            ),
            PathEntry::Invalid { text, reason } => Err(LmError::new(
                lmerr::LM_BADPARAM,
                minor::BAD_PARAM,
                Step::Search,
                format!("license path entry `{text}`: {reason}"),
            )),
        }
    }

    fn try_file(&self, path: &Path, req: &Request) -> Result<License, LmError> {
        let name = path.display().to_string();
        let today = self.inner.config.today.unwrap_or_else(local_today);
        match plan_file(path, req, &self.inner.local.host, today) {
            FilePlan::Local(g) => Ok(License {
                feature: g.feature,
                version: g.version,
                count: req.count,
                expiry: g.expiry,
                source: name,
                seat: None,
                job: Arc::downgrade(&self.inner),
                returned: AtomicBool::new(false),
            }),
            FilePlan::Servers {
                servers,
                local_error,
            } => {
                let route = Route {
                    entry: name.clone(),
                    servers,
                };
                self.try_route(route, req).map_err(|e| {
                    LmError::better(local_error.map(|l| l.on_entry(&name)), e.on_entry(&name))
                })
            }
            FilePlan::Fail(e) => Err(e.on_entry(&name)),
        }
    }

    fn try_route(&self, route: Route, req: &Request) -> Result<License, LmError> {
        let version = req.version.as_written();
        let mut sessions = lock(&self.inner.sessions);
        sessions.retain(|s| !s.is_closed());
        let mut reused = sessions.iter().find(|s| *s.route() == route).cloned();
        loop {
            let fresh = reused.is_none();
            let session = match reused.take() {
                Some(s) => s,
                None => {
                    let known = |addr| sessions.iter().any(|s| s.vendor_addr() == Some(addr));
                    match Session::open(route.clone(), Arc::clone(&self.inner.ctx), &known)? {
                        Opened::New(s) => {
                            sessions.push(Arc::clone(&s));
                            s
                        }
                        Opened::Existing(addr) => sessions
                            .iter()
                            .find(|s| s.vendor_addr() == Some(addr))
                            .cloned()
                            .ok_or_else(|| {
                                LmError::new(
                                    lmerr::LM_CANTCONNECT,
                                    minor::CONNECT,
                                    Step::Connect,
                                    format!("the connection to {addr} went away"),
                                )
                            })?,
                    }
                }
            };
            let result = session.checkout(&req.feature, version, req.count);
            if !session.holds_seats() {
                session.close();
                sessions.retain(|s| !Arc::ptr_eq(s, &session));
            }
            match result {
                Ok((seat, g)) => {
                    return Ok(License {
                        feature: g.feature,
                        version: g.version,
                        count: g.count,
                        expiry: g.expiry,
                        source: route.entry.clone(),
                        seat: Some((session, seat)),
                        job: Arc::downgrade(&self.inner),
                        returned: AtomicBool::new(false),
                    })
                }
                // An idle connection that broke: try once on a new one.
                Err(e) if !fresh && e.step == Step::Keepalive && session.is_closed() => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl JobInner {
    /// Closes a session that no longer holds anything.
    fn release_idle(&self, session: &Arc<Session>) {
        let mut sessions = lock(&self.sessions);
        if !session.holds_seats() {
            session.close();
            sessions.retain(|s| !Arc::ptr_eq(s, session));
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        let sessions = std::mem::take(&mut *lock(&self.inner.sessions));
        for s in &sessions {
            s.close();
        }
        for s in &sessions {
            s.join();
        }
    }
}

impl License {
    pub fn feature(&self) -> &str {
        &self.feature
    }

    /// The version granted (the license line's).
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    /// The expiry date, as a license file writes it (`permanent`, `31-dec-2099`).
    pub fn expiry(&self) -> &str {
        &self.expiry
    }

    /// The search-path entry that gave it (a license file or `port@host`).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True for an uncounted license granted on this machine, no server
    /// involved.
    pub fn is_local(&self) -> bool {
        self.seat.is_none()
    }

    /// The server's handle for the seat (it changes if the license was
    /// checked out again after a reconnect).
    pub fn handle(&self) -> Option<u64> {
        self.seat.as_ref().and_then(|(s, id)| s.seat_handle(*id))
    }

    /// `Ok` while the license is held; the reason when it was lost or
    /// revoked.
    pub fn status(&self) -> Result<(), LmError> {
        match &self.seat {
            Some((session, id)) => session.seat_status(*id).map_err(|mut e| {
                self.feature.clone_into(&mut e.feature);
                e
            }),
            None => Ok(()),
        }
    }

    /// Checks the license in now.
    pub fn checkin(self) -> Result<(), LmError> {
        self.give_back()
    }

    fn give_back(&self) -> Result<(), LmError> {
        if self.returned.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let Some((session, id)) = &self.seat else {
            return Ok(());
        };
        let result = session.checkin(*id).map_err(|mut e| {
            self.feature.clone_into(&mut e.feature);
            e.path = session.route().entry.clone();
            e
        });
        match self.job.upgrade() {
            Some(job) => job.release_idle(session),
            None => {
                if !session.holds_seats() {
                    session.close();
                }
            }
        }
        result
    }
}

impl Drop for License {
    fn drop(&mut self) {
        let _ = self.give_back();
    }
}

/// Today in local time, as license dates are meant.
#[allow(unsafe_code)]
pub(crate) fn local_today() -> Date {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let now = secs as libc::time_t;
    // SAFETY: an all-zero tm is a valid value for localtime_r to fill.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers refer to live locals for the whole call.
    let ok = unsafe { !libc::localtime_r(&now, &mut tm).is_null() };
    if ok {
        if let Some(d) = Date::new(tm.tm_year + 1900, (tm.tm_mon + 1) as u8, tm.tm_mday as u8) {
            return d;
        }
    }
    Date::from_days_since_epoch((secs / 86_400) as i64)
}
