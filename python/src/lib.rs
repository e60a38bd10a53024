//! The Python package `lm`: a license job, checkout (returning a license
//! usable as a context manager), checkin, status, the failure policy and
//! grace period, and FLEXlm's errors as `lm.LicenseError`.
//!
//! ```python
//! import lm
//! job = lm.Job("demo", key=lm.DEMO_KEY)
//! with job.checkout("f1") as lic:
//!     print(lic.notice)
//! ```
//!
//! Blocking calls release the interpreter lock; event callbacks run on the
//! library's connection threads and take the lock to call into Python.

// An LmError is carried whole so its long form can be shown; see client.
#![allow(clippy::result_large_err)]

use client::{
    CheckoutOptions, CheckoutOutcome, FailurePolicy, Job as RustJob, JobConfig, JobEvent, LmError,
    Publisher, Wait,
};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

create_exception!(
    lm,
    LicenseError,
    PyException,
    "A FLEXlm error: `code` (e.g. -4), `minor`, `text` (FLEXlm's message) and `long_form`."
);

/// A `LicenseError` carrying the error's numbers and texts as attributes.
fn license_error(py: Python<'_>, e: &LmError) -> PyErr {
    let err = LicenseError::new_err(format!("{} ({})", e.text, e.numbers()));
    let value = err.value(py);
    let _ = value.setattr("code", e.code);
    let _ = value.setattr("minor", e.minor);
    let _ = value.setattr("text", e.text.clone());
    let _ = value.setattr("feature", e.feature.clone());
    let _ = value.setattr("long_form", e.long_form());
    err
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A license job for the publisher whose public key the application
/// carries.
#[pyclass(module = "lm")]
struct Job {
    /// `None` once closed.
    job: Mutex<Option<Arc<RustJob>>>,
}

/// What the policy argument names.
fn policy_of(policy: &str, grace: Option<f64>) -> PyResult<FailurePolicy> {
    if let Some(secs) = grace {
        if !(secs > 0.0 && secs.is_finite()) {
            return Err(PyValueError::new_err(
                "grace must be a positive number of seconds",
            ));
        }
        return Ok(FailurePolicy::Grace(Duration::from_secs_f64(secs)));
    }
    match policy {
        "retries" => Ok(FailurePolicy::AfterRetries),
        "restrictive" => Ok(FailurePolicy::Restrictive),
        "lenient" | "failsafe" => Ok(FailurePolicy::Lenient),
        other => Err(PyValueError::new_err(format!(
            "policy {other:?}: expected 'retries', 'restrictive', 'lenient' or 'failsafe'"
        ))),
    }
}

/// An event as a dict: `{"event": "reconnected", "server": ..., ...}`.
fn event_dict<'py>(py: Python<'py>, e: &JobEvent) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    match e {
        JobEvent::ConnectionLost { server, reason } => {
            d.set_item("event", "connection_lost")?;
            d.set_item("server", server)?;
            d.set_item("reason", reason)?;
        }
        JobEvent::ReconnectFailed {
            server,
            attempt,
            error,
        } => {
            d.set_item("event", "reconnect_failed")?;
            d.set_item("server", server)?;
            d.set_item("attempt", attempt)?;
            d.set_item("code", error.code)?;
        }
        JobEvent::Reconnected {
            server,
            kept,
            reacquired,
        } => {
            d.set_item("event", "reconnected")?;
            d.set_item("server", server)?;
            d.set_item("kept", kept.clone())?;
            d.set_item("reacquired", reacquired.clone())?;
        }
        JobEvent::InGrace { server, until } => {
            d.set_item("event", "in_grace")?;
            d.set_item("server", server)?;
            d.set_item("until", unix(*until))?;
        }
        JobEvent::LicenseLost { feature, error } => {
            d.set_item("event", "license_lost")?;
            d.set_item("feature", feature)?;
            d.set_item("code", error.code)?;
        }
        JobEvent::Revoked { feature, error } => {
            d.set_item("event", "revoked")?;
            d.set_item("feature", feature)?;
            d.set_item("code", error.code)?;
        }
        other => {
            d.set_item("event", "other")?;
            d.set_item("detail", format!("{other:?}"))?;
        }
    }
    Ok(d)
}

impl Job {
    fn inner(&self) -> PyResult<Arc<RustJob>> {
        lock(&self.job)
            .clone()
            .ok_or_else(|| PyValueError::new_err("the job is closed"))
    }
}

#[pymethods]
impl Job {
    /// `Job(vendor, key=PEM, seal_key=None, license_path=None,
    /// policy="retries", grace=None, retry_interval=None, retry_count=5,
    /// connect_timeout=None)`.
    #[new]
    #[pyo3(signature = (vendor, key, seal_key=None, license_path=None, policy="retries", grace=None, retry_interval=None, retry_count=5, connect_timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        vendor: &str,
        key: &str,
        seal_key: Option<&str>,
        license_path: Option<String>,
        policy: &str,
        grace: Option<f64>,
        retry_interval: Option<f64>,
        retry_count: u32,
        connect_timeout: Option<f64>,
    ) -> PyResult<Job> {
        let publisher = Publisher::from_pem(vendor, key, seal_key)
            .map_err(|e| PyValueError::new_err(format!("the publisher's key: {e}")))?;
        let mut config = JobConfig {
            license_path,
            policy: policy_of(policy, grace)?,
            retry_count,
            ..JobConfig::default()
        };
        if let Some(secs) = retry_interval {
            let d = Duration::from_secs_f64(secs.max(0.01));
            config.retry_initial = d;
            config.retry_max = d;
        }
        if let Some(secs) = connect_timeout {
            config.connect_timeout = Duration::from_secs_f64(secs.max(0.01));
        }
        Ok(Job {
            job: Mutex::new(Some(Arc::new(RustJob::with_config(&publisher, config)))),
        })
    }

    /// The job id every server sees.
    #[getter]
    fn id(&self) -> PyResult<u64> {
        Ok(self.inner()?.id())
    }

    /// Checks `count` licenses of `feature` (version `version` or later)
    /// out. `wait=True` blocks until one is free; `queue=True` returns a
    /// `QueuedLicense` at once when none is. Raises `LicenseError`.
    #[pyo3(signature = (feature, version="1.0", count=1, wait=false, queue=false))]
    fn checkout(
        &self,
        py: Python<'_>,
        feature: &str,
        version: &str,
        count: u32,
        wait: bool,
        queue: bool,
    ) -> PyResult<PyObject> {
        let job = self.inner()?;
        let options = CheckoutOptions {
            wait: match (wait, queue) {
                (true, _) => Wait::Block { timeout: None },
                (false, true) => Wait::Queue,
                (false, false) => Wait::NoWait,
            },
            ..CheckoutOptions::default()
        };
        let outcome = py.allow_threads(|| job.checkout_with(feature, version, count, &options));
        match outcome {
            Ok(CheckoutOutcome::Granted(l)) => {
                Ok(License::wrap(l).into_pyobject(py)?.into_any().unbind())
            }
            Ok(CheckoutOutcome::Queued(q)) => Ok(QueuedLicense {
                queued: Mutex::new(Some(q)),
            }
            .into_pyobject(py)?
            .into_any()
            .unbind()),
            Err(e) => Err(license_error(py, &e)),
        }
    }

    /// Checks `license` in (the same as `license.checkin()`).
    fn checkin(&self, py: Python<'_>, license: &License) -> PyResult<()> {
        license.checkin(py)
    }

    /// How the job's connections are doing: a dict with `servers`,
    /// `connected`, `held`, `reconnects`, `failed_attempts`, `grace_until`
    /// (Unix time or None), `grace` ("in grace until ..." or None) and
    /// `error` (a LicenseError or None).
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let job = self.inner()?;
        let s = py.allow_threads(|| job.status());
        let d = PyDict::new(py);
        d.set_item("servers", s.servers)?;
        d.set_item("connected", s.connected)?;
        d.set_item("held", s.held)?;
        d.set_item("reconnects", s.reconnects)?;
        d.set_item("failed_attempts", s.failed_attempts)?;
        d.set_item("grace_until", s.grace_until.map(unix))?;
        d.set_item("grace", s.grace_text())?;
        d.set_item(
            "error",
            s.error
                .as_ref()
                .map(|e| license_error(py, e).into_value(py)),
        )?;
        Ok(d)
    }

    /// Sends a heartbeat now; returns `(failed_attempts, reconnects)`,
    /// the reconnects counted over the last `minutes` minutes (FLEXlm's
    /// `lc_heartbeat`).
    #[pyo3(signature = (minutes=0))]
    fn heartbeat(&self, py: Python<'_>, minutes: u64) -> PyResult<(u32, usize)> {
        let job = self.inner()?;
        Ok(py.allow_threads(|| {
            job.heartbeat();
            let failed = job.status().failed_attempts;
            let window = Duration::from_secs(minutes * 60);
            let reconnects = if minutes > 0 {
                job.reconnects_within(window)
            } else {
                0
            };
            (failed, reconnects)
        }))
    }

    /// Tells the servers whether the user is idle (FLEXlm's `lc_idle`).
    fn set_idle(&self, idle: bool) -> PyResult<()> {
        self.inner()?.set_idle(idle);
        Ok(())
    }

    /// Calls `callback(event: dict)` for every event (connection lost,
    /// reconnect failed, reconnected, in grace, license lost, revoked),
    /// on the library's threads.
    fn on_event(&self, callback: PyObject) -> PyResult<()> {
        self.inner()?.on_event(move |e| {
            Python::with_gil(|py| {
                let result = event_dict(py, e).and_then(|d| callback.call1(py, (d,)));
                if let Err(err) = result {
                    err.print(py);
                }
            });
        });
        Ok(())
    }

    /// Checks everything in and closes the connections.
    fn close(&self, py: Python<'_>) {
        let job = lock(&self.job).take();
        py.allow_threads(|| drop(job));
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _t: Option<PyObject>,
        _v: Option<PyObject>,
        _tb: Option<PyObject>,
    ) -> bool {
        self.close(py);
        false
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // Closing waits for the connection threads, which may need the
        // interpreter lock for a callback: give it up meanwhile.
        let job = lock(&self.job).take();
        if job.is_some() {
            Python::with_gil(|py| py.allow_threads(|| drop(job)));
        }
    }
}

/// A checked-out license; `with job.checkout("f1") as lic:` checks it in
/// at the end of the block.
#[pyclass(module = "lm")]
struct License {
    /// `None` once checked in.
    license: Mutex<Option<client::License>>,
    feature: String,
    version: String,
    count: u32,
    expiry: String,
    terms: client::LineTerms,
    expire_days: Option<i64>,
}

impl License {
    fn wrap(l: client::License) -> License {
        License {
            feature: l.feature().to_string(),
            version: l.version().to_string(),
            count: l.count(),
            expiry: l.expiry().to_string(),
            terms: l.terms().clone(),
            expire_days: l.expire_days(),
            license: Mutex::new(Some(l)),
        }
    }
}

#[pymethods]
impl License {
    #[getter]
    fn feature(&self) -> &str {
        &self.feature
    }
    #[getter]
    fn version(&self) -> &str {
        &self.version
    }
    #[getter]
    fn count(&self) -> u32 {
        self.count
    }
    /// As the license writes it: `permanent` or a date.
    #[getter]
    fn expiry(&self) -> &str {
        &self.expiry
    }
    /// Days left (0: expires tonight), None when permanent.
    #[getter]
    fn expire_days(&self) -> Option<i64> {
        self.expire_days
    }
    #[getter]
    fn vendor_string(&self) -> Option<&str> {
        self.terms.vendor_string.as_deref()
    }
    #[getter]
    fn notice(&self) -> Option<&str> {
        self.terms.notice.as_deref()
    }
    #[getter]
    fn issuer(&self) -> Option<&str> {
        self.terms.issuer.as_deref()
    }
    #[getter]
    fn serial(&self) -> Option<&str> {
        self.terms.serial.as_deref()
    }

    /// True while held and not checked in.
    #[getter]
    fn held(&self) -> bool {
        lock(&self.license)
            .as_ref()
            .is_some_and(|l| l.status().is_ok())
    }

    /// Raises `LicenseError` if the license was lost or revoked (or
    /// checked in); returns None while it is held.
    fn status(&self, py: Python<'_>) -> PyResult<()> {
        match lock(&self.license).as_ref() {
            Some(l) => l.status().map_err(|e| license_error(py, &e)),
            None => Err(PyValueError::new_err("the license was checked in")),
        }
    }

    /// Returns the license to its server; checking in twice is harmless.
    fn checkin(&self, py: Python<'_>) -> PyResult<()> {
        let l = lock(&self.license).take();
        match l {
            Some(l) => py
                .allow_threads(|| l.checkin())
                .map_err(|e| license_error(py, &e)),
            None => Ok(()),
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _t: Option<PyObject>,
        _v: Option<PyObject>,
        _tb: Option<PyObject>,
    ) -> PyResult<bool> {
        self.checkin(py)?;
        Ok(false)
    }
}

impl Drop for License {
    fn drop(&mut self) {
        let l = lock(&self.license).take();
        if l.is_some() {
            Python::with_gil(|py| py.allow_threads(|| drop(l)));
        }
    }
}

/// A checkout waiting in the vendor daemon's queue.
#[pyclass(module = "lm")]
struct QueuedLicense {
    queued: Mutex<Option<client::QueuedLicense>>,
}

#[pymethods]
impl QueuedLicense {
    /// Waits for the license at most `timeout` seconds (None: as long as
    /// it takes); raises `LicenseError` (code -35 while still queued).
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<License> {
        let mut guard = lock(&self.queued);
        let q = guard
            .as_mut()
            .ok_or_else(|| PyValueError::new_err("the license was already taken"))?;
        let timeout = timeout.map(|s| Duration::from_secs_f64(s.max(0.0)));
        let result = py.allow_threads(|| q.wait(timeout));
        match result {
            Ok(l) => {
                *guard = None;
                Ok(License::wrap(l))
            }
            Err(e) => Err(license_error(py, &e)),
        }
    }

    /// The license if granted by now, else None.
    fn try_take(&self, py: Python<'_>) -> PyResult<Option<License>> {
        let mut guard = lock(&self.queued);
        let q = guard
            .as_mut()
            .ok_or_else(|| PyValueError::new_err("the license was already taken"))?;
        match py.allow_threads(|| q.try_take()) {
            Ok(Some(l)) => {
                *guard = None;
                Ok(Some(License::wrap(l)))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(license_error(py, &e)),
        }
    }

    /// Gives up the place in the queue.
    fn cancel(&self, py: Python<'_>) {
        let q = lock(&self.queued).take();
        py.allow_threads(|| drop(q));
    }
}

#[pymodule]
fn lm(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("DEMO_KEY", grammar::publisher::DEMO_PUBLIC_KEYS)?;
    m.add("DEMO_SEAL_KEY", grammar::publisher::DEMO_SEAL_PUBLIC_KEY)?;
    m.add("DEMO_VENDOR", grammar::publisher::DEMO_VENDOR)?;
    m.add("LicenseError", m.py().get_type::<LicenseError>())?;
    m.add_class::<Job>()?;
    m.add_class::<License>()?;
    m.add_class::<QueuedLicense>()?;
    Ok(())
}
