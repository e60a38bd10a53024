//! A license job: what an application holds, and how it checks licenses
//! out along the search path.
//!
//! A checkout first looks for an unexpired borrow of the feature in the
//! local [`BorrowStore`]: as FLEXlm's borrowing client does, it is then
//! granted on this machine with no server asked (that is what borrowing
//! is for). Otherwise each entry of the path is tried in order; when
//! `LM_BORROW` is in force for the vendor the checkout asks to borrow, and
//! a granted borrow is recorded in the store.

use crate::borrow::{self, BorrowRecord, BorrowStore, LmBorrowSetting, SettingOrigin};
use crate::conn::unexpected;
use crate::error::{minor, LmError, Step};
use crate::event::{lock, Events, JobEvent};
use crate::identity::LocalIdentity;
use crate::local::{io_text, plan_file, FilePlan, Request};
use crate::policy::FailurePolicy;
use crate::retry::Retry;
use crate::route::{establish, Reached, Route};
use crate::search::{self, LicensePath, PathEntry, ServerSpec};
use crate::session::{JobCtx, Opened, Outcome, QueueState, Session, Settings};
use crate::terms::{self, LineTerms};
use crate::trust::Trust;
use grammar::publisher::Publisher;
use grammar::{Date, Version};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};
use wire::{lmerr, Message, ReturnBorrow};

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
    /// Each wait is spread at random between half of it and all of it, so
    /// that applications cut off together do not all retry at once.
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
    /// The display to show servers instead of this one (`lmborrow -return
    /// -d`).
    pub display: Option<String>,
    /// An `LM_BORROW` value to use instead of the environment's and
    /// `~/.flexlmrc`'s; `Some("")` turns borrowing off for the job.
    pub lm_borrow: Option<String>,
    /// The borrow store to use instead of `$LM_BORROW_STORE` or
    /// `$HOME/.flexlmborrow`.
    pub borrow_store: Option<PathBuf>,
    /// What happens to licenses already held when their server becomes
    /// unreachable (never lets a new checkout succeed without one).
    pub policy: FailurePolicy,
}

/// How a checkout waits when no license is free: FLEXlm's
/// `LM_CO_NOWAIT`, `LM_CO_QUEUE` and `LM_CO_WAIT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wait {
    /// Fail at once (LM_MAXUSERS and the like).
    #[default]
    NoWait,
    /// Join the vendor daemon's queue and return at once with a
    /// [`QueuedLicense`] (its error is LM_FEATQUEUE, -35), to be waited on
    /// or polled.
    Queue,
    /// Join the queue and block until a license is granted, the wait fails
    /// (e.g. the connection is lost), or `timeout` passes (`None`: no
    /// limit).
    Block { timeout: Option<Duration> },
}

/// Whether a checkout borrows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Borrow {
    /// As `LM_BORROW` says (environment, else `~/.flexlmrc`, or
    /// [`JobConfig::lm_borrow`]).
    #[default]
    FromSetting,
    /// Nothing to do with borrowing: neither asks to borrow, whatever
    /// `LM_BORROW` says, nor takes a license from a local borrow record
    /// (for tools that must reach the server, such as lmdiag).
    No,
    /// Until this Unix time.
    Until(u64),
}

/// How [`Job::checkout_with`] checks out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CheckoutOptions {
    pub wait: Wait,
    pub borrow: Borrow,
}

/// What [`Job::checkout_with`] got.
#[derive(Debug)]
pub enum CheckoutOutcome {
    Granted(License),
    /// Waiting in the queue ([`Wait::Queue`] only).
    Queued(QueuedLicense),
}

impl CheckoutOutcome {
    /// The license, when granted.
    pub fn granted(self) -> Option<License> {
        match self {
            CheckoutOutcome::Granted(l) => Some(l),
            CheckoutOutcome::Queued(_) => None,
        }
    }
}

/// A checkout waiting in a vendor daemon's queue. The daemon grants it
/// when a license frees, without being asked again; [`QueuedLicense::wait`]
/// or [`QueuedLicense::try_take`] hand the license over. Dropping it
/// before that cancels the wait (a grant that comes anyway is returned).
/// The place in the queue lasts as long as the connection: if that is
/// lost, the wait fails.
#[derive(Debug)]
pub struct QueuedLicense {
    session: Arc<Session>,
    req: u32,
    feature: String,
    version: String,
    borrow_until: u64,
    /// The borrow's return secret (see [`Ask::secret`]).
    secret: [u8; wire::borrow_key::LEN],
    /// The vendor daemon's LM_FEATQUEUE answer, feature and path filled in.
    queued: LmError,
    job: Weak<JobInner>,
    /// The license or the failure was handed out.
    done: bool,
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
            display: None,
            lm_borrow: None,
            borrow_store: None,
            policy: FailurePolicy::default(),
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
    trust: Trust,
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
    /// Reconnect attempts that failed since a server was lost (the most
    /// of any server); 0 while every server is connected. FLEXlm's
    /// heartbeat calls return this.
    pub failed_attempts: u32,
    /// While licenses are kept on a grace period
    /// ([`FailurePolicy::Grace`]): when it ends (the earliest, if several
    /// servers are lost).
    pub grace_until: Option<SystemTime>,
}

impl JobStatus {
    /// "in grace until <local date and time>" while a grace period runs.
    pub fn grace_text(&self) -> Option<String> {
        let until = self.grace_until?;
        let secs = until
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Some(format!("in grace until {}", borrow::format_local(secs)))
    }
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
    /// Unix time a borrow ends; 0 when not borrowed.
    borrowed_until: u64,
    /// For a borrow: the vendor daemon's seal over its terms.
    seal: Vec<u8>,
    /// For a borrow granted now: the secret that returns it early (kept in
    /// the local borrow record). Empty otherwise.
    secret: Vec<u8>,
    /// VENDOR_STRING, NOTICE, ISSUER, SN of the line behind it (boxed:
    /// rarely read, and a License is moved around a lot).
    terms: Box<LineTerms>,
    job: Weak<JobInner>,
    returned: AtomicBool,
}

impl Job {
    /// A job of the application of `publisher`, whose keys (built into
    /// the application) alone validate its licenses, with the default
    /// settings and the search path from the environment.
    pub fn new(publisher: &Publisher) -> Job {
        Job::with_config(publisher, JobConfig::default())
    }

    /// [`Job::new`] with settings of its own.
    pub fn with_config(publisher: &Publisher, config: JobConfig) -> Job {
        Job::build(
            publisher.vendor(),
            config,
            Trust::Publisher(Arc::new(publisher.clone())),
        )
    }

    /// A job for an admin tool that inspects `vendor`'s licenses rather
    /// than being licensed by them: it validates uncounted lines with keys
    /// found at run time (`LM_PUBLIC_KEY_PATH`, beside the program or the
    /// license file) and takes grants as the server states them. Never use
    /// it to license an application: whoever runs it controls those keys.
    pub fn for_inspection(vendor: &str, config: JobConfig) -> Job {
        Job::build(vendor, config, Trust::Inspection)
    }

    fn build(vendor: &str, config: JobConfig, trust: Trust) -> Job {
        let mut local = LocalIdentity::gather();
        if let Some(display) = &config.display {
            local.host.display.clone_from(display);
        }
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
                retry: Retry {
                    initial: config.retry_initial,
                    max: config.retry_max,
                    count: config.retry_count,
                },
                dup_group: config.dup_group,
                policy: config.policy,
            },
            events: Events::default(),
            idle: AtomicBool::new(false),
        };
        Job {
            inner: Arc::new(JobInner {
                ctx: Arc::new(ctx),
                config,
                trust,
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
    /// later, without waiting ([`Wait::NoWait`]) and borrowing as
    /// `LM_BORROW` says. See [`Job::checkout_with`].
    pub fn checkout(&self, feature: &str, version: &str, count: u32) -> Result<License, LmError> {
        let options = CheckoutOptions::default();
        match self.checkout_with(feature, version, count, &options)? {
            CheckoutOutcome::Granted(l) => Ok(l),
            // NoWait never queues; a daemon that queued anyway is answered
            // by dropping the wait, which cancels it.
            CheckoutOutcome::Queued(q) => Err(q.queued.clone()),
        }
    }

    /// Checks out `count` licenses of `feature`, version `version` or
    /// later. A borrow of the feature recorded on this machine is used
    /// first, with no server asked. Otherwise each entry of the license
    /// path is tried in order; when every entry fails, the most
    /// informative error is returned (a server's denial before an
    /// unreachable server before a missing file), with the feature and the
    /// whole path filled in. With [`Wait::Queue`] or [`Wait::Block`], the
    /// first vendor daemon that queues the request is the one waited on.
    pub fn checkout_with(
        &self,
        feature: &str,
        version: &str,
        count: u32,
        options: &CheckoutOptions,
    ) -> Result<CheckoutOutcome, LmError> {
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
        // Refused here rather than by the server, which would close the
        // connection (and with it this job's other seats on it).
        if let Err(e) = wire::text::check_field("feature", feature, wire::text::MAX_FEATURE)
            .and_then(|()| wire::text::check_field("version", version, wire::text::MAX_VERSION))
        {
            return Err(bad(e.to_string()));
        }
        let now = borrow::now_unix();
        let borrow_until = match options.borrow {
            Borrow::No => 0,
            Borrow::Until(t) if t <= now => {
                return Err(bad(format!(
                    "the borrow end {} is in the past",
                    borrow::format_local(t)
                )))
            }
            Borrow::Until(t) => t,
            Borrow::FromSetting => self.borrow_from_setting(now).map_err(bad)?,
        };
        let req = Request {
            vendor: self.inner.ctx.vendor.clone(),
            feature: feature.to_string(),
            version: v,
            count,
        };
        let mut best: Option<LmError> = None;
        if options.borrow != Borrow::No {
            match self.borrowed_locally(&req, now) {
                Some(Ok(l)) => return Ok(CheckoutOutcome::Granted(l)),
                Some(Err(e)) => best = Some(e),
                None => {}
            }
        }
        let ask = Ask {
            queue: options.wait != Wait::NoWait,
            borrow_until,
            // Fresh for every borrow, from the thread's OS-seeded CSPRNG.
            secret: if borrow_until == 0 {
                [0; wire::borrow_key::LEN]
            } else {
                rand::random()
            },
        };
        let mut outcome = None;
        for entry in &path.entries {
            match self.try_entry(entry, &req, ask) {
                Ok(o) => {
                    outcome = Some(o);
                    break;
                }
                Err(e) => best = Some(LmError::better(best, e.on_entry(&entry.to_string()))),
            }
        }
        let Some(outcome) = outcome else {
            return Err(finish(best.unwrap_or_else(|| {
                LmError::new(
                    lmerr::LM_NOCONFFILE,
                    minor::NO_LICENSE_FILE,
                    Step::Search,
                    "the license path is empty",
                )
            })));
        };
        match outcome {
            CheckoutOutcome::Granted(l) => {
                self.inner.record_borrow(&l);
                Ok(CheckoutOutcome::Granted(l))
            }
            CheckoutOutcome::Queued(mut q) => {
                feature.clone_into(&mut q.queued.feature);
                q.queued.path = path.to_string();
                match options.wait {
                    Wait::Block { timeout } => q.wait(timeout).map(CheckoutOutcome::Granted),
                    _ => Ok(CheckoutOutcome::Queued(q)),
                }
            }
        }
    }

    /// Returns a license to its server (nothing to do for a local one).
    /// Checking in twice is harmless.
    pub fn checkin(&self, license: &License) -> Result<(), LmError> {
        license.give_back()
    }

    /// Tells the servers whether the user is idle (FLEXlm's `lc_idle`):
    /// heartbeats say so, and a vendor daemon with a TIMEOUT in its
    /// options file takes back the licenses of a user idle for longer
    /// (they are then reported [`JobEvent::Revoked`]). A change is sent
    /// at once, so a user who comes back counts as active immediately.
    pub fn set_idle(&self, idle: bool) {
        if self.inner.ctx.idle.swap(idle, Ordering::SeqCst) == idle {
            return;
        }
        for s in lock(&self.inner.sessions).iter() {
            s.beat_now();
        }
    }

    /// Sends a heartbeat to every server now rather than at the next
    /// interval (FLEXlm's manual `lc_heartbeat`); see [`Job::status`] for
    /// how the connections are doing.
    pub fn heartbeat(&self) {
        for s in lock(&self.inner.sessions).iter() {
            s.beat_now();
        }
    }

    /// True while the application says its user is idle.
    pub fn is_idle(&self) -> bool {
        self.inner.ctx.idle.load(Ordering::SeqCst)
    }

    /// The borrow store this job uses, if there is one (no `HOME`: none).
    pub fn borrow_store(&self) -> Option<BorrowStore> {
        self.inner.borrow_store()
    }

    /// Returns the borrowed license of `feature` early: asks the server
    /// that lent it (the one in the local record, else the servers of the
    /// license path) to take it back, showing the return secret kept in
    /// the local record, then deletes the record. When the server has no
    /// such borrow (LM_UNBORROWED_ALREADY), the local record is stale and
    /// deleted too, and the error is returned. Without the record's secret
    /// (no record, or one made before borrows had secrets) the server
    /// refuses (LM_NOTLICADMIN) and the license stays borrowed.
    pub fn return_borrow(&self, feature: &str) -> Result<(), LmError> {
        let vendor = self.inner.ctx.vendor.clone();
        let store = self.borrow_store();
        let record = store.as_ref().and_then(|s| {
            s.list()
                .ok()?
                .into_iter()
                .find(|r| r.vendor == vendor && r.feature == feature)
        });
        let path = match &record {
            Some(r) => LicensePath::explicit(&r.server),
            None => self.license_path(),
        };
        // The secret the borrowing checkout's hash stands for: without
        // it (no local record, or one from before return secrets) the
        // server refuses the return (LM_NOTLICADMIN).
        let secret = record
            .as_ref()
            .map(|r| r.secret.clone())
            .unwrap_or_default();
        let forget = || {
            if let Some(s) = &store {
                let _ = s.remove(&vendor, feature);
            }
        };
        let finish = |mut e: LmError| {
            feature.clone_into(&mut e.feature);
            e.path = path.to_string();
            e
        };
        let mut best: Option<LmError> = None;
        for entry in &path.entries {
            let routes = match routes_of(entry) {
                Ok(r) => r,
                Err(e) => {
                    best = Some(LmError::better(best, e.on_entry(&entry.to_string())));
                    continue;
                }
            };
            for route in routes {
                match self.return_at(&route, feature, &secret) {
                    Ok(()) => {
                        forget();
                        return Ok(());
                    }
                    Err(e) => {
                        if e.code == lmerr::LM_UNBORROWED_ALREADY && record.is_some() {
                            forget();
                        }
                        best = Some(LmError::better(best, e.on_entry(&route.entry)));
                    }
                }
            }
        }
        Err(finish(best.unwrap_or_else(|| {
            LmError::new(
                lmerr::LM_NOSERVER,
                0,
                Step::Search,
                format!("no license server on the path to return {feature} to"),
            )
        })))
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
            status.failed_attempts = status.failed_attempts.max(st.failed_attempts);
            status.grace_until = match (status.grace_until, st.grace_until) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if st.error.is_some() {
                status.error = st.error;
            }
        }
        status
    }

    /// How many times a lost server connection was re-established within
    /// `window` of now (FLEXlm's `lp_heartbeat` reports this: several
    /// in a short time may mean someone restarts the server to gain
    /// licenses).
    pub fn reconnects_within(&self, window: Duration) -> usize {
        lock(&self.inner.sessions)
            .iter()
            .map(|s| s.reconnects_within(window))
            .sum()
    }

    /// The borrow end `LM_BORROW` asks for now (0: none), or why the
    /// setting cannot be used (naming where it came from).
    fn borrow_from_setting(&self, now: u64) -> Result<u64, String> {
        let setting = match &self.inner.config.lm_borrow {
            Some(v) if v.trim().is_empty() => None,
            Some(v) => Some((v.clone(), SettingOrigin::Application)),
            None => borrow::setting_text_from_process_env(),
        };
        let Some((text, origin)) = setting else {
            return Ok(0);
        };
        let setting = LmBorrowSetting::parse(&text).map_err(|e| format!("{origin}: {e}"))?;
        let today = self.inner.config.today.unwrap_or_else(local_today);
        Ok(setting
            .borrow_until(&self.inner.ctx.vendor, now, today, borrow::local_unix)
            .unwrap_or(0))
    }

    /// A license from an unexpired local borrow record that covers the
    /// request, or LM_BADCODE if the record's seal does not hold (it was
    /// edited, or copied from another user or machine). Expired records
    /// are purged on the way. The store is read best effort: a missing or
    /// unreadable one just means "not borrowed".
    fn borrowed_locally(&self, req: &Request, now: u64) -> Option<Result<License, LmError>> {
        let store = self.borrow_store()?;
        let records = store.list().ok()?;
        if records.iter().any(|r| r.is_expired(now)) {
            let _ = store.purge_expired(now);
        }
        let r = records.into_iter().find(|r| {
            r.vendor == req.vendor
                && r.feature == req.feature
                && !r.is_expired(now)
                && r.count >= req.count
                && Version::parse(&r.version).is_some_and(|v| v >= req.version)
        })?;
        let me = &self.inner.ctx.identity;
        if !self.inner.trust.seal_holds(&r, &me.user, &me.host) {
            return Some(Err(LmError::new(
                lmerr::LM_BADCODE,
                minor::BORROW_SEAL,
                Step::LocalValidation,
                format!(
                    "the borrow record of {} in {} does not carry a valid seal of the vendor \
                     daemon that lent it (changed after it was made, or made for another \
                     user or host): not honoured",
                    r.feature,
                    store.path().display()
                ),
            )));
        }
        Some(Ok(License {
            feature: r.feature,
            version: r.version,
            count: req.count,
            expiry: r.expiry,
            source: r.server,
            seat: None,
            borrowed_until: r.until,
            seal: r.seal,
            secret: r.secret,
            terms: Box::default(),
            job: Arc::downgrade(&self.inner),
            returned: AtomicBool::new(false),
        }))
    }

    /// Sends `ReturnBorrow` for `feature` on a connection of its own.
    fn return_at(&self, route: &Route, feature: &str, secret: &[u8]) -> Result<(), LmError> {
        let mut conn = match establish(route, &self.inner.ctx, &|_| false)? {
            Reached::New(conn, _) => conn,
            Reached::Existing(addr) => {
                return Err(LmError::new(
                    lmerr::LM_BADCOMM,
                    minor::UNEXPECTED,
                    Step::Connect,
                    format!("{addr} already taken"),
                ))
            }
        };
        let doing = format!("returning the borrowed {feature} to {}", route.entry);
        let req = 1;
        conn.send(&Message::ReturnBorrow(ReturnBorrow {
            req,
            feature: feature.to_string(),
            secret: wire::codec::Blob(secret.to_vec()),
        }))
        .map_err(|e| {
            LmError::new(
                lmerr::LM_CANTWRITE,
                minor::WRITE,
                Step::Checkin,
                format!("{doing}: {}", io_text(&e)),
            )
            .with_errno(e.raw_os_error())
        })?;
        loop {
            let reply = conn.recv().map_err(|e| {
                let mut e = e.to_lm(&doing);
                e.step = Step::Checkin;
                e
            })?;
            match reply {
                Message::CheckedIn(c) if c.req == req => return Ok(()),
                Message::Denied(d) if d.req == req => {
                    return Err(LmError::from_server(
                        d.code,
                        d.minor,
                        &d.text,
                        Step::Checkin,
                        format!("{doing}: refused by the vendor daemon"),
                    ))
                }
                Message::HeartbeatAck(_) | Message::Revoked(_) => {}
                other => return Err(unexpected(&doing, &other)),
            }
        }
    }

    fn try_entry(
        &self,
        entry: &PathEntry,
        req: &Request,
        ask: Ask,
    ) -> Result<CheckoutOutcome, LmError> {
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
                    match self.try_file(f, req, ask) {
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
            PathEntry::File(p) => self.try_file(p, req, ask),
            PathEntry::Server(_) | PathEntry::Triad(_) => self.try_route(
                Route {
                    entry: entry.to_string(),
                    servers: entry.servers().to_vec(),
                },
                req,
                ask,
            ),
            PathEntry::Invalid { text, reason } => Err(LmError::new(
                lmerr::LM_BADPARAM,
                minor::BAD_PARAM,
                Step::Search,
                format!("license path entry `{text}`: {reason}"),
            )),
        }
    }

    fn try_file(&self, path: &Path, req: &Request, ask: Ask) -> Result<CheckoutOutcome, LmError> {
        let name = path.display().to_string();
        let today = self.inner.config.today.unwrap_or_else(local_today);
        let keys = self.inner.trust.key_ring(&req.vendor, path);
        match plan_file(path, &keys, req, &self.inner.local.host, today) {
            // An uncounted line needs no borrowing: it works offline.
            FilePlan::Local(g) => Ok(CheckoutOutcome::Granted(License {
                feature: g.feature,
                version: g.version,
                count: req.count,
                expiry: g.expiry,
                source: name,
                seat: None,
                borrowed_until: 0,
                seal: Vec::new(),
                secret: Vec::new(),
                terms: Box::new(g.terms),
                job: Arc::downgrade(&self.inner),
                returned: AtomicBool::new(false),
            })),
            FilePlan::Servers {
                servers,
                local_error,
            } => {
                let route = Route {
                    entry: name.clone(),
                    servers,
                };
                self.try_route(route, req, ask).map_err(|e| {
                    LmError::better(local_error.map(|l| l.on_entry(&name)), e.on_entry(&name))
                })
            }
            FilePlan::Fail(e) => Err(e.on_entry(&name)),
        }
    }

    fn try_route(&self, route: Route, req: &Request, ask: Ask) -> Result<CheckoutOutcome, LmError> {
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
            let result = session.checkout(
                &req.feature,
                version,
                req.count,
                ask.queue,
                ask.borrow_until,
                ask.return_hash(),
            );
            if !session.holds_seats() {
                session.close();
                sessions.retain(|s| !Arc::ptr_eq(s, &session));
            }
            match result {
                Ok(Outcome::Granted(seat, g)) => {
                    let accepted = self.inner.accept(
                        g,
                        version,
                        (ask.borrow_until, &ask.secret),
                        (&session, seat),
                        route.entry.clone(),
                    );
                    if accepted.is_err() && !session.holds_seats() {
                        session.close();
                        sessions.retain(|s| !Arc::ptr_eq(s, &session));
                    }
                    return accepted.map(CheckoutOutcome::Granted);
                }
                Ok(Outcome::Queued(q, queued)) => {
                    return Ok(CheckoutOutcome::Queued(QueuedLicense {
                        session,
                        req: q,
                        feature: req.feature.clone(),
                        version: version.to_string(),
                        borrow_until: ask.borrow_until,
                        secret: ask.secret,
                        queued,
                        job: Arc::downgrade(&self.inner),
                        done: false,
                    }))
                }
                // An idle connection that broke: try once on a new one.
                Err(e) if !fresh && e.step == Step::Keepalive && session.is_closed() => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// How a request goes to the servers.
#[derive(Debug, Clone, Copy)]
struct Ask {
    queue: bool,
    borrow_until: u64,
    /// For a borrow: the secret whose hash the checkout carries and
    /// which an early return must show (`wire::borrow_key`); kept in the
    /// local borrow record only.
    secret: [u8; wire::borrow_key::LEN],
}

impl Ask {
    /// The hash a borrowing checkout sends; nothing for another.
    fn return_hash(&self) -> Vec<u8> {
        if self.borrow_until == 0 {
            return Vec::new();
        }
        wire::borrow_key::return_hash(&self.secret).to_vec()
    }
}

/// The servers an entry names: itself for `port@host` and triads, the
/// SERVER lines of a license file (of each file of a directory).
fn routes_of(entry: &PathEntry) -> Result<Vec<Route>, LmError> {
    let read_error = |p: &Path, e: std::io::Error| {
        LmError::new(
            lmerr::LM_NOCONFFILE,
            minor::NO_LICENSE_FILE,
            Step::ReadFile,
            format!("read {}: {}", p.display(), io_text(&e)),
        )
        .with_errno(e.raw_os_error())
    };
    let of_file = |p: &Path| -> Result<Option<Route>, LmError> {
        let file = grammar::read_license(p).map_err(|e| read_error(p, e))?;
        let servers: Vec<ServerSpec> = file
            .servers()
            .map(|(_, s)| ServerSpec {
                host: s.host.clone(),
                port: s.port,
            })
            .collect();
        Ok((!servers.is_empty()).then(|| Route {
            entry: p.display().to_string(),
            servers,
        }))
    };
    match entry {
        PathEntry::Server(_) | PathEntry::Triad(_) => Ok(vec![Route {
            entry: entry.to_string(),
            servers: entry.servers().to_vec(),
        }]),
        PathEntry::File(p) if p.is_dir() => {
            let files = search::expand_directory(p).map_err(|e| read_error(p, e))?;
            let mut routes = Vec::new();
            for f in files {
                routes.extend(of_file(&f)?);
            }
            Ok(routes)
        }
        PathEntry::File(p) => Ok(of_file(p)?.into_iter().collect()),
        PathEntry::Invalid { text, reason } => Err(LmError::new(
            lmerr::LM_BADPARAM,
            minor::BAD_PARAM,
            Step::Search,
            format!("license path entry `{text}`: {reason}"),
        )),
    }
}

impl JobInner {
    /// Turns a vendor daemon's grant into a license once the publisher's
    /// keys vouch for it; otherwise the seat goes back at once and the
    /// checkout fails with LM_BADCODE.
    fn accept(
        self: &Arc<Self>,
        g: wire::Granted,
        version: &str,
        (borrowed_until, secret): (u64, &[u8; wire::borrow_key::LEN]),
        (session, seat): (&Arc<Session>, u64),
        entry: String,
    ) -> Result<License, LmError> {
        let today = self.config.today.unwrap_or_else(local_today);
        if let Err(e) = self.trust.vouch(&g, version, today, &entry) {
            // The caller closes the session if this left it idle.
            let _ = session.checkin(seat);
            return Err(e.on_entry(&entry));
        }
        // Borrow terms are checked when the record is used: keep the seal
        // as the daemon gave it.
        let terms = Box::new(LineTerms::from_proof(&g.proof, &g.feature));
        Ok(License {
            terms,
            feature: g.feature,
            version: g.version,
            count: g.count,
            expiry: g.expiry,
            source: entry,
            seat: Some((Arc::clone(session), seat)),
            borrowed_until,
            seal: g.seal.0,
            secret: if borrowed_until == 0 {
                Vec::new()
            } else {
                secret.to_vec()
            },
            job: Arc::downgrade(self),
            returned: AtomicBool::new(false),
        })
    }

    fn borrow_store(&self) -> Option<BorrowStore> {
        self.config
            .borrow_store
            .clone()
            .or_else(BorrowStore::default_path)
            .map(BorrowStore::at)
    }

    /// Records a license the server lent; a failure is reported as
    /// [`JobEvent::BorrowNotRecorded`] (the license is held all the same).
    fn record_borrow(&self, l: &License) {
        if l.borrowed_until == 0 || l.seat.is_none() {
            return;
        }
        let record = BorrowRecord {
            vendor: self.ctx.vendor.clone(),
            feature: l.feature.clone(),
            version: l.version.clone(),
            count: l.count,
            expiry: l.expiry.clone(),
            borrowed_at: borrow::now_unix(),
            until: l.borrowed_until,
            server: l.source.clone(),
            handle: l.handle().unwrap_or(0),
            seal: l.seal.clone(),
            secret: l.secret.clone(),
        };
        let result = match self.borrow_store() {
            Some(store) => store.put(&record).map_err(|e| e.to_string()),
            None => Err(borrow::BorrowStoreError::NoHome.to_string()),
        };
        if let Err(error) = result {
            self.ctx.events.emit(&JobEvent::BorrowNotRecorded {
                feature: l.feature.clone(),
                error,
            });
        }
    }

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

    /// The publisher's VENDOR_STRING on the line behind the license
    /// (signed, so publishers can encode product tiers in it).
    pub fn vendor_string(&self) -> Option<&str> {
        self.terms.vendor_string.as_deref()
    }

    /// The line's NOTICE (e.g. who the license is for).
    pub fn notice(&self) -> Option<&str> {
        self.terms.notice.as_deref()
    }

    /// The line's ISSUER.
    pub fn issuer(&self) -> Option<&str> {
        self.terms.issuer.as_deref()
    }

    /// The line's SN (serial number).
    pub fn serial(&self) -> Option<&str> {
        self.terms.serial.as_deref()
    }

    /// All of the above. A license taken from a local borrow record has
    /// none (the record keeps the grant's terms only).
    pub fn terms(&self) -> &LineTerms {
        &self.terms
    }

    /// Days until the license expires, counted as FLEXlm's
    /// `lc_expire_days`: 0 when it expires tonight, negative once it has,
    /// `None` when it is permanent.
    pub fn expire_days(&self) -> Option<i64> {
        let today = self
            .job
            .upgrade()
            .and_then(|j| j.config.today)
            .unwrap_or_else(local_today);
        terms::expire_days(&self.expiry, today)
    }

    /// The search-path entry that gave it (a license file or `port@host`).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True for a license granted on this machine, no server involved: an
    /// uncounted line, or a borrow recorded here (then
    /// [`License::borrowed_until`] says until when, and
    /// [`License::source`] is the server that lent it).
    pub fn is_local(&self) -> bool {
        self.seat.is_none()
    }

    /// Unix time the borrow of this license ends; `None` when it is not
    /// borrowed.
    pub fn borrowed_until(&self) -> Option<u64> {
        (self.borrowed_until != 0).then_some(self.borrowed_until)
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

impl QueuedLicense {
    pub fn feature(&self) -> &str {
        &self.feature
    }

    /// The vendor daemon's answer that put the request in the queue
    /// (LM_FEATQUEUE, -35), as an application reports it.
    pub fn error(&self) -> &LmError {
        &self.queued
    }

    /// The search-path entry of the vendor daemon whose queue this is.
    pub fn source(&self) -> &str {
        &self.session.route().entry
    }

    /// Waits for the license at most `timeout` (`None`: as long as it
    /// takes). Still queued when the time is up: LM_FEATQUEUE, and the
    /// wait can go on. The license, or why the wait failed, is handed out
    /// once; after that every call fails with LM_BADPARAM.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<License, LmError> {
        let fill = |mut e: LmError| {
            if e.feature.is_empty() {
                self.feature.clone_into(&mut e.feature);
            }
            if e.path.is_empty() {
                e.path.clone_from(&self.queued.path);
            }
            e
        };
        if self.done {
            return Err(fill(LmError::new(
                lmerr::LM_BADPARAM,
                minor::BAD_PARAM,
                Step::CheckoutDenied,
                format!(
                    "the queued checkout of {} was already handed out",
                    self.feature
                ),
            )));
        }
        match self.session.wait_queued(self.req, timeout) {
            QueueState::Waiting => {
                let mut e = self.queued.clone();
                if let Some(t) = timeout {
                    e.detail = format!(
                        "checkout of {} from {}: still queued after {} ms",
                        self.feature,
                        self.source(),
                        t.as_millis()
                    );
                }
                Err(e)
            }
            QueueState::Granted(seat, g) => {
                self.done = true;
                let Some(job) = self.job.upgrade() else {
                    let _ = self.session.checkin(seat);
                    return Err(fill(LmError::new(
                        lmerr::LM_BADPARAM,
                        minor::BAD_PARAM,
                        Step::CheckoutDenied,
                        format!("the job of the queued checkout of {} is gone", self.feature),
                    )));
                };
                let license = job
                    .accept(
                        g,
                        &self.version,
                        (self.borrow_until, &self.secret),
                        (&self.session, seat),
                        self.session.route().entry.clone(),
                    )
                    .map_err(|e| {
                        job.release_idle(&self.session);
                        fill(e)
                    })?;
                job.record_borrow(&license);
                Ok(license)
            }
            QueueState::Failed(e) => {
                self.done = true;
                Err(fill(e))
            }
        }
    }

    /// The license if it has been granted by now; `Ok(None)` while still
    /// queued.
    pub fn try_take(&mut self) -> Result<Option<License>, LmError> {
        match self.wait(Some(Duration::ZERO)) {
            Ok(l) => Ok(Some(l)),
            Err(e) if e.code == lmerr::LM_FEATQUEUE && !self.done => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The minimum version asked for.
    pub fn version(&self) -> &str {
        &self.version
    }
}

impl Drop for QueuedLicense {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.session.abandon_queued(self.req);
        match self.job.upgrade() {
            Some(job) => job.release_idle(&self.session),
            None => {
                if !self.session.holds_seats() {
                    self.session.close();
                }
            }
        }
    }
}

impl Drop for License {
    fn drop(&mut self) {
        let _ = self.give_back();
    }
}

/// Today in local time, as license dates are meant (UTC if the local
/// calendar cannot be read).
pub fn local_today() -> Date {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    crate::platform::local_calendar(secs).map_or_else(
        || Date::from_days_since_epoch((secs / 86_400) as i64),
        |(d, _, _)| d,
    )
}
