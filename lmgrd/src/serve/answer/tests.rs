//! Every kind of request against made-up states of the supervisor and of
//! a triad member.

use super::*;
use crate::serve::peer_links::check_hello;
use crate::serve::supervisor::Policy;
use accounting::admin::HOW_TO_AUTHENTICATE;
use std::net::SocketAddr;
use wire::{admin_op, AdminAccess};

const NOW: u64 = 5_000;

/// `demo` up on 27100 (pid 100); `acme` not started yet.
fn supervisor() -> Supervisor {
    let mut sup = Supervisor::new(["demo".to_string(), "acme".to_string()], Policy::default());
    sup.spawned(0, 100, 0);
    let _ = sup.port_reported(100, 27100);
    sup
}

fn licenses() -> Vec<PathBuf> {
    vec![PathBuf::from("a.lic"), PathBuf::from("b.lic")]
}

fn view<'a>(
    sup: &'a Supervisor,
    licenses: &'a [PathBuf],
    triad: Option<&'a dyn TriadView>,
    policy: AdminPolicy,
) -> View<'a> {
    View {
        supervisor: sup,
        triad,
        port: 27000,
        hostname: "build7",
        licenses,
        policy,
        now: NOW,
    }
}

const JOE: Client<'static> = Client {
    user: "joe",
    host: "ws1",
};

/// A triad member as answering sees it.
struct Member {
    plan: TriadPlan,
    role: Role,
    /// Vendor daemons told they serve.
    told: Vec<usize>,
    keyed: bool,
}

impl Member {
    fn new(me: u64, role: Role) -> Member {
        Member {
            plan: crate::serve::triad::loopback_plan(me),
            role,
            told: vec![0],
            keyed: false,
        }
    }
}

impl TriadView for Member {
    fn plan(&self) -> &TriadPlan {
        &self.plan
    }
    fn role(&self) -> Role {
        self.role
    }
    fn reason(&self, now: u64) -> String {
        format!("no quorum at {now}")
    }
    fn may_serve(&self, vendor: usize) -> bool {
        self.role.serving && self.told.contains(&vendor)
    }
    fn members(&self, _now: u64) -> Vec<TriadMember> {
        vec![TriadMember {
            line: 1,
            host: "127.0.0.1".into(),
            port: 27000,
            up: true,
            master: self.role.master == Some(1),
            reason: "us".into(),
        }]
    }
    fn check_hello(&self, h: &TriadHello) -> Result<u64, HelloRefusal> {
        check_hello(&self.plan, self.keyed, h)
    }
}

fn ask(view: &View<'_>, m: Message) -> Outcome {
    answer(view, &JOE, Sorted::Other(m))
}

fn reply_of(o: Outcome) -> Message {
    match o.reply {
        Reply::Now(m) => m,
        other => panic!("{other:?}"),
    }
}

fn lookup_msg(vendor: &str) -> Message {
    Message::VendorLookup(wire::VendorLookup {
        vendor: vendor.into(),
    })
}

fn error(code: i32, minor: i32) -> Message {
    error_reply(code, minor)
}

#[test]
fn hello_is_welcomed_and_the_client_remembered_escaped() {
    let (sup, lic) = (supervisor(), licenses());
    let v = view(&sup, &lic, None, AdminPolicy::default());
    let mut hello = wire::Hello::default();
    hello.identity.user = "joe\nSHUTDOWN".into();
    hello.identity.host = "ws1".into();
    let o = ask(&v, Message::Hello(hello));
    assert_eq!(
        o.actions,
        vec![Action::Identify {
            user: wire::text::escape("joe\nSHUTDOWN").into_owned(),
            host: "ws1".into()
        }]
    );
    assert!(!matches!(&o.actions[0], Action::Identify { user, .. } if user.contains('\n')));
    match reply_of(o) {
        Message::Welcome(w) => {
            assert_eq!(w.server, "lmgrd");
            assert_eq!(w.version, wire::version().to_string());
            assert_eq!((w.heartbeat_interval_ms, w.timeout_ms), (0, 0));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_vendor_lookup_names_the_port_or_why_not() {
    let (sup, lic) = (supervisor(), licenses());
    let v = view(&sup, &lic, None, AdminPolicy::default());
    assert_eq!(
        reply_of(ask(&v, lookup_msg("demo"))),
        Message::VendorInfo(VendorInfo {
            vendor: "demo".into(),
            port: 27100
        })
    );
    assert_eq!(
        reply_of(ask(&v, lookup_msg("acme"))),
        error(lmerr::LM_VENDOR_DOWN, 121),
        "served, not up"
    );
    assert_eq!(
        reply_of(ask(&v, lookup_msg("nobody"))),
        error(lmerr::LM_NOSERVSUPP, 0),
        "not served here"
    );
}

#[test]
fn heartbeats_are_acknowledged() {
    let (sup, lic) = (supervisor(), licenses());
    let v = view(&sup, &lic, None, AdminPolicy::default());
    let hb = wire::Heartbeat { seq: 9, idle: true };
    let o = ask(&v, Message::Heartbeat(hb.clone()));
    assert!(o.actions.is_empty());
    assert_eq!(reply_of(o), Message::HeartbeatAck(hb));
}

#[test]
fn status_of_a_single_server() {
    let (sup, lic) = (supervisor(), licenses());
    let v = view(&sup, &lic, None, AdminPolicy::default());
    let s = match reply_of(ask(&v, Message::StatusQuery(Default::default()))) {
        Message::Status(s) => s,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (s.server.as_str(), s.host.as_str(), s.port),
        ("lmgrd", "build7", 27000)
    );
    let vendors: Vec<(&str, bool, u16)> = s
        .vendors
        .iter()
        .map(|v| (v.name.as_str(), v.up, v.port))
        .collect();
    assert_eq!(vendors, vec![("demo", true, 27100), ("acme", false, 0)]);
    assert_eq!(s.license_files, vec!["a.lic:b.lic".to_string()]);
    assert!(s.triad.is_empty());
    // No holders here: a paged query gets the one and only page.
    assert_eq!(s.next, 0);
    let paged = Message::StatusQuery(wire::StatusQuery {
        paged: true,
        ..Default::default()
    });
    assert_eq!(reply_of(ask(&v, paged)), Message::Status(s));
}

#[test]
fn a_standby_sends_clients_to_the_master() {
    let (sup, lic) = (supervisor(), licenses());
    let standby = Member::new(
        1,
        Role {
            serving: false,
            master: Some(2),
        },
    );
    let v = view(&sup, &lic, Some(&standby), AdminPolicy::default());
    match reply_of(ask(&v, lookup_msg("demo"))) {
        Message::Error(e) => {
            assert_eq!((e.code, e.minor), (lmerr::LM_BUSYNEWSERV, MINOR_NOT_MASTER));
            assert!(
                e.text.ends_with(
                    "This license server is not the master; the master is 27000@127.0.0.2."
                ),
                "{}",
                e.text
            );
            assert!(e.text.starts_with(lmerr::text(lmerr::LM_BUSYNEWSERV)));
        }
        other => panic!("{other:?}"),
    }
    // The status is still answered, with nothing up here.
    match reply_of(ask(&v, Message::StatusQuery(Default::default()))) {
        Message::Status(s) => {
            assert_eq!(s.host, "127.0.0.1", "the member's SERVER line");
            assert!(s.vendors.iter().all(|v| !v.up));
            assert_eq!(s.triad.len(), 1);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn with_no_master_a_member_says_why() {
    let (sup, lic) = (supervisor(), licenses());
    for master in [None, Some(1)] {
        // A member that takes itself for master but does not serve (its
        // lease not yet given) has no master to point to either.
        let alone = Member::new(
            1,
            Role {
                serving: false,
                master,
            },
        );
        let v = view(&sup, &lic, Some(&alone), AdminPolicy::default());
        match reply_of(ask(&v, lookup_msg("demo"))) {
            Message::Error(e) => {
                assert_eq!(e.minor, MINOR_NO_MASTER);
                assert!(
                    e.text.ends_with(&format!("No master: no quorum at {NOW}.")),
                    "{}",
                    e.text
                );
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn the_master_hands_out_only_daemons_that_know_it_serves() {
    let mut sup = supervisor();
    sup.spawned(1, 200, 0);
    let _ = sup.port_reported(200, 27200);
    let lic = licenses();
    let master = Member::new(
        1,
        Role {
            serving: true,
            master: Some(1),
        },
    );
    let v = view(&sup, &lic, Some(&master), AdminPolicy::default());
    assert!(matches!(
        reply_of(ask(&v, lookup_msg("demo"))),
        Message::VendorInfo(VendorInfo { port: 27100, .. })
    ));
    assert_eq!(
        reply_of(ask(&v, lookup_msg("acme"))),
        error(lmerr::LM_VENDOR_DOWN, 121),
        "up, but not yet told it serves"
    );
    match reply_of(ask(&v, Message::StatusQuery(Default::default()))) {
        Message::Status(s) => {
            let up: Vec<bool> = s.vendors.iter().map(|v| v.up).collect();
            assert_eq!(up, vec![true, false]);
            assert!(s.triad[0].master);
        }
        other => panic!("{other:?}"),
    }
}

fn admin_request(op: u8, vendor: &str) -> AdminRequest {
    AdminRequest {
        op,
        vendor: vendor.into(),
        ..Default::default()
    }
}

fn tcp(peer: [u8; 4]) -> Requester {
    Requester::network(
        SocketAddr::from(([10, 0, 0, 1], 27000)),
        SocketAddr::from((peer, 40000)),
    )
}

fn admin_reply(o: &Outcome) -> AdminReply {
    match &o.reply {
        Reply::Now(Message::AdminReply(r)) => r.clone(),
        other => panic!("{other:?}"),
    }
}

fn ask_admin(policy: AdminPolicy, req: AdminRequest, who: Requester) -> Outcome {
    let (sup, lic) = (supervisor(), licenses());
    let v = view(&sup, &lic, None, policy);
    answer(&v, &JOE, Sorted::Request(req, who))
}

#[test]
fn lmdown_stops_everything_when_allowed() {
    let o = ask_admin(
        AdminPolicy::default(),
        admin_request(admin_op::SHUTDOWN, ""),
        tcp([10, 0, 0, 9]),
    );
    assert_eq!(
        o.actions,
        vec![
            Action::Log("SHUTDOWN request from joe at node ws1".into()),
            Action::ShutDown
        ]
    );
    assert_eq!(
        admin_reply(&o),
        AdminReply {
            code: 0,
            text: "shutting down".into()
        }
    );
}

#[test]
fn lmdown_of_one_vendor_stops_it_alone() {
    let o = ask_admin(
        AdminPolicy::default(),
        admin_request(admin_op::SHUTDOWN, "acme"),
        tcp([127, 0, 0, 1]),
    );
    assert_eq!(
        o.actions,
        vec![
            Action::Log("SHUTDOWN request for acme from joe at node ws1".into()),
            Action::StopVendor("acme".into())
        ]
    );
    assert_eq!(admin_reply(&o).text, "acme shutting down");
    let o = ask_admin(
        AdminPolicy::default(),
        admin_request(admin_op::SHUTDOWN, "nobody"),
        tcp([127, 0, 0, 1]),
    );
    assert!(o.actions.is_empty());
    assert_eq!(
        admin_reply(&o),
        AdminReply {
            code: lmerr::LM_NOSERVSUPP,
            text: "no vendor daemon nobody".into()
        }
    );
}

#[test]
fn the_admin_policy_refuses_with_its_error_number_and_a_log_line() {
    let down = || admin_request(admin_op::SHUTDOWN, "");
    let cases = [
        // -x lmdown: nobody may.
        (
            AdminPolicy {
                no_lmdown: true,
                ..Default::default()
            },
            Requester::Kernel {
                uid: 0,
                admin: true,
            },
            lmerr::LM_NOTLICADMIN,
            "lmdown is disabled on this license server (-x lmdown)".to_string(),
        ),
        // -local: not from another machine...
        (
            AdminPolicy {
                local_only: true,
                ..Default::default()
            },
            tcp([10, 0, 0, 9]),
            lmerr::LM_MUST_BE_LOCAL,
            lmerr::text(lmerr::LM_MUST_BE_LOCAL).to_string(),
        ),
        // -2 -p: an unauthenticated peer, or a user who is no admin.
        (
            AdminPolicy {
                admins_only: true,
                ..Default::default()
            },
            tcp([127, 0, 0, 1]),
            lmerr::LM_NOTLICADMIN,
            format!(
                "{} ({HOW_TO_AUTHENTICATE})",
                lmerr::text(lmerr::LM_NOTLICADMIN)
            ),
        ),
        (
            AdminPolicy {
                admins_only: true,
                ..Default::default()
            },
            Requester::Kernel {
                uid: 1000,
                admin: false,
            },
            lmerr::LM_NOTLICADMIN,
            format!(
                "{} (uid 1000 is neither root nor in group lmadmin)",
                lmerr::text(lmerr::LM_NOTLICADMIN)
            ),
        ),
    ];
    for (policy, who, code, text) in cases {
        let described = who.describe();
        let o = ask_admin(policy, down(), who);
        assert_eq!(
            admin_reply(&o),
            AdminReply {
                code,
                text: text.clone()
            }
        );
        assert_eq!(
            o.actions,
            vec![Action::Log(format!(
                "Down request from joe at node ws1 ({described}) refused: {text}"
            ))]
        );
    }
    // ...but from this machine, and from administrators, it may.
    let local = AdminPolicy {
        local_only: true,
        ..Default::default()
    };
    assert_eq!(
        admin_reply(&ask_admin(local, down(), tcp([127, 0, 0, 1]))).code,
        0
    );
    let admins = AdminPolicy {
        admins_only: true,
        ..Default::default()
    };
    let root = Requester::Kernel {
        uid: 0,
        admin: true,
    };
    assert_eq!(admin_reply(&ask_admin(admins, down(), root)).code, 0);
    let token = Requester::Token {
        name: "ci".into(),
        local: false,
    };
    assert_eq!(admin_reply(&ask_admin(admins, down(), token)).code, 0);
}

#[test]
fn lmreread_is_logged_then_read_by_the_loop() {
    let o = ask_admin(
        AdminPolicy::default(),
        admin_request(admin_op::REREAD, "demo"),
        tcp([127, 0, 0, 1]),
    );
    assert_eq!(
        o.actions,
        vec![Action::Log(
            "Rereading license file... Requested from joe@ws1".into()
        )]
    );
    assert_eq!(
        o.reply,
        Reply::AfterReread {
            vendor: "demo".into()
        }
    );
    let local = AdminPolicy {
        local_only: true,
        ..Default::default()
    };
    let o = ask_admin(
        local,
        admin_request(admin_op::REREAD, ""),
        tcp([10, 0, 0, 9]),
    );
    assert_eq!(admin_reply(&o).code, lmerr::LM_MUST_BE_LOCAL);
}

#[test]
fn requests_for_the_vendor_daemon_are_sent_there() {
    for op in [
        admin_op::REMOVE_USER,
        admin_op::REMOVE_HANDLE,
        admin_op::SWITCH_LOG,
        admin_op::NEW_REPORT_LOG,
    ] {
        let o = ask_admin(
            AdminPolicy::default(),
            admin_request(op, ""),
            tcp([127, 0, 0, 1]),
        );
        assert_eq!(
            admin_reply(&o),
            AdminReply {
                code: lmerr::LM_NOSERVSUPP,
                text: "send this request to the vendor daemon".into()
            }
        );
    }
}

#[test]
fn what_the_gate_answers_goes_back_and_its_refusals_are_logged() {
    let (sup, lic) = (supervisor(), licenses());
    let v = view(&sup, &lic, None, AdminPolicy::default());
    let refused = AdminReply {
        code: lmerr::LM_NOTLICADMIN,
        text: "bad token".into(),
    };
    let o = answer(
        &v,
        &JOE,
        Sorted::Answer(Message::AdminReply(refused.clone())),
    );
    assert_eq!(
        o.actions,
        vec![Action::Log(
            "Admin request from joe at node ws1 refused: bad token".into()
        )]
    );
    assert_eq!(o.reply, Reply::Now(Message::AdminReply(refused)));
    let access = Message::AdminAccess(AdminAccess {
        socket: "/run/lm.sock".into(),
        port: 27000,
        nonce: Default::default(),
    });
    let o = answer(&v, &JOE, Sorted::Answer(access.clone()));
    assert!(o.actions.is_empty());
    assert_eq!(o.reply, Reply::Now(access));
}

#[test]
fn anything_else_is_refused_as_bad_communication() {
    let (sup, lic) = (supervisor(), licenses());
    let v = view(&sup, &lic, None, AdminPolicy::default());
    let strays = [
        Message::Checkout(Default::default()),
        Message::Welcome(Default::default()),
        // An admin message that did not go through the gate.
        Message::Admin(admin_request(admin_op::SHUTDOWN, "")),
    ];
    for m in strays {
        let o = ask(&v, m);
        assert!(o.actions.is_empty(), "nothing done");
        let bad = reply_of(o);
        assert_eq!(bad, error(lmerr::LM_BADCOMM, 0));
        match bad {
            Message::Error(e) => assert_eq!(e.text, lmerr::text(lmerr::LM_BADCOMM)),
            other => panic!("{other:?}"),
        }
    }
    assert!(is_admin(&Message::Admin(Default::default())));
    assert!(is_admin(&Message::AdminAccessQuery(Default::default())));
    assert!(!is_admin(&lookup_msg("demo")));
}

#[test]
fn a_triad_hello_is_taken_only_from_a_peer_over_tcp_alone() {
    let member = Member::new(
        1,
        Role {
            serving: true,
            master: Some(1),
        },
    );
    let hello = |m: u32, cluster: &str| TriadHello {
        member: m,
        cluster: cluster.into(),
        ..Default::default()
    };
    let ours = member.plan.cluster.clone();
    let t: Option<&dyn TriadView> = Some(&member);
    assert_eq!(triad_hello(t, &hello(2, &ours), false, true), Ok(2));

    let r = triad_hello(t, &hello(2, &ours), true, true).unwrap_err();
    assert_eq!(r, TriadHelloRefusal::OnAdminSocket);
    assert!(!r.is_logged());
    assert_eq!(r.reply(), None);

    let r = triad_hello(None, &hello(2, &ours), false, true).unwrap_err();
    assert_eq!(r.to_string(), "this lmgrd is not a member of a triad");
    assert!(r.is_logged());
    assert_eq!(
        r.reply(),
        Some(Message::Error(ErrorReply {
            code: lmerr::LM_BADCOMM,
            minor: 0,
            text: "this lmgrd is not a member of a triad".into()
        }))
    );

    // A stranger is told why, even when it sent more.
    let r = triad_hello(t, &hello(2, "0badf00d"), false, false).unwrap_err();
    assert!(matches!(
        r,
        TriadHelloRefusal::Hello(HelloRefusal::OtherTriad { .. })
    ));
    assert!(r.reply().is_some());

    let r = triad_hello(t, &hello(3, &ours), false, false).unwrap_err();
    assert_eq!(r, TriadHelloRefusal::SentMore);
    assert!(r.is_logged());
    assert_eq!(r.reply(), None, "closed without a word");
}
