//! What lmgrd answers its clients, decided without I/O: a request in, with
//! a read-only [`View`] of the supervisor and the triad and the time; the
//! reply and what the event loop must do out. `daemon.rs` reads the
//! requests, sorts admin messages by what the connection proves
//! (`hostenv::admin_socket`), and carries out the [`Action`]s.
//!
//! Clients ask lmgrd who it is (`Hello`), where a vendor daemon listens
//! (`VendorLookup`), how everything stands (`StatusQuery`, which lmstat
//! and the HTTP endpoint use), and administrators ask it to stop itself or
//! one vendor daemon (lmdown) or to read its license files again
//! (lmreread). In a triad, only the member that serves hands out vendor
//! daemons; the others send clients on to the master. Another member's
//! `TriadHello` on the client port is judged here too ([`triad_hello`]).

use super::peer_links::HelloRefusal;
use super::supervisor::{LookupError, Supervisor};
use super::triad::{Role, TriadPlan, MINOR_NOT_MASTER, MINOR_NO_MASTER};
use accounting::admin::{AdminKind, AdminPolicy, Requester};
use hostenv::admin_socket::Sorted;
use std::path::PathBuf;
use wire::{
    lmerr, AdminReply, AdminRequest, ErrorReply, Message, StatusReply, TriadHello, TriadMember,
    VendorInfo, VendorState, Welcome,
};

/// What answering reads of a triad member.
pub trait TriadView {
    /// The triad's SERVER lines and which is ours.
    fn plan(&self) -> &TriadPlan;
    /// Whether this member serves, and whom it takes for master.
    fn role(&self) -> Role;
    /// The member's own account of its role, in words.
    fn reason(&self, now: u64) -> String;
    /// Whether vendor daemon `vendor` (the supervisor's index) may be
    /// handed to clients: this member serves and the daemon knows it.
    fn may_serve(&self, vendor: usize) -> bool;
    /// The three members as this one sees them.
    fn members(&self, now: u64) -> Vec<TriadMember>;
    /// Whether a `TriadHello` comes from one of our peers: its member
    /// number when it does.
    fn check_hello(&self, h: &TriadHello) -> Result<u64, HelloRefusal>;
}

/// What lmgrd's state looks like to the answers.
pub struct View<'a> {
    pub supervisor: &'a Supervisor,
    /// Set in a triad.
    pub triad: Option<&'a dyn TriadView>,
    /// The port lmgrd listens on.
    pub port: u16,
    pub hostname: &'a str,
    /// The license files served, in order.
    pub licenses: &'a [PathBuf],
    /// `-x lmdown`, `-local`, `-2 -p`...
    pub policy: AdminPolicy,
    pub now: u64,
}

/// Who the connection said it is in its `Hello` (escaped), for the log
/// lines of admin requests.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    pub user: &'a str,
    pub host: &'a str,
}

/// What the event loop does for an answer, in order, before the reply
/// goes out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Remember who the connection says it is.
    Identify { user: String, host: String },
    /// A debug-log line.
    Log(String),
    /// lmdown of the whole server: stop every vendor daemon, then lmgrd.
    ShutDown,
    /// lmdown of one vendor daemon.
    StopVendor(String),
}

/// The reply to send.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Now(Message),
    /// lmreread: read the license files again (the loop's I/O); `reread.rs`
    /// decides the reply from what it finds. `vendor` is empty for all.
    AfterReread {
        vendor: String,
    },
}

/// An answer: actions, then the reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub actions: Vec<Action>,
    pub reply: Reply,
}

impl Outcome {
    fn reply(m: Message) -> Outcome {
        Outcome {
            actions: Vec::new(),
            reply: Reply::Now(m),
        }
    }
}

/// Whether `m` is an admin message, to be sorted by the connection's gate
/// before it is answered.
pub fn is_admin(m: &Message) -> bool {
    matches!(
        m,
        Message::Admin(_) | Message::AdminFor(_) | Message::AdminAccessQuery(_)
    )
}

/// The answer to one request of `client`.
pub fn answer(view: &View<'_>, client: &Client<'_>, request: Sorted) -> Outcome {
    match request {
        Sorted::Other(m) => answer_message(view, m),
        Sorted::Request(req, who) => admin(view, client, &req, &who),
        Sorted::Answer(Message::AdminReply(r)) => Outcome {
            actions: vec![Action::Log(format!(
                "Admin request from {} at node {} refused: {}",
                client.user, client.host, r.text
            ))],
            reply: Reply::Now(Message::AdminReply(r)),
        },
        Sorted::Answer(reply) => Outcome::reply(reply),
    }
}

fn answer_message(view: &View<'_>, m: Message) -> Outcome {
    match m {
        Message::Hello(h) => Outcome {
            // Escaped for the log lines of admin requests, although
            // `wire::text::check_request` let only clean strings in.
            actions: vec![Action::Identify {
                user: wire::text::escape(&h.identity.user).into_owned(),
                host: wire::text::escape(&h.identity.host).into_owned(),
            }],
            reply: Reply::Now(Message::Welcome(Welcome {
                server: "lmgrd".into(),
                version: wire::version().to_string(),
                heartbeat_interval_ms: 0,
                timeout_ms: 0,
                held: Vec::new(),
            })),
        },
        Message::VendorLookup(l) => {
            let refusal = view.triad.and_then(|t| triad_refusal(t, view.now));
            Outcome::reply(match refusal {
                Some(e) => Message::Error(e),
                None => lookup(view, l.vendor),
            })
        }
        Message::Heartbeat(h) => Outcome::reply(Message::HeartbeatAck(h)),
        Message::StatusQuery(_) => Outcome::reply(Message::Status(status(view))),
        _ => Outcome::reply(error_reply(lmerr::LM_BADCOMM, 0)),
    }
}

/// Why this triad member does not hand out vendor daemons now, or `None`
/// when it serves. LM_BUSYNEWSERV (-23, "License server system temporarily
/// busy (new server connecting)") is FLEXlm's error for a server that
/// cannot serve while the triad settles; the client moves on to the next
/// server of the triad. The text names the master when there is one.
pub fn triad_refusal(triad: &dyn TriadView, now: u64) -> Option<ErrorReply> {
    let role = triad.role();
    if role.serving {
        return None;
    }
    let plan = triad.plan();
    let base = lmerr::text(lmerr::LM_BUSYNEWSERV);
    Some(match role.master {
        Some(m) if m != plan.me => ErrorReply {
            code: lmerr::LM_BUSYNEWSERV,
            minor: MINOR_NOT_MASTER,
            text: format!(
                "{base} This license server is not the master; the master is {}.",
                plan.line(m).port_at_host()
            ),
        },
        _ => ErrorReply {
            code: lmerr::LM_BUSYNEWSERV,
            minor: MINOR_NO_MASTER,
            text: format!("{base} No master: {}.", triad.reason(now)),
        },
    })
}

/// Where `vendor`'s daemon listens, when lmgrd may send clients to it.
fn lookup(view: &View<'_>, vendor: String) -> Message {
    match view.supervisor.lookup(&vendor) {
        Ok(port) if may_serve(view, &vendor) => Message::VendorInfo(VendorInfo { vendor, port }),
        Ok(_) | Err(LookupError::Down) => error_reply(lmerr::LM_VENDOR_DOWN, 121),
        Err(LookupError::Unknown) => error_reply(lmerr::LM_NOSERVSUPP, 0),
    }
}

/// Whether lmgrd may send clients to this vendor's daemon: always for a
/// single server; in a triad, only while this member serves and the
/// daemon knows it.
fn may_serve(view: &View<'_>, vendor: &str) -> bool {
    let Some(triad) = view.triad else {
        return true;
    };
    (0..view.supervisor.len())
        .find(|i| view.supervisor.name(*i) == vendor)
        .is_some_and(|i| triad.may_serve(i))
}

/// lmgrd's status. Every member of a triad answers it, with the triad as
/// it sees it; its host is then its SERVER line's, as lmstat shows
/// members, and a vendor daemon counts as up only where it serves.
fn status(view: &View<'_>) -> StatusReply {
    let version = wire::version().to_string();
    let sup = view.supervisor;
    StatusReply {
        server: "lmgrd".into(),
        version: version.clone(),
        host: view.triad.map_or_else(
            || view.hostname.to_string(),
            |t| t.plan().mine().host.clone(),
        ),
        port: view.port,
        vendors: (0..sup.len())
            .map(|i| {
                let name = sup.name(i).to_string();
                let port = sup.lookup(&name).ok();
                VendorState {
                    up: port.is_some() && may_serve(view, &name),
                    name,
                    port: port.unwrap_or(0),
                    version: version.clone(),
                }
            })
            .collect(),
        features: Vec::new(),
        license_files: vec![list_served(view.licenses)],
        triad: view.triad.map_or_else(Vec::new, |t| t.members(view.now)),
        // lmgrd's status lists no holders, so it is never paged.
        next: 0,
    }
}

/// The served license files as lmstat shows them: a `:` list.
fn list_served(licenses: &[PathBuf]) -> String {
    let names: Vec<String> = licenses.iter().map(|p| p.display().to_string()).collect();
    names.join(":")
}

/// lmdown and lmreread, as the admin policy allows `who` (lmremove and log
/// switching go to the vendor daemon, which holds the checkouts).
fn admin(view: &View<'_>, client: &Client<'_>, req: &AdminRequest, who: &Requester) -> Outcome {
    let (user, host) = (client.user, client.host);
    let kind = AdminKind::of(req.op);
    let done = |actions: Vec<Action>, code: i32, text: String| Outcome {
        actions,
        reply: Reply::Now(Message::AdminReply(AdminReply { code, text })),
    };
    if let Err(refusal) = view.policy.check(kind, who) {
        let line = format!(
            "{kind:?} request from {user} at node {host} ({}) refused: {}",
            who.describe(),
            refusal.text
        );
        return done(vec![Action::Log(line)], refusal.code, refusal.text);
    }
    match kind {
        AdminKind::Down if req.vendor.is_empty() => done(
            vec![
                Action::Log(logfmt::banner::shutdown_request(user, host)),
                Action::ShutDown,
            ],
            0,
            "shutting down".into(),
        ),
        AdminKind::Down if view.supervisor.lookup(&req.vendor) == Err(LookupError::Unknown) => {
            let text = format!("no vendor daemon {}", req.vendor);
            done(Vec::new(), lmerr::LM_NOSERVSUPP, text)
        }
        AdminKind::Down => {
            let v = &req.vendor;
            done(
                vec![
                    Action::Log(format!(
                        "SHUTDOWN request for {v} from {user} at node {host}"
                    )),
                    Action::StopVendor(v.clone()),
                ],
                0,
                format!("{v} shutting down"),
            )
        }
        AdminKind::Reread => Outcome {
            actions: vec![Action::Log(logfmt::banner::reread_requested(user, host))],
            reply: Reply::AfterReread {
                vendor: req.vendor.clone(),
            },
        },
        AdminKind::Remove | AdminKind::SwitchLog => done(
            Vec::new(),
            lmerr::LM_NOSERVSUPP,
            "send this request to the vendor daemon".into(),
        ),
    }
}

/// Why another lmgrd's `TriadHello` on the client port is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TriadHelloRefusal {
    /// Members connect over TCP only.
    #[error("a triad hello on the admin socket")]
    OnAdminSocket,
    #[error("this lmgrd is not a member of a triad")]
    NotInTriad,
    /// The dialing side waits for our answer before it sends more, so
    /// anything after the hello is refused (and the client-sized reader
    /// never holds a raft frame).
    #[error("it sent more before its hello was answered")]
    SentMore,
    #[error(transparent)]
    Hello(#[from] HelloRefusal),
}

impl TriadHelloRefusal {
    /// Whether it is logged as a refused triad connection (a hello on the
    /// admin socket only closes that connection).
    pub fn is_logged(&self) -> bool {
        !matches!(self, TriadHelloRefusal::OnAdminSocket)
    }

    /// What the other side is told before the connection closes: why, when
    /// it is not one of our peers.
    pub fn reply(&self) -> Option<Message> {
        match self {
            TriadHelloRefusal::NotInTriad | TriadHelloRefusal::Hello(_) => {
                Some(Message::Error(ErrorReply {
                    code: lmerr::LM_BADCOMM,
                    minor: 0,
                    text: self.to_string(),
                }))
            }
            TriadHelloRefusal::OnAdminSocket | TriadHelloRefusal::SentMore => None,
        }
    }
}

/// Whether a `TriadHello` on the client port is from one of our peers, who
/// may then take the connection over: its member number when it is.
/// `alone`: nothing came after the hello.
pub fn triad_hello(
    triad: Option<&dyn TriadView>,
    hello: &TriadHello,
    on_admin_socket: bool,
    alone: bool,
) -> Result<u64, TriadHelloRefusal> {
    if on_admin_socket {
        return Err(TriadHelloRefusal::OnAdminSocket);
    }
    let triad = triad.ok_or(TriadHelloRefusal::NotInTriad)?;
    let member = triad.check_hello(hello)?;
    if !alone {
        return Err(TriadHelloRefusal::SentMore);
    }
    Ok(member)
}

/// An error reply with FLEXlm's text for `code`.
pub fn error_reply(code: i32, minor: i32) -> Message {
    Message::Error(ErrorReply {
        code,
        minor,
        text: lmerr::text(code).to_string(),
    })
}

#[cfg(test)]
mod tests;
