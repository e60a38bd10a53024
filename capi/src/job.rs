//! The job behind both C APIs: a [`client::Job`] started at the first
//! checkout (FLEXlm reads the license path lazily too, so attributes set
//! before it apply), the licenses it holds, its last error and warning as
//! C strings, and the application's callbacks.

use crate::conf::CONFIG;
use crate::consts::*;
use crate::guard::c_string;
use client::{
    CheckoutOptions, CheckoutOutcome, FailurePolicy, Job, JobConfig, JobEvent, License, LmError,
    Publisher, QueuedLicense, Step, Wait,
};
use std::ffi::CString;
use std::os::raw::{c_char, c_int};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use wire::lmerr;

/// `int f(const char *feature, int pass_or_tries, int total, int interval)`.
pub type LmReconnectFn = Option<unsafe extern "C" fn(*const c_char, c_int, c_int, c_int) -> c_int>;
/// `int f(const char *feature)`.
pub type LmExitFn = Option<unsafe extern "C" fn(*const c_char) -> c_int>;

/// Locks a mutex; a panic caught on another call leaves the data usable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The application's callbacks, shared with the job's event handler.
#[derive(Debug, Default)]
pub(crate) struct Callbacks {
    pub(crate) fns: Mutex<Fns>,
    /// Features held, for the per-feature reconnect callbacks.
    held: Mutex<Vec<String>>,
    /// LM_RETRY_RESTRICTIVE: a lost license ends the process.
    pub(crate) exit_on_loss: AtomicBool,
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Fns {
    pub(crate) reconnect: LmReconnectFn,
    pub(crate) reconnect_done: LmReconnectFn,
    pub(crate) exitcall: LmExitFn,
    /// The retry count and interval (seconds) the callbacks are told.
    pub(crate) total: c_int,
    pub(crate) interval: c_int,
}

impl Callbacks {
    /// Calls the application's callbacks for `event`. Runs on the job's
    /// connection threads.
    fn on_event(&self, event: &JobEvent) {
        let fns = *lock(&self.fns);
        let held = lock(&self.held).clone();
        let each = |f: LmReconnectFn, n: c_int| {
            if let Some(f) = f {
                for feature in &held {
                    let c = c_string(feature);
                    // SAFETY: the application gave this function for this
                    // purpose; the string lives across the call.
                    unsafe { f(c.as_ptr(), n, fns.total, fns.interval) };
                }
            }
        };
        match event {
            JobEvent::ConnectionLost { .. } => each(fns.reconnect, 1),
            JobEvent::ReconnectFailed { attempt, .. } => each(
                fns.reconnect,
                c_int::try_from(*attempt + 1).unwrap_or(c_int::MAX),
            ),
            JobEvent::Reconnected { .. } => each(fns.reconnect_done, 1),
            JobEvent::LicenseLost { feature, error } => self.lost(fns, feature, error),
            _ => {}
        }
    }

    fn lost(&self, fns: Fns, feature: &str, error: &LmError) {
        if let Some(f) = fns.exitcall {
            let c = c_string(feature);
            // SAFETY: as above.
            unsafe { f(c.as_ptr()) };
        } else if self.exit_on_loss.load(Ordering::SeqCst) {
            // FLEXlm's LM_RETRY_RESTRICTIVE: the application asked for it.
            eprintln!(
                "Lost license for {feature}, cannot reconnect: {} ({})",
                error.text,
                error.numbers()
            );
            std::process::exit(1);
        }
    }
}

/// A license held by the job, with its record for `lc_auth_data`.
struct Held {
    license: License,
    conf: Box<CONFIG>,
}

/// What the job's lock protects.
struct State {
    config: JobConfig,
    job: Option<Job>,
    held: Vec<Held>,
    queued: Vec<QueuedLicense>,
    error: Option<LmError>,
    errstring: CString,
    warning: Option<String>,
    warnstring: CString,
    attrs: Attrs,
}

/// Attribute values kept as the application set them.
#[derive(Debug, Clone)]
pub(crate) struct Attrs {
    pub(crate) check_interval: c_int,
    pub(crate) retry_interval: c_int,
    pub(crate) retry_count: c_int,
    pub(crate) conn_timeout: c_int,
    pub(crate) tcp_timeout: c_int,
    pub(crate) linger: c_int,
    pub(crate) grace: c_int,
    pub(crate) license_default: CString,
    pub(crate) checkout_data: CString,
}

impl Default for Attrs {
    fn default() -> Self {
        Attrs {
            check_interval: 120,
            retry_interval: 60,
            retry_count: 5,
            conn_timeout: 10,
            tcp_timeout: 7200,
            linger: 0,
            grace: 0,
            license_default: CString::default(),
            checkout_data: CString::default(),
        }
    }
}

/// A licensing job as both C APIs see it.
pub(crate) struct JobCore {
    publisher: Publisher,
    state: Mutex<State>,
    pub(crate) callbacks: Arc<Callbacks>,
}

/// The FLEXlm error for a bad call, with its detail.
pub(crate) fn bad_param(detail: impl Into<String>) -> LmError {
    LmError::new(lmerr::LM_BADPARAM, 1, Step::Search, detail)
}

impl JobCore {
    pub(crate) fn new(publisher: Publisher) -> JobCore {
        // Reconnect attempts start quickly and back off to a minute, unless
        // the application sets LM_A_RETRY_INTERVAL.
        let config = JobConfig::default();
        let callbacks = Callbacks::default();
        {
            let mut fns = lock(&callbacks.fns);
            fns.total = c_int::try_from(config.retry_count).unwrap_or(c_int::MAX);
            fns.interval = c_int::try_from(config.retry_max.as_secs()).unwrap_or(c_int::MAX);
        }
        JobCore {
            publisher,
            state: Mutex::new(State {
                config,
                job: None,
                held: Vec::new(),
                queued: Vec::new(),
                error: None,
                errstring: CString::default(),
                warning: None,
                warnstring: CString::default(),
                attrs: Attrs::default(),
            }),
            callbacks: Arc::new(callbacks),
        }
    }

    /// The publisher's vendor name.
    pub(crate) fn vendor(&self) -> &str {
        self.publisher.vendor()
    }

    /// True once the first checkout started the job: the license path and
    /// timing attributes are fixed from then on.
    pub(crate) fn started(&self) -> bool {
        lock(&self.state).job.is_some()
    }

    /// Reads or changes the attributes and the configuration they feed.
    pub(crate) fn with_attrs<R>(&self, f: impl FnOnce(&mut Attrs, &mut JobConfig) -> R) -> R {
        let mut st = lock(&self.state);
        let State { attrs, config, .. } = &mut *st;
        f(attrs, config)
    }

    /// Records `e` as the job's last error and returns its number.
    pub(crate) fn fail(&self, e: LmError) -> c_int {
        let code = e.code;
        lock(&self.state).error = Some(e);
        code
    }

    pub(crate) fn set_warning(&self, w: Option<String>) {
        lock(&self.state).warning = w;
    }

    pub(crate) fn errno(&self) -> c_int {
        lock(&self.state).error.as_ref().map_or(0, |e| e.code)
    }

    /// The last error's text as FLEXlm prints it (several lines); empty
    /// when there was none. See the crate docs for how long it lives.
    pub(crate) fn errstring(&self) -> *const c_char {
        let mut st = lock(&self.state);
        let text = st
            .error
            .as_ref()
            .map(LmError::long_form)
            .unwrap_or_default();
        st.errstring = c_string(text.trim_end());
        st.errstring.as_ptr()
    }

    /// The last warning, or null when there is none.
    pub(crate) fn warnstring(&self) -> *const c_char {
        let mut st = lock(&self.state);
        match st.warning.clone() {
            Some(w) => {
                st.warnstring = c_string(&w);
                st.warnstring.as_ptr()
            }
            None => std::ptr::null(),
        }
    }

    /// The client job, started on first use with the attributes set so far.
    fn job<'a>(&self, st: &'a mut State) -> &'a Job {
        if st.job.is_none() {
            let job = Job::with_config(&self.publisher, st.config.clone());
            let callbacks = Arc::clone(&self.callbacks);
            job.on_event(move |e| {
                // A panic must not end the connection thread's work.
                let _ = catch_unwind(AssertUnwindSafe(|| callbacks.on_event(e)));
            });
            st.job = Some(job);
        }
        st.job.as_ref().expect("invariant: started just above")
    }

    /// Checks `count` licenses of `feature` out; 0 or FLEXlm's number
    /// (LM_FEATQUEUE while queued with [`LM_CO_QUEUE`]).
    pub(crate) fn checkout(
        &self,
        feature: &str,
        version: &str,
        count: u32,
        flag: c_int,
        dup: c_int,
    ) -> c_int {
        let mut st = lock(&self.state);
        st.config.dup_group = wire_dup_group(dup);
        let wait = match flag {
            LM_CO_NOWAIT => Wait::NoWait,
            LM_CO_WAIT => Wait::Block { timeout: None },
            LM_CO_QUEUE => Wait::Queue,
            other => {
                drop(st);
                return self.fail(bad_param(format!("checkout flag {other} is not known")));
            }
        };
        let options = CheckoutOptions {
            wait,
            ..CheckoutOptions::default()
        };
        let outcome = self
            .job(&mut st)
            .checkout_with(feature, version, count, &options);
        match outcome {
            Ok(CheckoutOutcome::Granted(license)) => {
                self.hold(&mut st, license);
                st.error = None;
                0
            }
            Ok(CheckoutOutcome::Queued(q)) => {
                let e = q.error().clone();
                st.queued.push(q);
                let code = e.code;
                st.error = Some(e);
                code
            }
            Err(e) => {
                let code = e.code;
                st.error = Some(e);
                code
            }
        }
    }

    fn hold(&self, st: &mut State, license: License) {
        lock(&self.callbacks.held).push(license.feature().to_string());
        let conf = Box::new(CONFIG::of(&license));
        st.held.push(Held { license, conf });
    }

    /// Checks in every license of `feature` (all with `None`), and gives
    /// up any queued wait for it.
    pub(crate) fn checkin(&self, feature: Option<&str>) -> c_int {
        let mut st = lock(&self.state);
        let wanted = |f: &str| feature.is_none_or(|want| want == f);
        let (gone, kept): (Vec<Held>, Vec<Held>) = std::mem::take(&mut st.held)
            .into_iter()
            .partition(|h| wanted(h.license.feature()));
        st.held = kept;
        st.queued.retain(|q| !wanted(q.feature()));
        lock(&self.callbacks.held).retain(|f| !wanted(f));
        if gone.is_empty() && feature.is_some() {
            drop(st);
            return self.fail(LmError::new(
                lmerr::LM_NEVERCHECKOUT,
                0,
                Step::Checkin,
                format!("{} was not checked out by this job", feature.unwrap_or("")),
            ));
        }
        let mut result = 0;
        for h in gone {
            if let Err(e) = h.license.checkin() {
                result = e.code;
                st.error = Some(e);
            }
        }
        result
    }

    /// 0 while `feature` is held; LM_FEATQUEUE while it waits in the
    /// queue (a grant that came meanwhile is taken now); why not
    /// otherwise.
    pub(crate) fn status(&self, feature: &str) -> c_int {
        let mut st = lock(&self.state);
        if let Some(h) = st.held.iter().find(|h| h.license.feature() == feature) {
            return match h.license.status() {
                Ok(()) => 0,
                Err(e) => {
                    let code = e.code;
                    st.error = Some(e);
                    code
                }
            };
        }
        let Some(i) = st.queued.iter().position(|q| q.feature() == feature) else {
            drop(st);
            return self.fail(LmError::new(
                lmerr::LM_NEVERCHECKOUT,
                0,
                Step::Checkin,
                format!("{feature} was never checked out by this job"),
            ));
        };
        match st.queued[i].try_take() {
            Ok(Some(license)) => {
                st.queued.remove(i);
                self.hold(&mut st, license);
                0
            }
            Ok(None) => lmerr::LM_FEATQUEUE,
            Err(e) => {
                st.queued.remove(i);
                let code = e.code;
                st.error = Some(e);
                code
            }
        }
    }

    /// A heartbeat now; returns the failed reconnect attempts (0: the
    /// server is reachable) and writes how many reconnects succeeded in
    /// the last `minutes` minutes. The warning says whether a grace
    /// period runs.
    pub(crate) fn heartbeat(&self, minutes: c_int) -> (c_int, c_int) {
        let mut st = lock(&self.state);
        let Some(job) = st.job.as_ref() else {
            return (0, 0);
        };
        job.heartbeat();
        let status = job.status();
        let window = Duration::from_secs(u64::try_from(minutes).unwrap_or(0) * 60);
        let reconnects = if minutes > 0 {
            job.reconnects_within(window)
        } else {
            0
        };
        let failed = c_int::try_from(status.failed_attempts).unwrap_or(c_int::MAX);
        // The warning follows the grace period: set while it runs,
        // cleared when the server is back.
        let grace = status.grace_text();
        if grace.is_some()
            || st
                .warning
                .as_deref()
                .is_some_and(|w| w.starts_with("in grace"))
        {
            st.warning = grace;
        }
        if failed > 0 {
            st.error = status.error;
        }
        (failed, c_int::try_from(reconnects).unwrap_or(c_int::MAX))
    }

    pub(crate) fn set_idle(&self, idle: bool) {
        let mut st = lock(&self.state);
        self.job(&mut st).set_idle(idle);
    }

    /// The record of a held `feature`, owned by the job until that
    /// feature is checked in or the job freed.
    pub(crate) fn auth_data(&self, feature: &str) -> *const CONFIG {
        let st = lock(&self.state);
        match st.held.iter().find(|h| h.license.feature() == feature) {
            Some(h) => &*h.conf,
            None => {
                drop(st);
                self.fail(LmError::new(
                    lmerr::LM_NOFEATURE,
                    0,
                    Step::Search,
                    format!("{feature} is not checked out by this job"),
                ));
                std::ptr::null()
            }
        }
    }

    /// True if `conf` is the record of a license this job holds.
    pub(crate) fn owns(&self, conf: *const CONFIG) -> bool {
        lock(&self.state)
            .held
            .iter()
            .any(|h| std::ptr::eq(&*h.conf, conf))
    }

    /// The only checks a license file allows, no server asked
    /// ([`LM_CO_LOCALTEST`]).
    pub(crate) fn local_test(&self, feature: &str, version: &str, count: u32) -> c_int {
        let mut st = lock(&self.state);
        let today = st.config.today;
        let job = self.job(&mut st);
        let result = local_test(job, &self.publisher, feature, version, count, today);
        drop(st);
        match result {
            Ok(()) => 0,
            Err(e) => self.fail(e),
        }
    }
}

/// The wire's DUP_GROUP bits for FLEXlm's mask: NONE is 0x4000 in FLEXlm
/// and 0 on our wire; SITE is 0 in FLEXlm and 0x10 on our wire.
fn wire_dup_group(mask: c_int) -> u8 {
    match mask {
        LM_DUP_NONE => 0,
        LM_DUP_SITE => 0x10,
        m => u8::try_from(m & 0xf).unwrap_or(0),
    }
}

/// The failure policy the attributes ask for: a grace period when one is
/// set, never lost with a negative retry count, else FLEXlm's default.
pub(crate) fn policy_of(attrs: &Attrs) -> FailurePolicy {
    if attrs.grace > 0 {
        FailurePolicy::Grace(Duration::from_secs(attrs.grace.unsigned_abs().into()))
    } else if attrs.retry_count < 0 {
        FailurePolicy::Lenient
    } else {
        FailurePolicy::AfterRetries
    }
}

/// `LM_CO_LOCALTEST`: what the license files on the path can say without
/// a server: an uncounted line that validates here is enough; a file that
/// names a server is taken as able to serve (only the server knows its
/// counts); otherwise the most telling local error.
fn local_test(
    job: &Job,
    publisher: &Publisher,
    feature: &str,
    version: &str,
    count: u32,
    today: Option<grammar::Date>,
) -> Result<(), LmError> {
    let Some(version) = grammar::Version::parse(version) else {
        return Err(bad_param(format!("`{version}` is not a version number")));
    };
    let req = client::local::Request {
        vendor: publisher.vendor().to_string(),
        feature: feature.to_string(),
        version,
        count,
    };
    let today = today.unwrap_or_else(|| grammar::Date::from_days_since_epoch(now_days()));
    let keys = publisher.key_ring();
    let mut best: Option<LmError> = None;
    for entry in &job.license_path().entries {
        let client::PathEntry::File(path) = entry else {
            return Ok(());
        };
        match client::local::plan_file(path, &keys, &req, &job.identity().host, today) {
            client::local::FilePlan::Local(_) | client::local::FilePlan::Servers { .. } => {
                return Ok(())
            }
            client::local::FilePlan::Fail(e) => best = Some(LmError::better(best, e)),
        }
    }
    Err(best.unwrap_or_else(|| bad_param("the license path is empty")))
}

fn now_days() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i64::try_from(secs / 86_400).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dup_masks_map_to_the_wire() {
        assert_eq!(wire_dup_group(LM_DUP_NONE), 0);
        assert_eq!(wire_dup_group(LM_DUP_SITE), 0x10);
        assert_eq!(wire_dup_group(LM_DUP_USER | LM_DUP_HOST), 3);
        assert_eq!(wire_dup_group(LM_DUP_VENDOR | LM_DUP_DISP), 12);
    }

    #[test]
    fn attributes_choose_the_policy() {
        let mut a = Attrs::default();
        assert_eq!(policy_of(&a), FailurePolicy::AfterRetries);
        a.retry_count = -1;
        assert_eq!(policy_of(&a), FailurePolicy::Lenient);
        a.grace = 30;
        assert_eq!(policy_of(&a), FailurePolicy::Grace(Duration::from_secs(30)));
    }
}
