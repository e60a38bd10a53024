//! What happens to a job's licenses after checkout, reported to the
//! application's callbacks.

use crate::error::LmError;
use std::sync::{Arc, Mutex};

/// Something the application may want to know while it holds licenses.
/// Callbacks run on the job's connection threads: they should return
/// quickly.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobEvent {
    /// The connection to a server broke; reconnecting starts.
    ConnectionLost {
        /// The search-path entry of the server.
        server: String,
        reason: String,
    },
    /// A reconnect attempt failed; it will be tried again.
    ReconnectFailed {
        server: String,
        attempt: u32,
        error: LmError,
    },
    /// Connected again with the same job id.
    Reconnected {
        server: String,
        /// Features whose seats the server kept for the job.
        kept: Vec<String>,
        /// Features checked out again.
        reacquired: Vec<String>,
    },
    /// The server cannot be reached and the job's
    /// [`crate::FailurePolicy::Grace`] keeps its licenses usable until
    /// `until`; reconnecting goes on, and [`JobEvent::Reconnected`] or
    /// [`JobEvent::LicenseLost`] follows.
    InGrace {
        server: String,
        until: std::time::SystemTime,
    },
    /// A license could not be kept: it was not given back after a
    /// reconnect, or reconnecting failed too often.
    LicenseLost { feature: String, error: LmError },
    /// The server took a license back (lmremove, shutdown, or the options
    /// file's TIMEOUT after the user was idle too long: see
    /// [`crate::Job::set_idle`]).
    Revoked { feature: String, error: LmError },
    /// A license was borrowed but could not be recorded in the local
    /// borrow store, so it cannot be used offline; the server lends it
    /// all the same (return it with `lmborrow -return` when connected).
    BorrowNotRecorded { feature: String, error: String },
}

type Callback = Arc<dyn Fn(&JobEvent) + Send + Sync>;

/// The callbacks of one job.
#[derive(Default)]
pub(crate) struct Events {
    callbacks: Mutex<Vec<Callback>>,
}

impl Events {
    pub(crate) fn subscribe(&self, f: Callback) {
        lock(&self.callbacks).push(f);
    }

    /// Calls every callback; no lock is held while they run.
    pub(crate) fn emit(&self, event: &JobEvent) {
        let callbacks: Vec<Callback> = lock(&self.callbacks).clone();
        for cb in callbacks {
            cb(event);
        }
    }
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("callbacks", &lock(&self.callbacks).len())
            .finish()
    }
}

/// Locks a mutex; a panic on another thread leaves the data usable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
