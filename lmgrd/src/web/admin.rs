//! Admin over HTTP: who may act ([`authorize`]: the password or a token,
//! checked against the Argon2 hashes `lmutil lmpasswd` keeps, with a
//! lockout per source address), and the actions themselves, sent to
//! lmgrd and its vendor daemons as lmremove, lmreread, lmswitch and
//! lmdown send them. Every decision is logged with the actor and source.

use base64ct::{Base64, Encoding};
use lmutil::common::LmFailure;
use lmutil::net::{self, admin_request, Timeouts};
use lmutil::secrets::Secrets;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};
use wire::admin_op;

/// Failures from one address before it is locked out.
pub const MAX_FAILURES: u32 = 5;
/// How long failures are remembered, and how long a lockout lasts.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Sources remembered at most (a flood of addresses cannot grow memory).
const MAX_SOURCES: usize = 4096;

/// Failed tries per source address, with the time passed in.
#[derive(Debug, Default)]
pub struct Lockout {
    sources: HashMap<IpAddr, Failures>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    first: Instant,
}

impl Lockout {
    /// Returns true if and only if `ip` may not try now.
    pub fn is_locked(&mut self, ip: IpAddr, now: Instant) -> bool {
        self.forget_old(now);
        self.sources
            .get(&ip)
            .is_some_and(|f| f.count >= MAX_FAILURES)
    }

    /// Counts a failed try; returns the count in the current window.
    pub fn fail(&mut self, ip: IpAddr, now: Instant) -> u32 {
        self.forget_old(now);
        if self.sources.len() >= MAX_SOURCES && !self.sources.contains_key(&ip) {
            // Keep counting the newcomer: drop the oldest entry.
            if let Some(oldest) = self
                .sources
                .iter()
                .min_by_key(|(_, f)| f.first)
                .map(|(k, _)| *k)
            {
                self.sources.remove(&oldest);
            }
        }
        let f = self.sources.entry(ip).or_insert(Failures {
            count: 0,
            first: now,
        });
        f.count += 1;
        f.count
    }

    /// A success clears the source's count.
    pub fn succeed(&mut self, ip: IpAddr) {
        self.sources.remove(&ip);
    }

    fn forget_old(&mut self, now: Instant) {
        self.sources
            .retain(|_, f| now.saturating_duration_since(f.first) < WINDOW);
    }
}

/// Who is acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Password,
    Token(String),
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::Password => write!(f, "admin (password)"),
            Actor::Token(name) => write!(f, "token {name}"),
        }
    }
}

/// Why a request is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("HTTP admin is off: set a password with `lmutil lmpasswd`")]
    Off,
    #[error("admin over plain HTTP is accepted from this machine only: use HTTPS")]
    NotSecure,
    #[error("too many failed tries from this address: locked out for a while")]
    LockedOut,
    #[error("wrong or missing password or token")]
    Wrong,
    #[error("cannot read the admin secrets: {0}")]
    Secrets(String),
}

impl Refusal {
    /// The HTTP status for it.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Off | Refusal::NotSecure => 403,
            Refusal::LockedOut => 429,
            Refusal::Wrong => 401,
            Refusal::Secrets(_) => 500,
        }
    }
}

/// The credential a request carries in `Authorization`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// `Basic` with any user name: the password.
    Password(String),
    /// `Bearer`: a token.
    Token(String),
}

/// Reads `Authorization: Basic …` or `Authorization: Bearer …`.
pub fn credential(header: Option<&str>) -> Option<Credential> {
    let header = header?.trim();
    if let Some(token) = header.strip_prefix("Bearer ") {
        return Some(Credential::Token(token.trim().to_string()));
    }
    let encoded = header.strip_prefix("Basic ")?.trim();
    if encoded.len() > 2048 {
        return None;
    }
    let decoded = Base64::decode_vec(encoded).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_, password) = text.split_once(':')?;
    Some(Credential::Password(password.to_string()))
}

/// Decides whether a request from `peer` with `cred` may act.
pub fn authorize(
    state_dir: &Path,
    lockout: &mut Lockout,
    peer: SocketAddr,
    secure: bool,
    cred: Option<Credential>,
    now: Instant,
) -> Result<Actor, Refusal> {
    let ip = peer.ip();
    if !secure && !ip.is_loopback() {
        return Err(Refusal::NotSecure);
    }
    let secrets = Secrets::load(state_dir).map_err(|e| Refusal::Secrets(e.to_string()))?;
    if !secrets.is_set() {
        return Err(Refusal::Off);
    }
    if lockout.is_locked(ip, now) {
        log::warn!("HTTP admin: refused {ip}: locked out after {MAX_FAILURES} failed tries");
        return Err(Refusal::LockedOut);
    }
    let actor = match cred {
        Some(Credential::Password(p)) if secrets.check_password(&p) => Some(Actor::Password),
        Some(Credential::Token(t)) => secrets.check_token(&t).map(Actor::Token),
        _ => None,
    };
    match actor {
        Some(a) => {
            lockout.succeed(ip);
            Ok(a)
        }
        None => {
            let n = lockout.fail(ip, now);
            log::warn!("HTTP admin: wrong password or token from {ip} ({n} of {MAX_FAILURES})");
            Err(Refusal::Wrong)
        }
    }
}

/// An admin action, as the request body says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    #[serde(default)]
    pub vendor: String,
    #[serde(default)]
    pub feature: String,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub display: String,
    #[serde(default)]
    pub handle: u64,
    #[serde(default)]
    pub path: String,
}

/// Why an admin action over HTTP did not happen. Its text is what the
/// caller is told and what the log says.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// lmgrd or the vendor daemon could not be reached, or the link failed.
    #[error("{0}")]
    Link(LmFailure),
    /// lmremove failed at the vendor daemons serving the feature.
    #[error("{0}")]
    Remove(String),
    #[error("no vendor daemon serves {0}")]
    NotServed(String),
    /// The daemon refused: FLEXlm's error and the daemon's words.
    #[error("{}", lmutil::admin::refusal(.0))]
    Refused(wire::AdminReply),
    #[error("no such action `{0}`")]
    NoSuchAction(String),
    /// The action's task ended without an answer.
    #[error("internal error")]
    Internal,
}

impl From<LmFailure> for ActionError {
    fn from(e: LmFailure) -> ActionError {
        ActionError::Link(e)
    }
}

/// The actions: `remove`, `reread`, `switch` (a vendor daemon's debug
/// log), `shutdown`.
pub fn act(lmgrd: SocketAddr, action: &str, body: &ActionBody) -> Result<String, ActionError> {
    let t = Timeouts {
        connect: Duration::from_secs(3),
        io: Duration::from_secs(10),
    };
    let spec = client::ServerSpec {
        host: lmgrd.ip().to_string(),
        port: Some(lmgrd.port()),
    };
    let mut lm = net::lmgrd(&spec, t)?;
    match action {
        "remove" => {
            let mut req = admin_request(if body.handle != 0 {
                admin_op::REMOVE_HANDLE
            } else {
                admin_op::REMOVE_USER
            });
            req.feature = body.feature.clone();
            req.user = body.user.clone();
            req.host = body.host.clone();
            req.display = body.display.clone();
            req.handle = body.handle;
            match lmutil::lmremove::remove_at(&lm, &body.feature, &req, t) {
                Ok(true) => Ok(format!("removed from {}", body.feature)),
                Ok(false) => Err(ActionError::NotServed(body.feature.clone())),
                Err(why) => Err(ActionError::Remove(why)),
            }
        }
        "reread" | "shutdown" => {
            let mut req = admin_request(if action == "reread" {
                admin_op::REREAD
            } else {
                admin_op::SHUTDOWN
            });
            req.vendor = body.vendor.clone();
            reply(lm.conn.admin(req)?, action)
        }
        "switch" => {
            let mut req = admin_request(admin_op::SWITCH_LOG);
            req.vendor = body.vendor.clone();
            req.path = body.path.clone();
            let mut conn = lm.vendor(&body.vendor, t)?;
            reply(conn.admin(req)?, action)
        }
        other => Err(ActionError::NoSuchAction(other.to_string())),
    }
}

/// What an admin reply comes to: its text, or the refusal.
fn reply(r: wire::AdminReply, action: &str) -> Result<String, ActionError> {
    match r.code {
        0 if r.text.is_empty() => Ok(format!("{action}: done")),
        0 => Ok(r.text),
        _ => Err(ActionError::Refused(r)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_after_the_limit_per_source_until_the_window_passes() {
        let t0 = Instant::now();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let mut l = Lockout::default();
        for n in 1..=MAX_FAILURES {
            assert!(!l.is_locked(a, t0));
            assert_eq!(l.fail(a, t0), n);
        }
        assert!(l.is_locked(a, t0));
        assert!(!l.is_locked(b, t0), "counted per source");
        assert!(!l.is_locked(a, t0 + WINDOW), "the lockout ends");
    }

    #[test]
    fn a_success_clears_the_count() {
        let t0 = Instant::now();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let mut l = Lockout::default();
        l.fail(a, t0);
        l.succeed(a);
        assert_eq!(l.fail(a, t0), 1);
    }

    #[test]
    fn credentials_from_the_authorization_header() {
        assert_eq!(
            credential(Some("Basic YWRtaW46czNjcmV0OnBhc3M=")),
            Some(Credential::Password("s3cret:pass".into()))
        );
        assert_eq!(
            credential(Some("Bearer lmt.ci.abc")),
            Some(Credential::Token("lmt.ci.abc".into()))
        );
        assert_eq!(credential(Some("Basic !!!")), None);
        assert_eq!(credential(Some("Digest x")), None);
        assert_eq!(credential(None), None);
    }

    #[test]
    fn admin_replies_are_the_result_or_a_named_refusal() {
        let ok = |text: &str| wire::AdminReply {
            code: 0,
            text: text.into(),
        };
        assert_eq!(reply(ok(""), "reread").unwrap(), "reread: done");
        assert_eq!(
            reply(ok("lmreread successful"), "reread").unwrap(),
            "lmreread successful"
        );
        let refused = wire::AdminReply {
            code: wire::lmerr::LM_NOTLICADMIN,
            text: "lmdown is disabled".into(),
        };
        let e = reply(refused.clone(), "shutdown").unwrap_err();
        assert_eq!(e.to_string(), lmutil::admin::refusal(&refused));
        assert_eq!(
            ActionError::NoSuchAction("fly".into()).to_string(),
            "no such action `fly`"
        );
    }

    #[test]
    fn no_secrets_means_admin_is_off_and_plain_http_is_for_loopback() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut l = Lockout::default();
        let now = Instant::now();
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let remote: SocketAddr = "192.0.2.7:5000".parse().unwrap();
        let pw = Some(Credential::Password("x".into()));
        assert_eq!(
            authorize(dir.path(), &mut l, local, false, pw.clone(), now),
            Err(Refusal::Off)
        );
        assert_eq!(
            authorize(dir.path(), &mut l, remote, false, pw, now),
            Err(Refusal::NotSecure)
        );
    }
}
