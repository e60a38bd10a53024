//! Whether a `TriadHello` on lmgrd's client port comes from one of our
//! two peers: the same triad, a member number that is a peer's, and a use
//! of the triad key that matches ours.

use crate::serve::triad::TriadPlan;
use crate::serve::triad_auth::{self, KeyMismatch, NONCE_LEN};
use wire::TriadHello;

/// Why a `TriadHello` on lmgrd's port is not from one of our peers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelloRefusal {
    // Anyone may send a TriadHello to the client port: what it says goes
    // into the log escaped.
    #[error("it is a member of another triad (SERVER lines {ours} here, {} there)", wire::text::Esc(.theirs))]
    OtherTriad { ours: String, theirs: String },
    #[error("it says it is member {0}, which is not one of our two peers")]
    NotAPeer(u64),
    #[error(transparent)]
    Key(#[from] KeyMismatch),
    #[error("its challenge is {0} bytes, not {NONCE_LEN}")]
    ChallengeSize(usize),
}

/// Whether a `TriadHello` comes from a peer of the triad `plan` describes,
/// to a member with (`keyed`) or without a key: the member number when it
/// does.
pub fn check_hello(plan: &TriadPlan, keyed: bool, h: &TriadHello) -> Result<u64, HelloRefusal> {
    if h.cluster != plan.cluster {
        return Err(HelloRefusal::OtherTriad {
            ours: plan.cluster.clone(),
            theirs: h.cluster.clone(),
        });
    }
    let m = u64::from(h.member);
    if !(1..=3).contains(&m) || m == plan.me {
        return Err(HelloRefusal::NotAPeer(m));
    }
    let (peer, us) = (format!("member {m}"), format!("member {}", plan.me));
    triad_auth::key_use(keyed, !h.nonce.0.is_empty(), &peer, &us)?;
    if keyed && h.nonce.0.len() != NONCE_LEN {
        return Err(HelloRefusal::ChallengeSize(h.nonce.0.len()));
    }
    Ok(m)
}
