use super::*;
use grammar::pool::build_pools;
use std::collections::HashMap;
use wire::codec::Blob;

const DEMO: &str = "\
SERVER this_host ANY 27000
VENDOR demo
FEATURE f1 demo 1.0 permanent 4
FEATURE f2 demo 2.5 permanent 2 DUP_GROUP=UH
";

fn today() -> Date {
    Date::new(2026, 6, 1).unwrap()
}

pub(super) fn core_for(text: &str) -> Core {
    core_on(text, today())
}

fn core_on(text: &str, day: Date) -> Core {
    let file = grammar::parse_license("test.lic", text);
    assert!(!file.has_errors(), "{:?}", file.diagnostics);
    let pools = build_pools(&file, &HashMap::new(), day);
    let mut config = Config::new("demo");
    for (_, f) in file.features() {
        if let Some(g) = f.suite_dup_group {
            config.suite_dup_groups.insert(f.name.to_string(), g);
        }
    }
    Core::new(pools, day, config)
}

pub(super) fn ident(user: &str, host: &str) -> ClientIdentity {
    ClientIdentity {
        user: user.into(),
        host: host.into(),
        display: ":0".into(),
        pid: 1,
        platform: "x64_lsb".into(),
        hostids: vec![],
        client_version: "0.1".into(),
        job: 0,
        project: String::new(),
    }
}

pub(super) fn co(feature: &str, version: &str, count: u32) -> Checkout {
    Checkout {
        req: 7,
        feature: feature.into(),
        version: version.into(),
        count,
        dup_group: 0,
        queue: false,
        borrow_until: 0,
        return_hash: Blob::default(),
    }
}

/// The return secret of the borrows these tests make.
pub(super) const SECRET: [u8; wire::borrow_key::LEN] = [5; wire::borrow_key::LEN];

/// A return of `feature` showing `secret`.
fn give_back(req: u32, feature: &str, secret: &[u8]) -> ReturnBorrow {
    ReturnBorrow {
        req,
        feature: feature.into(),
        secret: Blob(secret.to_vec()),
    }
}

/// Connects `conn` as `user@host` and checks the Welcome.
fn hello(core: &mut Core, conn: u64, user: &str, host: &str) {
    let fx = core.connect(0, ConnId(conn), ident(user, host));
    assert!(
        matches!(fx.replies.as_slice(), [(c, Message::Welcome(_))] if *c == ConnId(conn)),
        "{fx:?}"
    );
}

fn granted(fx: &Effects) -> u64 {
    match fx.replies.as_slice() {
        [(_, Message::Granted(g))] => g.handle,
        other => panic!("expected Granted, got {other:?}"),
    }
}

fn denied(fx: &Effects) -> (i32, i32) {
    match fx.replies.as_slice() {
        [(_, Message::Denied(d))] => (d.code, d.minor),
        other => panic!("expected Denied, got {other:?}"),
    }
}

fn lines(fx: &Effects) -> Vec<String> {
    fx.log.iter().map(ToString::to_string).collect()
}

fn in_use(core: &Core, feature: &str) -> u32 {
    core.usage()
        .iter()
        .filter(|u| u.feature == feature)
        .map(|u| u.in_use)
        .sum()
}

#[test]
fn four_seats_then_max_users() {
    let mut core = core_for(DEMO);
    for conn in 1..=5 {
        hello(&mut core, conn, &format!("u{conn}"), "ws1");
    }
    for conn in 1..=4 {
        let fx = core.checkout(1, ConnId(conn), &co("f1", "1.0", 1));
        granted(&fx);
        assert_eq!(lines(&fx), vec![format!("OUT: \"f1\" u{conn}@ws1  ")]);
    }
    let fx = core.checkout(1, ConnId(5), &co("f1", "1.0", 1));
    assert_eq!(denied(&fx), (-4, 342));
    let Message::Denied(d) = &fx.replies[0].1 else {
        unreachable!()
    };
    assert_eq!(d.text, "Licensed number of users already reached.");
    assert_eq!(d.req, 7);
    assert_eq!(
        lines(&fx),
        vec!["DENIED: \"f1\" u5@ws1  (Licensed number of users already reached. (-4,342))"]
    );
    assert_eq!(in_use(&core, "f1"), 4);
    core.check_invariants();
}

#[test]
fn checkin_frees_a_seat_and_only_the_holder_may() {
    let mut core = core_for(DEMO);
    hello(&mut core, 1, "joe", "ws1");
    hello(&mut core, 2, "ann", "ws2");
    let h = granted(&core.checkout(0, ConnId(1), &co("f1", "", 4)));
    assert_eq!(denied(&core.checkout(0, ConnId(2), &co("f1", "", 1))).0, -4);

    let fx = core.checkin(0, ConnId(2), &Checkin { req: 3, handle: h });
    assert_eq!(denied(&fx).0, lmerr::LM_NEVERCHECKOUT);
    assert_eq!(in_use(&core, "f1"), 4);

    let fx = core.checkin(0, ConnId(1), &Checkin { req: 3, handle: h });
    assert!(matches!(
        fx.replies.as_slice(),
        [(_, Message::CheckedIn(Checkin { req: 3, handle }))] if *handle == h
    ));
    assert_eq!(lines(&fx), vec!["IN: \"f1\" joe@ws1  (4 licenses) "]);
    assert_eq!(in_use(&core, "f1"), 0);
    granted(&core.checkout(0, ConnId(2), &co("f1", "", 1)));
    // A second checkin of the same handle is refused.
    let fx = core.checkin(0, ConnId(1), &Checkin { req: 4, handle: h });
    assert_eq!(denied(&fx).0, lmerr::LM_NEVERCHECKOUT);
    core.check_invariants();
}

#[test]
fn disconnect_releases_everything() {
    let mut core = core_for(DEMO);
    hello(&mut core, 1, "joe", "ws1");
    granted(&core.checkout(0, ConnId(1), &co("f1", "1.0", 3)));
    granted(&core.checkout(0, ConnId(1), &co("f2", "2.0", 1)));
    let fx = core.disconnect(0, ConnId(1));
    assert_eq!(
        lines(&fx),
        vec!["IN: \"f1\" joe@ws1  (3 licenses) ", "IN: \"f2\" joe@ws1  "]
    );
    assert_eq!(core.holdings(), 0);
    assert!(core.usage().iter().all(|u| u.in_use == 0));
    assert!(!core.is_connected(ConnId(1)));
    assert!(core.next_deadline().is_none());
    core.check_invariants();
}

#[test]
fn several_licenses_in_one_checkout() {
    let mut core = core_for(DEMO);
    hello(&mut core, 1, "joe", "ws1");
    let fx = core.checkout(0, ConnId(1), &co("f1", "1.0", 3));
    granted(&fx);
    assert_eq!(lines(&fx), vec!["OUT: \"f1\" joe@ws1  (3 licenses) "]);
    // More than are left: wait for them.
    assert_eq!(
        denied(&core.checkout(0, ConnId(1), &co("f1", "1.0", 2))).0,
        -4
    );
    // More than the pool could ever give.
    assert_eq!(
        denied(&core.checkout(0, ConnId(1), &co("f1", "1.0", 5))).0,
        -26
    );
    // Zero licenses, or a version that is not a number, make no sense.
    assert_eq!(
        denied(&core.checkout(0, ConnId(1), &co("f1", "1.0", 0))).0,
        -42
    );
    assert_eq!(
        denied(&core.checkout(0, ConnId(1), &co("f1", "one", 1))).0,
        -42
    );
    core.check_invariants();
}

#[test]
fn unknown_feature_is_unsupported() {
    let mut core = core_for(DEMO);
    hello(&mut core, 1, "joe", "ws1");
    let fx = core.checkout(0, ConnId(1), &co("f9", "1.0", 1));
    assert_eq!(denied(&fx), (-5, 346));
    assert_eq!(
        lines(&fx),
        vec![
            "UNSUPPORTED: \"f9\" (PORT_AT_HOST_PLUS ) joe@ws1  (No such feature exists. (-5,346))"
        ]
    );
}

#[test]
fn withdrawn_features_say_why() {
    let mut core = core_for(DEMO);
    core.config.withdrawn.insert(
        "old".into(),
        Withdrawn::Expired(grammar::Expiry::On(Date::new(2020, 1, 31).unwrap())),
    );
    core.config
        .withdrawn
        .insert("forged".into(), Withdrawn::BadSignature);
    hello(&mut core, 1, "joe", "ws1");
    let fx = core.checkout(0, ConnId(1), &co("old", "1.0", 1));
    assert_eq!(denied(&fx).0, -10);
    assert_eq!(
        lines(&fx),
        vec!["DENIED: \"old\" joe@ws1  (Feature has expired. (-10,0))"]
    );
    assert_eq!(
        denied(&core.checkout(0, ConnId(1), &co("forged", "1", 1))).0,
        -8
    );
}

#[test]
fn version_rules() {
    let mut core = core_for(DEMO);
    hello(&mut core, 1, "joe", "ws1");
    let fx = core.checkout(0, ConnId(1), &co("f2", "3.0", 1));
    assert_eq!(denied(&fx), (-25, 334));
    assert_eq!(
        lines(&fx),
        vec![
            "DENIED: \"f2\" joe@ws1  (License server system does not support this version of this feature. (-25,334))"
        ]
    );
    // 2.50 is 2.5; lower versions are served by a higher line.
    granted(&core.checkout(0, ConnId(1), &co("f2", "2.50", 1)));
    granted(&core.checkout(0, ConnId(1), &co("f2", "1", 1)));
}

#[test]
fn expiry_and_start_dates() {
    let text = "\
SERVER h ANY
VENDOR demo
FEATURE old demo 1.0 30-jun-2026 2
FEATURE later demo 1.0 permanent 2 START=01-jul-2026
";
    let mut core = core_for(text);
    hello(&mut core, 1, "joe", "ws1");
    assert_eq!(
        denied(&core.checkout(0, ConnId(1), &co("later", "1", 1))).0,
        -31
    );
    let h = granted(&core.checkout(0, ConnId(1), &co("old", "1", 1)));

    let fx = core.set_today(Date::new(2026, 7, 1).unwrap());
    assert_eq!(
        lines(&fx),
        vec!["EXPIRED: old", "IN: \"old\" joe@ws1  (EXPIRED)"]
    );
    assert!(matches!(
        fx.replies.as_slice(),
        [(_, Message::Revoked(Revoked { handle, code: -10, .. }))] if *handle == h
    ));
    core.check_invariants();
    assert_eq!(
        denied(&core.checkout(0, ConnId(1), &co("old", "1", 1))).0,
        -10
    );
    granted(&core.checkout(0, ConnId(1), &co("later", "1", 1)));
    core.check_invariants();
}

#[test]
fn a_shrinking_pool_revokes_the_newest_checkouts() {
    let text = "\
SERVER h ANY
VENDOR demo
INCREMENT f demo 1.0 permanent 1
INCREMENT f demo 1.0 30-jun-2026 2
";
    let mut core = core_for(text);
    for conn in 1..=3 {
        hello(&mut core, conn, &format!("u{conn}"), "ws");
        granted(&core.checkout(0, ConnId(conn), &co("f", "1", 1)));
    }
    let fx = core.set_today(Date::new(2026, 7, 2).unwrap());
    let revoked: Vec<ConnId> = fx
        .replies
        .iter()
        .filter(|(_, m)| matches!(m, Message::Revoked(_)))
        .map(|(c, _)| *c)
        .collect();
    assert_eq!(revoked, vec![ConnId(3), ConnId(2)]);
    assert_eq!(in_use(&core, "f"), 1);
    core.check_invariants();
}

const LOCKED: &str = "\
SERVER h ANY
VENDOR demo
INCREMENT f demo 1.0 permanent 2
INCREMENT f demo 1.0 permanent 1 HOSTID=0800200005ac
FEATURE onlyhere demo 1.0 permanent 2 HOSTID=0800200005ac
FEATURE u demo 1.0 permanent uncounted HOSTID=0800200005ac
";

fn on_locked_host(user: &str) -> ClientIdentity {
    ClientIdentity {
        hostids: vec!["0800200005AC".into(), "garbage!".into()],
        ..ident(user, "build7")
    }
}

#[test]
fn node_locked_pools_before_floating_ones() {
    let mut core = core_for(LOCKED);
    let _ = core.connect(0, ConnId(1), on_locked_host("joe"));
    hello(&mut core, 2, "ann", "elsewhere");
    let fx = core.checkout(0, ConnId(1), &co("f", "1", 1));
    granted(&fx);
    let usage = core.usage();
    assert_eq!((usage[0].in_use, usage[1].in_use), (0, 1), "{usage:?}");
    // The next one floats.
    granted(&core.checkout(0, ConnId(1), &co("f", "1", 1)));
    assert_eq!(core.usage()[0].in_use, 1);
    // Another host never gets the node-locked seat.
    granted(&core.checkout(0, ConnId(2), &co("f", "1", 1)));
    assert_eq!(
        denied(&core.checkout(0, ConnId(2), &co("f", "1", 1))),
        (-4, 342)
    );
    // A feature locked to another host.
    assert_eq!(
        denied(&core.checkout(0, ConnId(2), &co("onlyhere", "1", 1))).0,
        -9
    );
    granted(&core.checkout(0, ConnId(1), &co("onlyhere", "1", 1)));
    core.check_invariants();
}

#[test]
fn uncounted_pools_grant_whenever_the_host_matches() {
    let mut core = core_for(LOCKED);
    let _ = core.connect(0, ConnId(1), on_locked_host("joe"));
    hello(&mut core, 2, "ann", "elsewhere");
    for _ in 0..50 {
        granted(&core.checkout(0, ConnId(1), &co("u", "1", 3)));
    }
    assert_eq!(denied(&core.checkout(0, ConnId(2), &co("u", "1", 1))).0, -9);
    let status = core.status_reply("u");
    assert_eq!(status.features.len(), 1);
    assert!(!status.features[0].counted);
    assert_eq!(status.features[0].holders.len(), 50);
    let _ = core.disconnect(0, ConnId(1));
    assert_eq!(in_use(&core, "u"), 0);
    core.check_invariants();
}

#[test]
fn dup_group_on_the_line_shares_seats() {
    let mut core = core_for(DEMO);
    for conn in 1..=3 {
        hello(&mut core, conn, "joe", "ws1");
    }
    hello(&mut core, 4, "ann", "ws1");
    hello(&mut core, 5, "bob", "ws1");
    let handles: Vec<u64> = (1..=3)
        .map(|c| granted(&core.checkout(0, ConnId(c), &co("f2", "2", 1))))
        .collect();
    assert_eq!(in_use(&core, "f2"), 1);
    granted(&core.checkout(0, ConnId(4), &co("f2", "2", 1)));
    assert_eq!(in_use(&core, "f2"), 2);
    assert_eq!(
        denied(&core.checkout(0, ConnId(5), &co("f2", "2", 1))).0,
        -4
    );
    // joe's seat stays while any of his checkouts does.
    let _ = core.checkin(
        0,
        ConnId(1),
        &Checkin {
            req: 1,
            handle: handles[0],
        },
    );
    let _ = core.disconnect(0, ConnId(2));
    assert_eq!(in_use(&core, "f2"), 2);
    let _ = core.checkin(
        0,
        ConnId(3),
        &Checkin {
            req: 1,
            handle: handles[2],
        },
    );
    assert_eq!(in_use(&core, "f2"), 1);
    granted(&core.checkout(0, ConnId(5), &co("f2", "2", 1)));
    core.check_invariants();
}

#[test]
fn a_shared_seat_grows_to_the_largest_request() {
    let mut core = core_for(DEMO);
    hello(&mut core, 1, "joe", "ws1");
    hello(&mut core, 2, "joe", "ws1");
    granted(&core.checkout(0, ConnId(1), &co("f2", "2", 1)));
    let h = granted(&core.checkout(0, ConnId(2), &co("f2", "2", 2)));
    assert_eq!(in_use(&core, "f2"), 2);
    let _ = core.checkin(0, ConnId(2), &Checkin { req: 1, handle: h });
    assert_eq!(in_use(&core, "f2"), 1);
    core.check_invariants();
}

#[test]
fn dup_group_from_the_request_and_line_precedence() {
    let text = "\
SERVER h ANY
VENDOR demo
FEATURE free demo 1.0 permanent 1
FEATURE strict demo 1.0 permanent 1 DUP_GROUP=NONE
FEATURE site demo 1.0 permanent 1 DUP_GROUP=SITE
";
    let mut core = core_for(text);
    hello(&mut core, 1, "joe", "ws1");
    hello(&mut core, 2, "joe", "ws1");
    hello(&mut core, 3, "ann", "ws9");
    let uh = |f: &str| Checkout {
        dup_group: MASK_USER | MASK_HOST,
        ..co(f, "1", 1)
    };
    // The application asks for UH sharing: joe shares, ann does not.
    granted(&core.checkout(0, ConnId(1), &uh("free")));
    granted(&core.checkout(0, ConnId(2), &uh("free")));
    assert_eq!(denied(&core.checkout(0, ConnId(3), &uh("free"))).0, -4);
    // Without a mask nobody shares.
    let _ = core.disconnect(0, ConnId(1));
    let _ = core.disconnect(0, ConnId(2));
    hello(&mut core, 1, "joe", "ws1");
    hello(&mut core, 2, "joe", "ws1");
    granted(&core.checkout(0, ConnId(1), &co("free", "1", 1)));
    assert_eq!(
        denied(&core.checkout(0, ConnId(2), &co("free", "1", 1))).0,
        -4
    );
    // DUP_GROUP=NONE on the line wins over the request's mask.
    granted(&core.checkout(0, ConnId(1), &uh("strict")));
    assert_eq!(denied(&core.checkout(0, ConnId(2), &uh("strict"))).0, -4);
    // SITE: everybody shares.
    granted(&core.checkout(0, ConnId(1), &co("site", "1", 1)));
    granted(&core.checkout(0, ConnId(3), &co("site", "1", 1)));
    assert_eq!(in_use(&core, "site"), 1);
    core.check_invariants();
}

#[test]
fn overdraft_allows_extra_seats() {
    let text = "\
SERVER h ANY
VENDOR demo
FEATURE f demo 1.0 permanent 2 OVERDRAFT=1
";
    let mut core = core_for(text);
    for conn in 1..=4 {
        hello(&mut core, conn, &format!("u{conn}"), "ws");
    }
    for conn in 1..=3 {
        granted(&core.checkout(0, ConnId(conn), &co("f", "1", 1)));
    }
    assert_eq!(denied(&core.checkout(0, ConnId(4), &co("f", "1", 1))).0, -4);
    let u = &core.usage()[0];
    assert_eq!((u.issued, u.overdraft, u.in_use), (2, 1, 3));
    let _ = core.disconnect(0, ConnId(1));
    let _ = core.disconnect(0, ConnId(2));
    let _ = core.disconnect(0, ConnId(3));
    // Three at once fit issued + overdraft; four never do.
    granted(&core.checkout(0, ConnId(4), &co("f", "1", 3)));
    let _ = core.disconnect(0, ConnId(4));
    hello(&mut core, 4, "u4", "ws");
    assert_eq!(
        denied(&core.checkout(0, ConnId(4), &co("f", "1", 4))).0,
        -26
    );
    core.check_invariants();
}

const SUITE: &str = "\
SERVER h ANY
VENDOR demo
PACKAGE suite demo 1.0 COMPONENTS=\"comp1 comp2\" OPTIONS=SUITE
FEATURE suite demo 1.0 permanent 2 SUITE_DUP_GROUP=UHD
";

#[test]
fn suite_components_take_a_suite_seat_atomically() {
    let mut core = core_for(SUITE);
    hello(&mut core, 1, "joe", "ws1");
    hello(&mut core, 2, "ann", "ws2");
    hello(&mut core, 3, "bob", "ws3");
    let fx = core.checkout(0, ConnId(1), &co("comp1", "1", 1));
    granted(&fx);
    assert_eq!(
        lines(&fx),
        vec!["OUT: \"comp1\" joe@ws1  ", "OUT: \"suite\" joe@ws1  "]
    );
    // joe's second component shares his suite seat (SUITE_DUP_GROUP=UHD).
    granted(&core.checkout(0, ConnId(1), &co("comp2", "1", 1)));
    assert_eq!(in_use(&core, "suite"), 1);
    granted(&core.checkout(0, ConnId(2), &co("comp1", "1", 1)));
    assert_eq!(in_use(&core, "suite"), 2);
    assert_eq!(in_use(&core, "comp1"), 2);
    // comp2 has a seat left but the suite has none: neither is taken.
    assert_eq!(
        denied(&core.checkout(0, ConnId(3), &co("comp2", "1", 1))).0,
        -4
    );
    assert_eq!(in_use(&core, "comp2"), 1);
    assert_eq!(in_use(&core, "suite"), 2);
    core.check_invariants();

    let fx = core.disconnect(0, ConnId(1));
    assert_eq!(lines(&fx).len(), 4);
    assert_eq!(in_use(&core, "suite"), 1);
    granted(&core.checkout(0, ConnId(3), &co("comp2", "1", 1)));
    core.check_invariants();
}

#[test]
fn suite_without_dup_group_takes_a_seat_per_component() {
    let text = SUITE.replace(" SUITE_DUP_GROUP=UHD", "");
    let mut core = core_for(&text);
    hello(&mut core, 1, "joe", "ws1");
    granted(&core.checkout(0, ConnId(1), &co("comp1", "1", 1)));
    granted(&core.checkout(0, ConnId(1), &co("comp2", "1", 1)));
    assert_eq!(in_use(&core, "suite"), 2);
    assert_eq!(
        denied(&core.checkout(0, ConnId(1), &co("comp1", "1", 1))).0,
        -4
    );
    core.check_invariants();
}

#[test]
fn a_job_that_reconnects_keeps_its_seats() {
    let mut core = core_for(DEMO);
    let job = |user: &str| ClientIdentity {
        job: 42,
        ..ident(user, "ws1")
    };
    // A connection of the job that holds nothing is left alone.
    let _ = core.connect(0, ConnId(7), job("joe"));
    let fx = core.connect(0, ConnId(1), job("joe"));
    assert!(fx.close.is_empty());
    let h1 = granted(&core.checkout(0, ConnId(1), &co("f1", "1", 2)));
    let h2 = granted(&core.checkout(0, ConnId(1), &co("f2", "1", 1)));

    // Same job id, another user: no reattach.
    let fx = core.connect(5, ConnId(9), job("mallory"));
    assert!(fx.close.is_empty());
    assert!(matches!(&fx.replies[0].1, Message::Welcome(w) if w.held.is_empty()));

    let fx = core.connect(10, ConnId(2), job("joe"));
    let Message::Welcome(w) = &fx.replies[0].1 else {
        panic!("{fx:?}")
    };
    let held: Vec<(u64, &str, u32)> = w
        .held
        .iter()
        .map(|g| (g.handle, g.feature.as_str(), g.count))
        .collect();
    assert_eq!(held, vec![(h1, "f1", 2), (h2, "f2", 1)]);
    assert_eq!(
        fx.close,
        vec![Close {
            conn: ConnId(1),
            reason: None
        }]
    );
    // The old socket closing costs nothing.
    let fx = core.disconnect(11, ConnId(1));
    assert!(fx.log.is_empty());
    assert_eq!(in_use(&core, "f1"), 2);
    assert_eq!(core.handles_of(ConnId(2)), vec![h1, h2]);
    // The new connection can check them in.
    let fx = core.checkin(12, ConnId(2), &Checkin { req: 1, handle: h1 });
    assert!(matches!(fx.replies[0].1, Message::CheckedIn(_)));
    core.check_invariants();
}

#[test]
fn silent_connections_lose_their_seats() {
    let mut core = core_for(DEMO);
    core.config.timeout_ms = 1000;
    hello(&mut core, 1, "joe", "ws1");
    hello(&mut core, 2, "ann", "ws2");
    assert_eq!(
        core.next_deadline(),
        None,
        "nothing held, nothing to time out"
    );
    granted(&core.checkout(100, ConnId(1), &co("f1", "1", 1)));
    granted(&core.checkout(200, ConnId(2), &co("f1", "1", 1)));
    assert_eq!(core.next_deadline(), Some(1100));
    // Early ticks do nothing.
    let (fx, next) = core.tick(1099);
    assert!(fx.log.is_empty() && fx.close.is_empty());
    assert_eq!(next, Some(1100));
    // joe's heartbeat moves his deadline.
    let fx = core.heartbeat(
        900,
        ConnId(1),
        &Heartbeat {
            seq: 5,
            idle: false,
        },
    );
    assert!(matches!(
        fx.replies.as_slice(),
        [(_, Message::HeartbeatAck(Heartbeat { seq: 5, .. }))]
    ));
    assert_eq!(core.next_deadline(), Some(1200));
    let (fx, next) = core.tick(1200);
    assert_eq!(lines(&fx), vec!["IN: \"f1\" ann@ws2  (INACTIVE)"]);
    assert_eq!(
        fx.close,
        vec![Close {
            conn: ConnId(2),
            reason: None
        }]
    );
    assert_eq!(next, Some(1900));
    let (fx, next) = core.tick(5000);
    assert_eq!(lines(&fx), vec!["IN: \"f1\" joe@ws1  (INACTIVE)"]);
    assert_eq!(next, None);
    assert_eq!(in_use(&core, "f1"), 0);
    core.check_invariants();
}

fn admin(op: u8) -> AdminRequest {
    AdminRequest {
        op,
        ..AdminRequest::default()
    }
}

fn admin_reply(fx: &Effects, conn: ConnId) -> (i32, String) {
    fx.replies
        .iter()
        .find_map(|(c, m)| match m {
            Message::AdminReply(r) if *c == conn => Some((r.code, r.text.clone())),
            _ => None,
        })
        .expect("an AdminReply")
}

#[test]
fn lmremove_by_user_and_by_handle() {
    let mut core = core_for(DEMO);
    hello(&mut core, 1, "joe", "ws1");
    hello(&mut core, 2, "ann", "ws2");
    let tool = ConnId(99);
    let j1 = granted(&core.checkout(0, ConnId(1), &co("f1", "1", 1)));
    let j2 = granted(&core.checkout(0, ConnId(1), &co("f2", "1", 1)));
    let a1 = granted(&core.checkout(0, ConnId(2), &co("f1", "1", 1)));

    let fx = core.admin(
        0,
        tool,
        &AdminRequest {
            feature: "f1".into(),
            user: "joe".into(),
            host: "WS1".into(),
            display: ":0".into(),
            ..admin(admin_op::REMOVE_USER)
        },
    );
    assert_eq!(admin_reply(&fx, tool).0, 0);
    assert_eq!(lines(&fx), vec!["IN: \"f1\" joe@ws1  (REMOVED)"]);
    assert!(fx
        .replies
        .iter()
        .any(|(c, m)| *c == ConnId(1) && matches!(m, Message::Revoked(r) if r.handle == j1)));
    assert_eq!(core.handles_of(ConnId(1)), vec![j2]);

    let fx = core.admin(
        0,
        tool,
        &AdminRequest {
            handle: a1,
            ..admin(admin_op::REMOVE_HANDLE)
        },
    );
    assert_eq!(admin_reply(&fx, tool).0, 0);
    assert!(fx
        .replies
        .iter()
        .any(|(c, m)| *c == ConnId(2) && matches!(m, Message::Revoked(r) if r.handle == a1)));
    assert_eq!(in_use(&core, "f1"), 0);

    let fx = core.admin(
        0,
        tool,
        &AdminRequest {
            handle: a1,
            ..admin(admin_op::REMOVE_HANDLE)
        },
    );
    assert_eq!(admin_reply(&fx, tool).0, lmerr::LM_NEVERCHECKOUT);
    let fx = core.admin(
        0,
        tool,
        &AdminRequest {
            vendor: "other".into(),
            ..admin(admin_op::REMOVE_HANDLE)
        },
    );
    assert_eq!(admin_reply(&fx, tool).0, lmerr::LM_NOSERVSUPP);
    let fx = core.admin(0, tool, &admin(admin_op::SHUTDOWN));
    assert!(fx.shutdown);
    assert_eq!(admin_reply(&fx, tool).0, 0);
    core.check_invariants();
}

#[test]
fn shutdown_logs_every_seat() {
    let mut core = core_for(DEMO);
    hello(&mut core, 1, "joe", "ws1");
    hello(&mut core, 2, "ann", "ws2");
    granted(&core.checkout(0, ConnId(1), &co("f1", "1", 1)));
    granted(&core.checkout(0, ConnId(2), &co("f2", "1", 1)));
    let fx = core.shutdown();
    assert_eq!(
        lines(&fx),
        vec![
            "IN: \"f1\" joe@ws1  (SHUTDOWN)",
            "IN: \"f2\" ann@ws2  (SHUTDOWN)"
        ]
    );
    assert_eq!(core.holdings(), 0);
    core.check_invariants();
}

#[test]
fn status_lists_pools_and_holders() {
    let mut core = core_for(DEMO);
    core.config.host = "srv".into();
    core.set_port(4000);
    hello(&mut core, 1, "joe", "ws1");
    let h = granted(&core.checkout(5_000_000, ConnId(1), &co("f1", "1", 2)));
    let fx = core.status(ConnId(1), &StatusQuery::default());
    let [(_, Message::Status(s))] = fx.replies.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(
        (s.server.as_str(), s.host.as_str(), s.port),
        ("demo", "srv", 4000)
    );
    let summary: Vec<(&str, &str, bool, u32, u32, &str)> = s
        .features
        .iter()
        .map(|f| {
            (
                f.name.as_str(),
                f.version.as_str(),
                f.counted,
                f.issued,
                f.in_use,
                f.expiry.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("f1", "1.0", true, 4, 2, "permanent"),
            ("f2", "2.5", true, 2, 0, "permanent")
        ]
    );
    assert_eq!(
        s.features[0].holders,
        vec![Holder {
            user: "joe".into(),
            host: "ws1".into(),
            display: ":0".into(),
            version: "1.0".into(),
            handle: h,
            started: 5000,
            count: 2,
            pid: 1,
            requested_version: "1".into(),
            ..Holder::default()
        }]
    );
    assert_eq!(core.status_reply("f2").features.len(), 1);
    assert!(core.status_reply("nope").features.is_empty());
}

#[test]
fn protocol_misuse_closes_the_connection() {
    let mut core = core_for(DEMO);
    let c = ConnId(1);
    let fx = core.handle_message(0, c, Message::Checkout(co("f1", "1", 1)));
    assert_eq!(fx.close.len(), 1);
    assert!(fx.replies.is_empty());
    // Status and admin requests need no Hello.
    let fx = core.handle_message(0, c, Message::StatusQuery(StatusQuery::default()));
    assert!(matches!(fx.replies[0].1, Message::Status(_)));
    let fx = core.handle_message(
        0,
        c,
        Message::Hello(wire::Hello {
            identity: ident("joe", "ws1"),
        }),
    );
    assert!(matches!(fx.replies[0].1, Message::Welcome(_)));
    let fx = core.handle_message(
        0,
        c,
        Message::Hello(wire::Hello {
            identity: ident("joe", "ws1"),
        }),
    );
    assert_eq!(fx.close.len(), 1);
    let fx = core.handle_message(0, c, Message::Welcome(Welcome::default()));
    assert_eq!(fx.close.len(), 1);
    let fx = core.handle_message(0, c, Message::Checkout(co("f1", "1", 1)));
    granted(&fx);
}

#[test]
fn client_hostids_are_parsed() {
    let who = host_identity(&ClientIdentity {
        hostids: vec![
            "0800200005ac".into(),
            "INTERNET=10.1.2.3".into(),
            "DISK_SERIAL_NUM=abc".into(),
            "not a hostid".into(),
        ],
        ..ident("joe", "ws1")
    });
    assert_eq!(who.hex_ids, vec![0x0800_2000_05ac]);
    assert_eq!(who.addresses, vec![std::net::Ipv4Addr::new(10, 1, 2, 3)]);
    assert_eq!(who.others.len(), 1);
    assert_eq!((who.user.as_str(), who.hostname.as_str()), ("joe", "ws1"));
}

mod property {
    use super::*;
    use proptest::prelude::*;

    const LICENSE: &str = "\
SERVER h ANY
VENDOR demo
FEATURE f1 demo 1.0 permanent 3
FEATURE f2 demo 2.0 permanent 2 DUP_GROUP=UH
FEATURE f3 demo 1.0 permanent 2 OVERDRAFT=1
INCREMENT f4 demo 1.0 permanent 1
INCREMENT f4 demo 1.0 permanent 2 HOSTID=0800200005ac
PACKAGE suite demo 1.0 COMPONENTS=\"c1 c2\" OPTIONS=SUITE
FEATURE suite demo 1.0 permanent 2 SUITE_DUP_GROUP=UH
";
    const FEATURES: [&str; 8] = ["f1", "f2", "f3", "f4", "c1", "c2", "suite", "f9"];
    const USERS: [&str; 3] = ["joe", "ann", "bob"];

    #[derive(Debug, Clone)]
    enum Op {
        Connect {
            conn: u64,
            user: usize,
            job: u64,
        },
        Checkout {
            conn: u64,
            feature: usize,
            count: u32,
            mask: u8,
        },
        Checkin {
            conn: u64,
            pick: usize,
        },
        Disconnect {
            conn: u64,
        },
        Heartbeat {
            conn: u64,
        },
        Advance {
            ms: u64,
        },
        Remove {
            pick: usize,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u64..6, 0usize..3, 0u64..3).prop_map(|(conn, user, job)| Op::Connect {
                conn,
                user,
                job
            }),
            6 => (0u64..6, 0usize..8, 1u32..4, prop_oneof![Just(0u8), Just(3u8), Just(0x10u8)])
                .prop_map(|(conn, feature, count, mask)| Op::Checkout {
                    conn,
                    feature,
                    count,
                    mask
                }),
            2 => (0u64..6, 0usize..8).prop_map(|(conn, pick)| Op::Checkin { conn, pick }),
            1 => (0u64..6).prop_map(|conn| Op::Disconnect { conn }),
            1 => (0u64..6).prop_map(|conn| Op::Heartbeat { conn }),
            1 => (0u64..600).prop_map(|ms| Op::Advance { ms }),
            1 => (0usize..8).prop_map(|pick| Op::Remove { pick }),
        ]
    }

    /// Plays the event loop's part: connections the core closes are gone.
    fn absorb(core: &mut Core, now: u64, fx: Effects, live: &mut BTreeSet<u64>) {
        for c in fx.close {
            live.remove(&c.conn.0);
            let fx = core.disconnect(now, c.conn);
            assert!(fx.replies.is_empty());
            assert!(core.handles_of(c.conn).is_empty());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn seats_never_exceed_the_licenses(ops in proptest::collection::vec(op(), 1..120)) {
            let mut core = core_for(LICENSE);
            core.config.timeout_ms = 1000;
            let mut now = 0u64;
            let mut live: BTreeSet<u64> = BTreeSet::new();
            for op in ops {
                match op {
                    Op::Connect { conn, user, job } => {
                        if !live.contains(&conn) {
                            let id = ClientIdentity {
                                job,
                                hostids: if user == 0 { vec!["0800200005ac".into()] } else { vec![] },
                                ..ident(USERS[user], "ws")
                            };
                            let fx = core.connect(now, ConnId(conn), id);
                            live.insert(conn);
                            absorb(&mut core, now, fx, &mut live);
                        }
                    }
                    Op::Checkout { conn, feature, count, mask } => {
                        let req = Checkout { dup_group: mask, ..co(FEATURES[feature], "1", count) };
                        let fx = core.handle_message(now, ConnId(conn), Message::Checkout(req));
                        if !live.contains(&conn) {
                            prop_assert_eq!(fx.close.len(), 1);
                        }
                        for (_, m) in &fx.replies {
                            prop_assert!(matches!(m, Message::Granted(_) | Message::Denied(_)));
                        }
                        absorb(&mut core, now, fx, &mut live);
                    }
                    Op::Checkin { conn, pick } => {
                        let handles = core.handles_of(ConnId(conn));
                        if let Some(&handle) = handles.get(pick % handles.len().max(1)) {
                            let fx = core.checkin(now, ConnId(conn), &Checkin { req: 0, handle });
                            prop_assert!(matches!(fx.replies[0].1, Message::CheckedIn(_)));
                            prop_assert!(!core.handles_of(ConnId(conn)).contains(&handle));
                        }
                    }
                    Op::Disconnect { conn } => {
                        live.remove(&conn);
                        let _ = core.disconnect(now, ConnId(conn));
                        prop_assert!(core.handles_of(ConnId(conn)).is_empty());
                        prop_assert!(!core.is_connected(ConnId(conn)));
                    }
                    Op::Heartbeat { conn } => {
                        if live.contains(&conn) {
                            let _ = core.heartbeat(now, ConnId(conn), &Heartbeat { seq: 1, idle: false });
                        }
                    }
                    Op::Advance { ms } => {
                        now += ms;
                        if core.next_deadline().is_some_and(|d| d <= now) {
                            let (fx, next) = core.tick(now);
                            prop_assert!(next.is_none_or(|d| d > now));
                            absorb(&mut core, now, fx, &mut live);
                        }
                    }
                    Op::Remove { pick } => {
                        let all: Vec<u64> = live.iter().flat_map(|c| core.handles_of(ConnId(*c))).collect();
                        if let Some(&handle) = all.get(pick % all.len().max(1)) {
                            let fx = core.admin(now, ConnId(1000), &AdminRequest { handle, ..admin(admin_op::REMOVE_HANDLE) });
                            prop_assert_eq!(admin_reply(&fx, ConnId(1000)).0, 0);
                        }
                    }
                }
                core.check_invariants();
                for u in core.usage() {
                    if u.counted {
                        prop_assert!(u.in_use <= u.issued + u.overdraft, "{:?}", u);
                    }
                }
            }
            for conn in std::mem::take(&mut live) {
                let _ = core.disconnect(now, ConnId(conn));
            }
            prop_assert_eq!(core.holdings(), 0);
            prop_assert!(core.usage().iter().all(|u| u.in_use == 0));
            prop_assert_eq!(core.next_deadline(), None);
            core.check_invariants();
        }
    }
}

fn pools_of(text: &str) -> PoolSet {
    let file = grammar::parse_license("reread.lic", text);
    assert!(!file.has_errors(), "{:?}", file.diagnostics);
    build_pools(&file, &HashMap::new(), today())
}

#[test]
fn reread_keeps_holders_and_applies_new_counts() {
    let mut core = core_for(DEMO);
    for (i, user) in ["a", "b", "c"].iter().enumerate() {
        hello(&mut core, i as u64 + 1, user, "h");
        granted(&core.checkout(0, ConnId(i as u64 + 1), &co("f1", "1.0", 1)));
    }
    // The count drops to 2 while 3 are in use: nobody loses a seat.
    let fewer = DEMO.replace("permanent 4", "permanent 2");
    core.reload(pools_of(&fewer), today(), BTreeMap::new());
    assert_eq!(core.holdings(), 3);
    let f1 = core
        .usage()
        .into_iter()
        .find(|u| u.feature == "f1")
        .unwrap();
    assert_eq!((f1.issued, f1.in_use), (2, 3));
    hello(&mut core, 9, "newcomer", "h");
    assert_eq!(
        denied(&core.checkout(0, ConnId(9), &co("f1", "1.0", 1))).0,
        lmerr::LM_MAXUSERS
    );
    // Two leave: one seat is free under the new count.
    let _ = core.disconnect(0, ConnId(1));
    let _ = core.disconnect(0, ConnId(2));
    granted(&core.checkout(0, ConnId(9), &co("f1", "1.0", 1)));
    assert_eq!(
        denied(&core.checkout(0, ConnId(9), &co("f1", "1.0", 1))).0,
        lmerr::LM_MAXUSERS
    );

    // More licenses apply at once.
    let more = DEMO.replace("permanent 4", "permanent 10");
    core.reload(pools_of(&more), today(), BTreeMap::new());
    granted(&core.checkout(0, ConnId(9), &co("f1", "1.0", 1)));
}

#[test]
fn reread_without_a_feature_stops_new_checkouts_but_not_holders() {
    let mut core = core_for(DEMO);
    hello(&mut core, 1, "a", "h");
    let handle = granted(&core.checkout(0, ConnId(1), &co("f2", "1.0", 1)));
    let without_f2 = DEMO
        .lines()
        .filter(|l| !l.contains("f2"))
        .collect::<Vec<_>>()
        .join("\n");
    core.reload(pools_of(&without_f2), today(), BTreeMap::new());
    assert_eq!(core.holdings(), 1);
    assert!(core
        .status_reply("f2")
        .features
        .iter()
        .any(|f| f.in_use == 1));
    hello(&mut core, 2, "b", "h");
    assert_eq!(
        denied(&core.checkout(0, ConnId(2), &co("f2", "1.0", 1))).0,
        lmerr::LM_NOFEATURE
    );
    let fx = core.checkin(0, ConnId(1), &Checkin { req: 1, handle });
    assert!(
        matches!(fx.replies.as_slice(), [(_, Message::CheckedIn(_))]),
        "{fx:?}"
    );
    assert_eq!(core.holdings(), 0);
    // A second reread drops the emptied pool.
    core.reload(pools_of(&without_f2), today(), BTreeMap::new());
    assert!(core.status_reply("f2").features.is_empty());
}

fn core_with_options(license: &str, options: &str) -> Core {
    let file = grammar::parse_license("test.lic", license);
    assert!(!file.has_errors(), "{:?}", file.diagnostics);
    let pools = build_pools(&file, &HashMap::new(), today());
    let (opts, diags) = grammar::options::Options::parse("demo.opt", options);
    assert!(diags.is_empty(), "{diags:?}");
    let mut config = Config::new("demo");
    config.options = std::sync::Arc::new(opts);
    Core::new(pools, today(), config)
}

#[test]
fn options_exclude_and_include() {
    let opts = "GROUP hackers bob alice\nINCLUDE f1 GROUP hackers\nEXCLUDE f1 USER bob\n";
    let mut core = core_with_options(DEMO, opts);
    hello(&mut core, 1, "bob", "h");
    hello(&mut core, 2, "alice", "h");
    hello(&mut core, 3, "carol", "h");
    assert_eq!(
        denied(&core.checkout(0, ConnId(1), &co("f1", "1.0", 1))),
        (lmerr::LM_FEATEXCLUDE, 0)
    );
    granted(&core.checkout(0, ConnId(2), &co("f1", "1.0", 1)));
    assert_eq!(
        denied(&core.checkout(0, ConnId(3), &co("f1", "1.0", 1))).0,
        lmerr::LM_FEATNOTINCLUDE
    );
    // Rules name f1 only: f2 is open to everyone.
    granted(&core.checkout(0, ConnId(1), &co("f2", "1.0", 1)));
}

#[test]
fn options_max_caps_a_group() {
    let mut core = core_with_options(DEMO, "GROUP team a b\nMAX 2 f1 GROUP team\n");
    hello(&mut core, 1, "a", "h");
    hello(&mut core, 2, "b", "h");
    hello(&mut core, 3, "c", "h");
    let first = granted(&core.checkout(0, ConnId(1), &co("f1", "1.0", 1)));
    granted(&core.checkout(0, ConnId(2), &co("f1", "1.0", 1)));
    assert_eq!(
        denied(&core.checkout(0, ConnId(2), &co("f1", "1.0", 1))).0,
        lmerr::LM_MAXLIMIT
    );
    granted(&core.checkout(0, ConnId(3), &co("f1", "1.0", 1)));
    // A checkin makes room under the cap again.
    let _ = core.checkin(
        0,
        ConnId(1),
        &Checkin {
            req: 1,
            handle: first,
        },
    );
    granted(&core.checkout(0, ConnId(2), &co("f1", "1.0", 1)));
}

#[test]
fn options_reserve_keeps_seats_for_their_owner() {
    let mut core = core_with_options(DEMO, "RESERVE 2 f1 USER alice\n");
    for (i, user) in ["bob", "carol", "dave", "alice"].iter().enumerate() {
        hello(&mut core, i as u64 + 1, user, "h");
    }
    granted(&core.checkout(0, ConnId(1), &co("f1", "1.0", 1)));
    granted(&core.checkout(0, ConnId(2), &co("f1", "1.0", 1)));
    // Two seats are free, but both are alice's.
    assert_eq!(
        denied(&core.checkout(0, ConnId(3), &co("f1", "1.0", 1))).0,
        lmerr::LM_RESVFOROTHERS
    );
    granted(&core.checkout(0, ConnId(4), &co("f1", "1.0", 1)));
    granted(&core.checkout(0, ConnId(4), &co("f1", "1.0", 1)));
    assert_eq!(
        denied(&core.checkout(0, ConnId(4), &co("f1", "1.0", 1))).0,
        lmerr::LM_MAXUSERS
    );
    // When alice leaves, her reserved seats are hers again, not dave's.
    let _ = core.disconnect(0, ConnId(4));
    assert_eq!(
        denied(&core.checkout(0, ConnId(3), &co("f1", "1.0", 1))).0,
        lmerr::LM_RESVFOROTHERS
    );
}

#[test]
fn options_linger_keeps_a_checked_in_seat_for_a_while() {
    let mut core = core_with_options(DEMO, "LINGER f2 60\n");
    hello(&mut core, 1, "a", "h");
    hello(&mut core, 2, "b", "h");
    hello(&mut core, 3, "c", "h");
    let first = granted(&core.checkout(0, ConnId(1), &co("f2", "1.0", 1)));
    granted(&core.checkout(0, ConnId(2), &co("f2", "1.0", 1)));
    let fx = core.checkin(
        1_000,
        ConnId(1),
        &Checkin {
            req: 1,
            handle: first,
        },
    );
    assert!(matches!(
        fx.replies.as_slice(),
        [(_, Message::CheckedIn(_))]
    ));
    assert!(
        fx.log.is_empty(),
        "IN is logged when the seat is really freed"
    );
    assert_eq!(
        denied(&core.checkout(2_000, ConnId(3), &co("f2", "1.0", 1))).0,
        lmerr::LM_MAXUSERS
    );
    // lmremove cannot take a lingering seat.
    let fx = core.admin(
        2_000,
        ConnId(3),
        &AdminRequest {
            op: admin_op::REMOVE_HANDLE,
            handle: first,
            ..Default::default()
        },
    );
    assert!(
        matches!(fx.replies.as_slice(), [(_, Message::AdminReply(r))] if r.code == lmerr::LM_REMOVE_LINGER)
    );
    assert_eq!(core.next_deadline(), Some(61_000));
    let (fx, _) = core.tick(61_000);
    assert_eq!(fx.log.len(), 1, "{fx:?}");
    granted(&core.checkout(61_000, ConnId(3), &co("f2", "1.0", 1)));
    // An application that exits lingers too; f1 has no LINGER and is freed at once.
    let held = granted(&core.checkout(62_000, ConnId(2), &co("f1", "1.0", 1)));
    let _ = core.disconnect(62_000, ConnId(2));
    assert_eq!(
        core.holdings(),
        2,
        "f2 of b lingers, f1 of b is gone: {held}"
    );
}

fn queued(core: &mut Core, conn: u64, feature: &str) -> Effects {
    core.checkout(
        0,
        ConnId(conn),
        &Checkout {
            queue: true,
            ..co(feature, "1.0", 1)
        },
    )
}

#[test]
fn queued_checkouts_are_granted_in_order_when_seats_free() {
    let mut core = core_for(DEMO);
    for (i, user) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        hello(&mut core, i as u64 + 1, user, "h");
    }
    let a = granted(&core.checkout(0, ConnId(1), &co("f2", "1.0", 1)));
    let b = granted(&core.checkout(0, ConnId(2), &co("f2", "1.0", 1)));
    assert_eq!(denied(&queued(&mut core, 3, "f2")).0, lmerr::LM_FEATQUEUE);
    assert_eq!(denied(&queued(&mut core, 4, "f2")).0, lmerr::LM_FEATQUEUE);
    // Someone who does not want to wait hears that others are waiting.
    assert_eq!(
        denied(&core.checkout(0, ConnId(5), &co("f2", "1.0", 1))),
        (lmerr::LM_USERSQUEUED, 332)
    );
    // a leaves: c, first in line, gets the seat, with its own request number.
    let fx = core.checkin(0, ConnId(1), &Checkin { req: 1, handle: a });
    let grants: Vec<ConnId> = fx
        .replies
        .iter()
        .filter_map(|(c, m)| matches!(m, Message::Granted(g) if g.req == 7).then_some(*c))
        .collect();
    assert_eq!(grants, vec![ConnId(3)]);
    // d gives up waiting (disconnects); when b leaves nobody is waiting.
    let _ = core.disconnect(0, ConnId(4));
    let fx = core.checkin(0, ConnId(2), &Checkin { req: 2, handle: b });
    assert!(
        !fx.replies
            .iter()
            .any(|(_, m)| matches!(m, Message::Granted(_))),
        "{fx:?}"
    );
    granted(&core.checkout(0, ConnId(5), &co("f2", "1.0", 1)));
}

fn beat(core: &mut Core, now: u64, conn: u64, idle: bool) {
    let fx = core.heartbeat(now, ConnId(conn), &Heartbeat { seq: 1, idle });
    assert!(matches!(fx.replies[0].1, Message::HeartbeatAck(_)));
}

fn revoked(fx: &Effects) -> Vec<(ConnId, u64, i32)> {
    fx.replies
        .iter()
        .filter_map(|(c, m)| match m {
            Message::Revoked(r) => Some((*c, r.handle, r.code)),
            _ => None,
        })
        .collect()
}

#[test]
fn options_timeout_reclaims_seats_of_idle_users_only() {
    let mut core = core_with_options(DEMO, "TIMEOUT f1 60\n");
    core.config.min_timeout_secs = 30;
    core.config.timeout_ms = 1_000_000;
    hello(&mut core, 1, "idle", "h");
    hello(&mut core, 2, "busy", "h");
    let idle = granted(&core.checkout(0, ConnId(1), &co("f1", "1.0", 1)));
    let busy = granted(&core.checkout(0, ConnId(2), &co("f1", "1.0", 1)));
    let f2 = granted(&core.checkout(0, ConnId(1), &co("f2", "2.5", 1)));
    assert_eq!(core.next_deadline(), Some(60_000));
    // Both keep heart-beating; only one says its user is at work.
    for t in (10_000..=70_000).step_by(10_000) {
        beat(&mut core, t, 1, true);
        beat(&mut core, t, 2, false);
        core.check_invariants();
    }
    let (fx, _) = core.tick(60_000);
    assert_eq!(
        revoked(&fx),
        vec![(ConnId(1), idle, lmerr::LM_SERVER_REMOVED)]
    );
    assert_eq!(lines(&fx), vec!["IN: \"f1\" idle@h  (INACTIVE)"]);
    assert!(fx.close.is_empty(), "the connection stays");
    // f2 has no TIMEOUT: kept; the busy user keeps f1.
    assert_eq!(core.handles_of(ConnId(1)), vec![f2]);
    assert_eq!(core.handles_of(ConnId(2)), vec![busy]);
    assert_eq!(core.next_deadline(), Some(130_000));
    core.check_invariants();
}

#[test]
fn options_timeout_is_raised_to_the_vendor_minimum_and_timeoutall_applies() {
    let mut core = core_with_options(DEMO, "TIMEOUTALL 10\n");
    core.config.min_timeout_secs = 900;
    hello(&mut core, 1, "u", "h");
    granted(&core.checkout(0, ConnId(1), &co("f2", "2.5", 1)));
    let due = core.timeouts.first().map(|(at, _)| *at);
    assert_eq!(due, Some(900_000));
}

#[test]
fn options_max_overdraft_limits_the_line_overdraft() {
    let lic = "FEATURE f3 demo 1.0 permanent 2 OVERDRAFT=3\n";
    let mut core = core_with_options(lic, "MAX_OVERDRAFT f3 1\n");
    for conn in 1..=4 {
        hello(&mut core, conn, &format!("u{conn}"), "h");
    }
    for conn in 1..=3 {
        granted(&core.checkout(0, ConnId(conn), &co("f3", "1.0", 1)));
    }
    assert_eq!(
        denied(&core.checkout(0, ConnId(4), &co("f3", "1.0", 1))).0,
        -4
    );
    // Without the option the line's OVERDRAFT holds.
    let mut core = core_for(lic);
    for conn in 1..=5 {
        hello(&mut core, conn, &format!("u{conn}"), "h");
        granted(&core.checkout(0, ConnId(conn), &co("f3", "1.0", 1)));
    }
    core.check_invariants();
}

#[test]
fn user_based_serves_included_users_one_seat_each() {
    let lic = "FEATURE ub demo 1.0 permanent 2 USER_BASED\n";
    let mut core = core_with_options(lic, "INCLUDE ub USER ann\nINCLUDE ub USER bob\n");
    assert!(core.option_problems().is_empty());
    hello(&mut core, 1, "ann", "h1");
    hello(&mut core, 2, "ann", "h2");
    hello(&mut core, 3, "bob", "h1");
    hello(&mut core, 4, "eve", "h1");
    granted(&core.checkout(0, ConnId(1), &co("ub", "1.0", 1)));
    granted(&core.checkout(0, ConnId(2), &co("ub", "1.0", 3)));
    assert_eq!(in_use(&core, "ub"), 1, "one seat for ann however often");
    granted(&core.checkout(0, ConnId(3), &co("ub", "1.0", 1)));
    assert_eq!(in_use(&core, "ub"), 2);
    assert_eq!(
        denied(&core.checkout(0, ConnId(4), &co("ub", "1.0", 1))).0,
        lmerr::LM_FEATNOTINCLUDE
    );
    core.check_invariants();
}

#[test]
fn user_based_with_too_many_included_users_is_refused_with_minus_84() {
    let lic = "FEATURE ub demo 1.0 permanent 1 USER_BASED\nFEATURE hb demo 1.0 permanent 5 HOST_BASED=1\n";
    let opts = "GROUP team ann bob\nINCLUDE ub GROUP team\nHOST_GROUP labs h1 h2\nINCLUDE hb HOST_GROUP labs\n";
    let mut core = core_with_options(lic, opts);
    let problems = core.option_problems();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("ub is USER_BASED"), "{problems:?}");
    assert!(problems[1].contains("INCLUDEs 2 hosts but the license allows 1"));
    hello(&mut core, 1, "ann", "h1");
    assert_eq!(
        denied(&core.checkout(0, ConnId(1), &co("ub", "1.0", 1))).0,
        lmerr::LM_USER_BASED
    );
    assert_eq!(
        denied(&core.checkout(0, ConnId(1), &co("hb", "1.0", 1))).0,
        lmerr::LM_USER_BASED
    );
    // Fixing the options file (lmreread) makes the feature usable.
    core.set_options(std::sync::Arc::new(
        grammar::options::Options::parse("demo.opt", "INCLUDE ub USER ann\n").0,
    ));
    granted(&core.checkout(0, ConnId(1), &co("ub", "1.0", 1)));
}

#[test]
fn nolog_classes_of_log_lines() {
    use grammar::options::LogClass;
    let mut core = core_for(DEMO);
    hello(&mut core, 1, "u", "h");
    let fx = core.checkout(0, ConnId(1), &co("f1", "1.0", 1));
    assert_eq!(fx.log[0].class(), Some(LogClass::Out));
    let fx = core.checkout(0, ConnId(1), &co("nope", "1.0", 1));
    assert_eq!(fx.log[0].class(), Some(LogClass::Unsupported));
    let fx = core.disconnect(0, ConnId(1));
    assert_eq!(fx.log[0].class(), Some(LogClass::In));
    assert_eq!(LogEvent::Note("x".into()).class(), None);
    let (opts, _) = grammar::options::Options::parse("o", "NOLOG OUT\nNOLOG QUEUED\n");
    assert!(opts.nolog(LogClass::Out) && opts.nolog(LogClass::Queued));
    assert!(!opts.nolog(LogClass::In));
}

const BORROWABLE: &str = "\
FEATURE bf demo 1.0 permanent 3 BORROW=48
FEATURE nb demo 1.0 permanent 3
";

/// Unix seconds of `now` ms plus `hours`.
fn until(now: u64, hours: u64) -> u64 {
    now / 1000 + hours * 3600
}

fn borrow(core: &mut Core, now: u64, conn: u64, feature: &str, hours: u64) -> Effects {
    let req = Checkout {
        borrow_until: until(now, hours),
        return_hash: Blob(wire::borrow_key::return_hash(&SECRET).to_vec()),
        ..co(feature, "1.0", 1)
    };
    core.checkout(now, ConnId(conn), &req)
}

#[test]
fn borrow_rules_line_period_lowwater_and_include_borrow() {
    let now = 1_700_000_000_000;
    let opts = "BORROW_LOWWATER bf 1\nMAX_BORROW_HOURS bf 24\nEXCLUDE_BORROW bf USER eve\n";
    let mut core = core_with_options(BORROWABLE, opts);
    for (conn, user) in [(1, "a"), (2, "b"), (3, "c"), (4, "eve")] {
        core.connect(now, ConnId(conn), ident(user, "lap"))
            .replies
            .clear();
    }
    assert_eq!(
        denied(&borrow(&mut core, now, 1, "nb", 1)).0,
        lmerr::LM_NOBORROWSUPP
    );
    assert_eq!(
        denied(&borrow(&mut core, now, 1, "bf", 25)).0,
        lmerr::LM_BORROW_TOOLONG
    );
    assert_eq!(
        denied(&borrow(&mut core, now, 4, "bf", 1)).0,
        lmerr::LM_FEATEXCLUDE
    );
    let fx = borrow(&mut core, now, 1, "bf", 24);
    let h1 = granted(&fx);
    assert!(
        matches!(&fx.borrows[..], [BorrowChange::Add(r)] if r.handle == h1 && r.until_ms == until(now, 24) * 1000)
    );
    granted(&borrow(&mut core, now, 2, "bf", 2));
    // Two of three are borrowed; the last one may not be (LOWWATER 1)...
    assert_eq!(
        denied(&borrow(&mut core, now, 3, "bf", 2)).0,
        lmerr::LM_NONETOBORROW
    );
    // ... but it can still be checked out normally.
    granted(&core.checkout(now, ConnId(3), &co("bf", "1.0", 1)));
    core.check_invariants();
}

#[test]
fn a_borrowed_seat_outlives_checkin_and_disconnect_until_returned_or_expired() {
    let now = 1_700_000_000_000;
    let mut core = core_for(BORROWABLE);
    core.connect(now, ConnId(1), ident("joe", "lap"))
        .replies
        .clear();
    let h = granted(&borrow(&mut core, now, 1, "bf", 2));
    let fx = core.checkin(now, ConnId(1), &Checkin { req: 1, handle: h });
    assert!(matches!(fx.replies[0].1, Message::CheckedIn(_)));
    assert!(fx.borrows.is_empty() && fx.log.is_empty(), "{fx:?}");
    let fx = core.disconnect(now, ConnId(1));
    assert!(fx.borrows.is_empty());
    assert_eq!(in_use(&core, "bf"), 1);
    core.check_invariants();
    // lmremove refuses a borrowed seat, as it does a lingering one.
    let fx = core.admin(
        now,
        ConnId(9),
        &AdminRequest {
            handle: h,
            ..admin(admin_op::REMOVE_HANDLE)
        },
    );
    assert_eq!(admin_reply(&fx, ConnId(9)).0, lmerr::LM_REMOVE_LINGER);
    assert_eq!(in_use(&core, "bf"), 1);
    // lmdown needs -force while seats are borrowed.
    let fx = core.admin(now, ConnId(9), &admin(admin_op::SHUTDOWN));
    assert_eq!(admin_reply(&fx, ConnId(9)).0, lmerr::LM_BORROW_DOWN);
    assert!(!fx.shutdown);
    // Status shows it with the borrow's length.
    let holder = &core.status_reply("bf").features[0].holders[0];
    assert_eq!((holder.borrow_until, holder.linger), (until(now, 2), 7200));
    // Returned early from another connection of the same user and host.
    core.connect(now, ConnId(2), ident("joe", "LAP"))
        .replies
        .clear();
    let fx = core.return_borrow(now, ConnId(2), &give_back(5, "bf", &SECRET));
    assert!(
        matches!(fx.replies[0].1, Message::CheckedIn(Checkin { req: 5, handle }) if handle == h)
    );
    assert_eq!(fx.borrows, vec![BorrowChange::Remove(h)]);
    assert_eq!(in_use(&core, "bf"), 0);
    let fx = core.return_borrow(now, ConnId(2), &give_back(6, "bf", &SECRET));
    assert_eq!(denied(&fx).0, lmerr::LM_UNBORROWED_ALREADY);
    // A second borrow runs out on its own.
    let h2 = granted(&borrow(&mut core, now, 2, "bf", 1));
    beat(&mut core, now + 3_599_000, 2, false);
    assert!(core.borrowed.first() == Some(&(now + 3_600_000, h2)));
    let (fx, _) = core.tick(now + 3_600_000);
    assert_eq!(fx.borrows, vec![BorrowChange::Remove(h2)]);
    assert_eq!(
        revoked(&fx),
        vec![(ConnId(2), h2, lmerr::LM_BORROW_EXPIRED)]
    );
    assert_eq!(in_use(&core, "bf"), 0);
    core.check_invariants();
}

#[test]
fn borrowed_seats_are_restored_and_kept_across_shutdown() {
    let now = 1_700_000_000_000;
    let mut core = core_for(BORROWABLE);
    core.connect(now, ConnId(1), ident("joe", "lap"))
        .replies
        .clear();
    let fx = borrow(&mut core, now, 1, "bf", 2);
    let BorrowChange::Add(record) = fx.borrows[0].clone() else {
        panic!("{fx:?}")
    };
    granted(&core.checkout(now, ConnId(1), &co("bf", "1.0", 1)));
    let fx = core.shutdown();
    assert!(fx.borrows.is_empty(), "shutdown keeps borrows: {fx:?}");
    assert_eq!(lines(&fx), vec!["IN: \"bf\" joe@lap  (SHUTDOWN)"]);

    // The next run takes the seat again; an expired one is dropped.
    let mut core = core_for(BORROWABLE);
    let old = BorrowRecord {
        handle: 99,
        until_ms: now - 1,
        ..record.clone()
    };
    let fx = core.restore_borrows(now, vec![record.clone(), old]);
    assert_eq!(fx.borrows, vec![BorrowChange::Remove(99)]);
    assert_eq!(in_use(&core, "bf"), 1);
    core.check_invariants();
    core.connect(now, ConnId(5), ident("new", "h"))
        .replies
        .clear();
    let h = granted(&core.checkout(now, ConnId(5), &co("bf", "1.0", 1)));
    assert!(h > 99, "handles never repeat a restored one");
    let fx = core.return_borrow(now, ConnId(5), &give_back(1, "bf", &SECRET));
    assert_eq!(
        denied(&fx).0,
        lmerr::LM_UNBORROWED_ALREADY,
        "only joe may return it"
    );
}

#[test]
fn status_lists_queued_users() {
    let mut core = core_for("FEATURE q demo 1.0 permanent 1\n");
    hello(&mut core, 1, "a", "h");
    hello(&mut core, 2, "b", "h");
    granted(&core.checkout(0, ConnId(1), &co("q", "1.0", 1)));
    let fx = core.checkout(
        0,
        ConnId(2),
        &Checkout {
            queue: true,
            ..co("q", "1.0", 1)
        },
    );
    assert_eq!(denied(&fx).0, lmerr::LM_FEATQUEUE);
    assert_eq!(lines(&fx), vec!["QUEUED: \"q\" b@h  "]);
    let holders = &core.status_reply("q").features[0].holders;
    assert_eq!(holders.len(), 2);
    assert!(holders[1].queued && holders[1].user == "b" && holders[1].handle == 0);
    let fx = core.disconnect(0, ConnId(1));
    assert!(lines(&fx).contains(&"DEQUEUED: \"q\" b@h  ".to_string()));
    assert!(core.status_reply("q").features[0]
        .holders
        .iter()
        .all(|h| !h.queued));
}

/// The counting rules under the options file, queueing, linger, TIMEOUT,
/// borrowing and rereads, driven by random sequences of events.
mod policy_props {
    use super::*;
    use proptest::prelude::*;

    const LICENSES: [&str; 2] = [
        "\
FEATURE f1 demo 1.0 permanent 3 BORROW=1
FEATURE f2 demo 1.0 permanent 2 OVERDRAFT=2 DUP_GROUP=UH
FEATURE f3 demo 1.0 permanent 4 USER_BASED=2
",
        "\
FEATURE f1 demo 1.0 permanent 2 BORROW=1
FEATURE f2 demo 1.0 permanent 3 OVERDRAFT=1 DUP_GROUP=UH
FEATURE f3 demo 1.0 permanent 3 USER_BASED
",
    ];
    const OPTIONS: [&str; 3] = [
        "RESERVE 1 f1 USER ann\nMAX 2 f2 USER bob\nLINGER f1 2\nTIMEOUT f2 3\n\
         MAX_OVERDRAFT f2 1\nINCLUDE f3 USER ann\nINCLUDE f3 USER bob\nBORROW_LOWWATER f1 1\n",
        "RESERVE 2 f2 USER joe\nTIMEOUTALL 2\nLINGER f2 1\nINCLUDE f3 USER joe\n\
         EXCLUDE_BORROW f1 USER bob\n",
        "",
    ];
    const FEATURES: [&str; 4] = ["f1", "f2", "f3", "f9"];
    const USERS: [&str; 3] = ["joe", "ann", "bob"];

    #[derive(Debug, Clone)]
    enum Op {
        Connect {
            conn: u64,
            user: usize,
        },
        Checkout {
            conn: u64,
            feature: usize,
            count: u32,
            queue: bool,
            borrow: bool,
        },
        Checkin {
            conn: u64,
            pick: usize,
        },
        Return {
            conn: u64,
            feature: usize,
        },
        Disconnect {
            conn: u64,
        },
        Heartbeat {
            conn: u64,
            idle: bool,
        },
        Advance {
            ms: u64,
        },
        Remove {
            pick: usize,
        },
        Reread {
            license: usize,
            options: usize,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u64..6, 0usize..3).prop_map(|(conn, user)| Op::Connect { conn, user }),
            6 => (0u64..6, 0usize..4, 1u32..3, any::<bool>(), prop::bool::weighted(0.2))
                .prop_map(|(conn, feature, count, queue, borrow)| Op::Checkout {
                    conn, feature, count, queue, borrow
                }),
            2 => (0u64..6, 0usize..4).prop_map(|(conn, pick)| Op::Checkin { conn, pick }),
            1 => (0u64..6, 0usize..4).prop_map(|(conn, feature)| Op::Return { conn, feature }),
            1 => (0u64..6).prop_map(|conn| Op::Disconnect { conn }),
            2 => (0u64..6, any::<bool>()).prop_map(|(conn, idle)| Op::Heartbeat { conn, idle }),
            2 => (0u64..2500).prop_map(|ms| Op::Advance { ms }),
            1 => (0usize..8).prop_map(|pick| Op::Remove { pick }),
            1 => (0usize..2, 0usize..3).prop_map(|(license, options)| Op::Reread { license, options }),
        ]
    }

    fn options(i: usize) -> std::sync::Arc<grammar::options::Options> {
        let (o, diags) = grammar::options::Options::parse("p.opt", OPTIONS[i]);
        assert!(diags.is_empty(), "{diags:?}");
        std::sync::Arc::new(o)
    }

    /// Per pool: seats in use, and in use plus the unused seats reserved
    /// for somebody (what a newcomer outside the reservations must fit in).
    fn loads(core: &Core) -> Vec<(u32, u32, u32)> {
        core.pools
            .iter()
            .map(|p| {
                let ctx = FeatureCtx::from_pool(&p.pool);
                let unused: u32 = core
                    .config
                    .options
                    .reservations(&ctx)
                    .map(|r| r.count().saturating_sub(core.reserve_use[r.id().index()]))
                    .sum();
                (p.in_use, p.in_use + unused, p.capacity())
            })
            .collect()
    }

    fn absorb(core: &mut Core, now: u64, fx: Effects, live: &mut BTreeSet<u64>) {
        for c in fx.close {
            live.remove(&c.conn.0);
            let _ = core.disconnect(now, c.conn);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn in_use_never_exceeds_issued_plus_overdraft_minus_reserved_for_others(
            ops in proptest::collection::vec(op(), 1..150)
        ) {
            let mut core = core_for(LICENSES[0]);
            core.config.timeout_ms = 4000;
            core.config.min_timeout_secs = 1;
            core.set_options(options(0));
            let mut now = 1_700_000_000_000u64;
            let mut live: BTreeSet<u64> = BTreeSet::new();
            for op in ops {
                let before = loads(&core);
                let reread = matches!(op, Op::Reread { .. });
                match op {
                    Op::Connect { conn, user } => {
                        if !live.contains(&conn) {
                            let fx = core.connect(now, ConnId(conn), ident(USERS[user], "ws"));
                            live.insert(conn);
                            absorb(&mut core, now, fx, &mut live);
                        }
                    }
                    Op::Checkout { conn, feature, count, queue, borrow } => {
                        let req = Checkout {
                            queue,
                            borrow_until: if borrow { now / 1000 + 1800 } else { 0 },
                            return_hash: Blob(wire::borrow_key::return_hash(&SECRET).to_vec()),
                            ..co(FEATURES[feature], "1", count)
                        };
                        let fx = core.handle_message(now, ConnId(conn), Message::Checkout(req));
                        absorb(&mut core, now, fx, &mut live);
                    }
                    Op::Checkin { conn, pick } => {
                        let handles = core.handles_of(ConnId(conn));
                        if let Some(&handle) = handles.get(pick % handles.len().max(1)) {
                            let fx = core.checkin(now, ConnId(conn), &Checkin { req: 0, handle });
                            prop_assert!(matches!(fx.replies[0].1, Message::CheckedIn(_)));
                        }
                    }
                    Op::Return { conn, feature } => {
                        let r = give_back(0, FEATURES[feature], &SECRET);
                        let fx = core.handle_message(now, ConnId(conn), Message::ReturnBorrow(r));
                        absorb(&mut core, now, fx, &mut live);
                    }
                    Op::Disconnect { conn } => {
                        live.remove(&conn);
                        let _ = core.disconnect(now, ConnId(conn));
                    }
                    Op::Heartbeat { conn, idle } => {
                        if live.contains(&conn) {
                            let _ = core.heartbeat(now, ConnId(conn), &Heartbeat { seq: 1, idle });
                        }
                    }
                    Op::Advance { ms } => {
                        now += ms;
                        if core.next_deadline().is_some_and(|d| d <= now) {
                            let (fx, next) = core.tick(now);
                            prop_assert!(next.is_none_or(|d| d > now));
                            absorb(&mut core, now, fx, &mut live);
                        }
                    }
                    Op::Remove { pick } => {
                        let all: Vec<u64> = core.holdings.keys().copied().collect();
                        if let Some(&handle) = all.get(pick % all.len().max(1)) {
                            let fx = core.admin(now, ConnId(1000), &AdminRequest { handle, ..admin(admin_op::REMOVE_HANDLE) });
                            let code = admin_reply(&fx, ConnId(1000)).0;
                            let h = &core.holdings.get(&handle);
                            prop_assert!(code == 0 || (code == lmerr::LM_REMOVE_LINGER && h.is_some()));
                        }
                    }
                    Op::Reread { license, options: o } => {
                        core.reload(pools_of(LICENSES[license]), today(), BTreeMap::new());
                        core.set_options(options(o));
                    }
                }
                core.check_invariants();
                if reread || before.len() != core.pools.len() {
                    continue;
                }
                // Holders keep their seats across a reread that lowers a
                // count; from then on no seat may be added while over.
                for (i, ((used, load, cap), (used0, load0, _))) in
                    loads(&core).into_iter().zip(before).enumerate()
                {
                    if !core.pools[i].pool.counted {
                        continue;
                    }
                    prop_assert!(used <= cap || used <= used0, "pool {i}: {used} > {cap}");
                    prop_assert!(load <= cap || load <= load0,
                        "pool {i}: {used} in use + reserved = {load} > {cap} (was {load0})");
                }
            }
            // Everyone leaves and every timer runs out: nothing stays taken.
            for conn in std::mem::take(&mut live) {
                let _ = core.disconnect(now, ConnId(conn));
            }
            now += 2 * 3_600_000;
            let _ = core.tick(now);
            prop_assert_eq!(core.holdings(), 0);
            prop_assert!(core.usage().iter().all(|u| u.in_use == 0));
            prop_assert_eq!(core.next_deadline(), None);
            core.check_invariants();
        }
    }
}

#[test]
fn report_records_describe_each_event_when_a_report_log_is_kept() {
    use reportlog::Kind;
    let mut core = core_for("FEATURE q demo 1.0 permanent 1\n");
    assert!(core
        .checkout(0, ConnId(1), &co("q", "1.0", 1))
        .report
        .is_empty());
    hello(&mut core, 1, "a", "h");
    assert!(
        core.checkout(0, ConnId(1), &co("q", "1.0", 1))
            .report
            .is_empty(),
        "nothing without a report log"
    );
    core.set_report(true);
    hello(&mut core, 2, "b", "h");
    let fx = core.checkout(0, ConnId(2), &co("q", "1.0", 1));
    let r = &fx.report[0];
    assert_eq!(
        (r.kind, r.user.as_str(), r.error, r.issued),
        (Kind::Denied, "b", -4, 1)
    );
    let fx = core.checkout(
        0,
        ConnId(2),
        &Checkout {
            queue: true,
            ..co("q", "1.0", 1)
        },
    );
    assert_eq!(fx.report[0].kind, Kind::Queued);
    let fx = core.disconnect(5, ConnId(1));
    let kinds: Vec<(Kind, &str, u32)> = fx
        .report
        .iter()
        .map(|r| (r.kind, r.user.as_str(), r.count))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (Kind::Checkin, "a", 1),
            (Kind::Dequeued, "b", 1),
            (Kind::Checkout, "b", 1)
        ]
    );
    assert_eq!(core.held_records().len(), 1);
    assert_eq!(core.held_records()[0].kind, Kind::Held);
}

fn denied_detail(fx: &Effects) -> String {
    match fx.replies.as_slice() {
        [(_, Message::Denied(d))] => d.detail.clone(),
        other => panic!("expected Denied, got {other:?}"),
    }
}

#[test]
fn refusals_name_what_did_not_fit() {
    let mut core = core_for(LOCKED);
    let _ = core.connect(
        0,
        ConnId(2),
        ClientIdentity {
            hostids: vec!["0a0b0c0d0e0f".into()],
            ..ident("ann", "elsewhere")
        },
    );
    let fx = core.checkout(0, ConnId(2), &co("onlyhere", "1", 1));
    assert_eq!(denied(&fx).0, -9);
    assert_eq!(
        denied_detail(&fx),
        "the license is locked to HOSTID=\"0800200005ac\"; the client machine elsewhere \
         has \"0a0b0c0d0e0f\" (run `lmutil lmhostid` there to see its hostids)"
    );
    // A refusal the text explains fully has no detail.
    let mut core = core_for(DEMO);
    hello(&mut core, 1, "joe", "ws1");
    let fx = core.checkout(0, ConnId(1), &co("f1", "1.0", 9));
    assert_eq!(denied_detail(&fx), "");
}

#[test]
fn an_expired_feature_says_when() {
    // Withdrawn at start-up: the date comes from the license file.
    let mut core = core_for(DEMO);
    core.config.withdrawn.insert(
        "old".into(),
        Withdrawn::Expired(grammar::Expiry::On(Date::new(2020, 1, 31).unwrap())),
    );
    hello(&mut core, 1, "joe", "ws1");
    let fx = core.checkout(0, ConnId(1), &co("old", "1.0", 1));
    assert_eq!(denied_detail(&fx), "\"old\" expired on 31-jan-2020");
    // Expired while the daemon runs: the pool's last date.
    let text = "SERVER h ANY\nVENDOR demo\nFEATURE e demo 1.0 1-jun-2026 1\nINCREMENT e demo 1.0 3-jun-2026 1\n";
    let mut core = core_on(text, today());
    hello(&mut core, 1, "joe", "ws1");
    let _ = core.set_today(Date::new(2026, 6, 9).unwrap());
    let fx = core.checkout(0, ConnId(1), &co("e", "1.0", 1));
    assert_eq!(denied(&fx).0, -10);
    assert_eq!(denied_detail(&fx), "\"e\" expired on 3-jun-2026");
}

#[test]
fn status_lists_reservations_once_per_feature() {
    let license = "SERVER h ANY\nVENDOR demo\nINCREMENT f1 demo 1.0 permanent 4\n\
                   INCREMENT f1 demo 2.0 permanent 2\nFEATURE f2 demo 1.0 permanent 2\n";
    let opts = "GROUP cad ann bob\nRESERVE 2 f1 GROUP cad\nRESERVE 1 f1 HOST ws9\n";
    let core = core_with_options(license, opts);
    let s = core.status_reply("");
    type Listed = Vec<(u32, String, String)>;
    let per_pool: Vec<(String, Listed)> = s
        .features
        .iter()
        .map(|f| {
            (
                f.name.clone(),
                f.reservations
                    .iter()
                    .map(|r| (r.count, r.kind.clone(), r.name.clone()))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        per_pool,
        vec![
            (
                "f1".into(),
                vec![
                    (2, "GROUP".into(), "cad".into()),
                    (1, "HOST".into(), "ws9".into())
                ]
            ),
            ("f1".into(), vec![]),
            ("f2".into(), vec![]),
        ]
    );
}

#[test]
fn a_forged_return_is_refused_and_the_seat_stays_out() {
    let now = 1_700_000_000_000;
    let mut core = core_for(BORROWABLE);
    let _ = core.connect(now, ConnId(1), ident("joe", "lap"));
    let h = granted(&borrow(&mut core, now, 1, "bf", 2));
    let _ = core.disconnect(now, ConnId(1));
    // Someone else claims joe's user, host and display.
    let _ = core.connect(now, ConnId(2), ident("joe", "lap"));
    for secret in [
        &[][..],
        &[0u8; 32][..],
        &wire::borrow_key::return_hash(&SECRET)[..],
    ] {
        let fx = core.return_borrow(now, ConnId(2), &give_back(3, "bf", secret));
        assert_eq!(denied(&fx).0, lmerr::LM_NOTLICADMIN);
        assert!(
            denied_detail(&fx).contains("only the client that borrowed"),
            "{fx:?}"
        );
        assert!(fx.borrows.is_empty());
        assert_eq!(lines(&fx).len(), 1, "one log line: {:?}", lines(&fx));
        assert_eq!(in_use(&core, "bf"), 1);
    }
    // The borrower's secret returns it.
    let fx = core.return_borrow(now, ConnId(2), &give_back(4, "bf", &SECRET));
    assert!(matches!(fx.replies[0].1, Message::CheckedIn(Checkin { handle, .. }) if handle == h));
    assert_eq!(in_use(&core, "bf"), 0);
    core.check_invariants();
}

#[test]
fn a_borrow_needs_a_return_hash() {
    let now = 1_700_000_000_000;
    let mut core = core_for(BORROWABLE);
    let _ = core.connect(now, ConnId(1), ident("joe", "lap"));
    let req = Checkout {
        borrow_until: until(now, 1),
        ..co("bf", "1.0", 1)
    };
    assert_eq!(
        denied(&core.checkout(now, ConnId(1), &req)).0,
        lmerr::LM_BADPARAM
    );
    assert_eq!(in_use(&core, "bf"), 0);
}

/// joe's borrow of one `bf` (handle 5) as a store from before return
/// secrets holds it: no return hash.
fn borrowed_before_secrets(now: u64) -> BorrowRecord {
    BorrowRecord {
        handle: 5,
        feature: "bf".into(),
        version: "1.0".into(),
        count: 1,
        user: "joe".into(),
        host: "lap".into(),
        display: "d".into(),
        pid: 1,
        requested: "1.0".into(),
        started_ms: now - 1000,
        until_ms: now + 3_600_000,
        return_hash: Vec::new(),
    }
}

#[test]
fn a_borrow_from_before_return_secrets_is_returned_by_no_client() {
    let now = 1_700_000_000_000;
    let mut core = core_for(BORROWABLE);
    let _ = core.restore_borrows(now, vec![borrowed_before_secrets(now)]);
    let _ = core.connect(now, ConnId(1), ident("joe", "lap"));
    let fx = core.return_borrow(now, ConnId(1), &give_back(1, "bf", &SECRET));
    assert_eq!(denied(&fx).0, lmerr::LM_NOTLICADMIN);
    assert!(
        denied_detail(&fx).contains("before borrows carried"),
        "{fx:?}"
    );
    assert_eq!(in_use(&core, "bf"), 1);
}

#[test]
fn a_status_reply_always_fits_in_a_frame() {
    let now = 1_700_000_000_000;
    let mut core = core_for(
        "FEATURE big demo 1.0 permanent 500\nFEATURE small demo 1.0 permanent 5\n\
         FEATURE bf demo 1.0 permanent 3 BORROW=72\n",
    );
    let long = |c: char, n: usize| std::iter::repeat_n(c, n).collect::<String>();
    for conn in 1..=300u64 {
        let who = ClientIdentity {
            display: long('d', wire::text::MAX_DISPLAY),
            ..ident(
                &format!("{conn}{}", long('u', wire::text::MAX_USER - 3)),
                &long('h', wire::text::MAX_HOST),
            )
        };
        let _ = core.connect(now, ConnId(conn), who);
        granted(&core.checkout(now, ConnId(conn), &co("big", "1.0", 1)));
    }
    let _ = core.connect(now, ConnId(999), ident("ann", "ws"));
    granted(&core.checkout(now, ConnId(999), &co("small", "1.0", 1)));
    granted(&borrow(&mut core, now, 999, "bf", 2));
    let reply = core.status_reply("");
    let frame = Message::Status(reply.clone()).to_frame_bytes();
    assert!(frame.len() - wire::frame::HEADER_LEN <= wire::frame::DEFAULT_MAX_PAYLOAD);
    let big = &reply.features[0];
    assert_eq!(big.in_use, 300, "counts stay whole");
    assert!(big.omitted > 0 && big.holders.len() + big.omitted as usize == 300);
    assert_eq!(
        big.holders[0].user,
        format!("1{}", long('u', 125)),
        "the first are kept"
    );
    // A feature after the cut lists none, and says how many...
    assert_eq!(
        (reply.features[1].holders.len(), reply.features[1].omitted),
        (0, 1)
    );
    // ... but borrowed seats are listed first, whatever their pool (lmdown
    // looks for them).
    assert_eq!(
        (reply.features[2].holders.len(), reply.features[2].omitted),
        (1, 0)
    );
    assert!(reply.features[2].holders[0].borrow_until > 0);
    // One feature asked for alone fits whole.
    let small = core.status_reply("small");
    assert_eq!(
        (small.features[0].holders.len(), small.features[0].omitted),
        (1, 0)
    );
}

/// Every holder of `feature` (empty: all), read page by page as lmstat
/// does: (user, pool place) in the order listed, and the pages it took.
fn paged_holders(core: &Core, feature: &str) -> (Vec<(String, usize)>, usize) {
    let (mut seen, mut after, mut pages) = (Vec::new(), 0, 0);
    loop {
        let page = core.status_page(feature, after);
        pages += 1;
        let frame = Message::Status(page.clone()).to_frame_bytes();
        assert!(frame.len() - wire::frame::HEADER_LEN <= wire::frame::DEFAULT_MAX_PAYLOAD);
        for (i, f) in page.features.iter().enumerate() {
            assert_eq!(f.omitted, 0);
            seen.extend(f.holders.iter().map(|h| (h.user.clone(), i)));
        }
        if page.next == 0 {
            return (seen, pages);
        }
        assert!(page.next > after, "a page moves on");
        after = page.next;
    }
}

#[test]
fn status_pages_list_every_holder_once_in_small_steps() {
    let now = 1_700_000_000_000;
    let mut core =
        core_for("FEATURE big demo 1.0 permanent 5000\nFEATURE small demo 1.0 permanent 1\n");
    for conn in 1..=2000u64 {
        let _ = core.connect(now, ConnId(conn), ident(&format!("u{conn}"), "ws"));
        granted(&core.checkout(now, ConnId(conn), &co("big", "1.0", 1)));
    }
    let _ = core.connect(now, ConnId(5000), ident("sam", "ws"));
    granted(&core.checkout(now, ConnId(5000), &co("small", "1.0", 1)));
    // A waiter shows on the first page.
    let _ = core.connect(now, ConnId(5001), ident("wes", "ws"));
    let _ = core.checkout(
        now,
        ConnId(5001),
        &Checkout {
            queue: true,
            ..co("small", "1.0", 1)
        },
    );

    let (seen, pages) = paged_holders(&core, "");
    assert_eq!(seen.len(), 2002);
    let first = core.status_page("", 0);
    assert!(
        first.features[1]
            .holders
            .iter()
            .any(|h| h.user == "wes" && h.queued),
        "waiters are on the first page"
    );
    let mut users: Vec<&str> = seen.iter().map(|(u, _)| u.as_str()).collect();
    users.sort_unstable();
    users.dedup();
    assert_eq!(users.len(), 2002, "none twice");
    assert!(seen.contains(&("sam".to_string(), 1)));
    assert!(
        pages > 2,
        "2,000 holders take several pages, not one: {pages}"
    );
    // The unpaged reply of the same core is one frame that leaves most out.
    let whole = core.status_reply("");
    assert!(whole.features[0].omitted > 0);

    // One feature among many holders: few pages, each a bounded scan.
    let (seen, pages) = paged_holders(&core, "small");
    assert_eq!(seen, [("wes".to_string(), 0), ("sam".to_string(), 0)]);
    assert_eq!(pages, 2000 / STATUS_PAGE_SCAN + 1);
}

#[test]
fn a_holder_that_comes_between_pages_is_listed_and_one_that_goes_is_not() {
    let now = 1_700_000_000_000;
    let mut core = core_for("FEATURE big demo 1.0 permanent 5000\n");
    let mut handles = Vec::new();
    for conn in 1..=600u64 {
        let _ = core.connect(now, ConnId(conn), ident(&format!("u{conn}"), "ws"));
        handles.push(granted(&core.checkout(
            now,
            ConnId(conn),
            &co("big", "1.0", 1),
        )));
    }
    let first = core.status_page("", 0);
    assert_ne!(first.next, 0);
    let listed = first.features[0].holders.len();
    // u600 leaves, a newcomer arrives.
    let _ = core.disconnect(now, ConnId(600));
    let _ = core.connect(now, ConnId(601), ident("new", "ws"));
    granted(&core.checkout(now, ConnId(601), &co("big", "1.0", 1)));
    let mut rest = Vec::new();
    let mut after = first.next;
    while after != 0 {
        let page = core.status_page("", after);
        rest.extend(page.features[0].holders.iter().map(|h| h.user.clone()));
        after = page.next;
    }
    assert_eq!(listed + rest.len(), 600);
    assert!(rest.contains(&"new".to_string()));
    assert!(!rest.contains(&"u600".to_string()));
}

#[test]
fn a_refused_string_gets_badparam_naming_the_field_and_closes() {
    let hello = Message::Hello(wire::Hello {
        identity: ident("joe", "ws1\n12:00:00 (demo) IN: \"f1\" x@y"),
    });
    let e = wire::text::check_request(&hello).unwrap_err();
    let fx = refuse_field(ConnId(3), &hello, &e);
    let Message::Error(err) = &fx.replies[0].1 else {
        panic!("{fx:?}")
    };
    assert_eq!(err.code, lmerr::LM_BADPARAM);
    assert!(
        err.text.contains("Hello host") && !err.text.contains("IN:"),
        "{err:?}"
    );
    let reason = fx.close[0].reason.clone().unwrap();
    assert!(
        reason.contains("Hello host") && !reason.contains('\n'),
        "{reason}"
    );
    let checkout = Message::Checkout(Checkout {
        req: 9,
        ..co("f\u{202e}1", "1.0", 1)
    });
    let e = wire::text::check_request(&checkout).unwrap_err();
    let fx = refuse_field(ConnId(3), &checkout, &e);
    assert_eq!(denied(&fx).0, lmerr::LM_BADPARAM);
    assert!(denied_detail(&fx).contains("Checkout feature"));
}

#[test]
fn lmremove_force_ends_a_borrow_even_one_without_a_return_hash() {
    let now = 1_700_000_000_000;
    let mut core = core_for(BORROWABLE);
    let _ = core.restore_borrows(now, vec![borrowed_before_secrets(now)]);
    let remove = AdminRequest {
        feature: "bf".into(),
        user: "joe".into(),
        host: "lap".into(),
        ..admin(admin_op::REMOVE_USER)
    };
    let fx = core.admin(now, ConnId(9), &remove);
    assert_eq!(admin_reply(&fx, ConnId(9)).0, lmerr::LM_REMOVE_LINGER);
    let fx = core.admin(
        now,
        ConnId(9),
        &AdminRequest {
            force: true,
            ..remove
        },
    );
    assert_eq!(admin_reply(&fx, ConnId(9)).0, 0);
    assert_eq!(fx.borrows, vec![BorrowChange::Remove(5)]);
    assert_eq!(lines(&fx), vec!["IN: \"bf\" joe@lap  (REMOVED)"]);
    assert_eq!(in_use(&core, "bf"), 0);
    core.check_invariants();
}

#[derive(Debug, Clone)]
enum Request {
    Checkout {
        conn: u64,
        feature: &'static str,
        count: u32,
        queue: bool,
    },
    /// A checkin of the `nth` handle granted so far (or of one never granted).
    Checkin {
        conn: u64,
        nth: usize,
    },
    Heartbeat {
        conn: u64,
        idle: bool,
    },
    Disconnect {
        conn: u64,
    },
}

fn request() -> impl proptest::strategy::Strategy<Value = Request> {
    use proptest::prelude::*;
    prop_oneof![
        (
            1u64..4,
            prop_oneof![Just("f1"), Just("f2"), Just("nosuch")],
            1u32..3,
            any::<bool>()
        )
            .prop_map(|(conn, feature, count, queue)| Request::Checkout {
                conn,
                feature,
                count,
                queue
            }),
        (1u64..4, 0usize..12).prop_map(|(conn, nth)| Request::Checkin { conn, nth }),
        (1u64..4, any::<bool>()).prop_map(|(conn, idle)| Request::Heartbeat { conn, idle }),
        (1u64..4).prop_map(|conn| Request::Disconnect { conn }),
    ]
}

proptest::proptest! {
    /// The event loop's way (messages decoded in place, one `Effects`
    /// reused and given back after each request) and the plain way (owned
    /// messages, fresh effects) serve every request alike: the same
    /// replies, closes and log lines, and the same state after.
    #[test]
    fn requests_served_in_place_are_served_alike(
        requests in proptest::collection::vec(request(), 1..60)
    ) {
        let mut plain = core_for(DEMO);
        let mut reused = core_for(DEMO);
        let mut fx = Effects::default();
        let mut handles: Vec<u64> = Vec::new();
        for conn in 1..4u64 {
            let user = if conn == 3 { "u1" } else { "u2" };
            let a = plain.connect(0, ConnId(conn), ident(user, "ws"));
            let b = reused.connect(0, ConnId(conn), ident(user, "ws"));
            proptest::prop_assert_eq!(a.replies, b.replies);
        }
        for (t, r) in requests.into_iter().enumerate() {
            let now = t as u64 * 1000;
            let (conn, msg) = match r {
                Request::Checkout { conn, feature, count, queue } => {
                    let mut c = co(feature, "1.0", count);
                    c.queue = queue;
                    (conn, Message::Checkout(c))
                }
                Request::Checkin { conn, nth } => {
                    let handle = handles.get(nth).copied().unwrap_or(999);
                    (conn, Message::Checkin(Checkin { req: 3, handle }))
                }
                Request::Heartbeat { conn, idle } => {
                    (conn, Message::Heartbeat(Heartbeat { seq: 9, idle }))
                }
                Request::Disconnect { conn } => {
                    let a = plain.disconnect(now, ConnId(conn));
                    let b = reused.disconnect(now, ConnId(conn));
                    proptest::prop_assert_eq!(lines(&a), lines(&b));
                    proptest::prop_assert_eq!(a.replies, b.replies);
                    continue;
                }
            };
            let a = plain.handle_message(now, ConnId(conn), msg.clone());
            reused.handle_request(now, ConnId(conn), wire::MessageRef::from(&msg), &mut fx);
            proptest::prop_assert_eq!(&a.replies, &fx.replies);
            proptest::prop_assert_eq!(&a.close, &fx.close);
            proptest::prop_assert_eq!(lines(&a), lines(&fx));
            for (_, m) in &a.replies {
                if let Message::Granted(g) = m {
                    handles.push(g.handle);
                }
            }
            reused.recycle(&mut fx);
            proptest::prop_assert!(fx.replies.is_empty() && fx.log.is_empty());
            reused.check_invariants();
            proptest::prop_assert_eq!(
                plain.status_reply("").features,
                reused.status_reply("").features
            );
        }
    }
}

#[test]
fn connections_share_their_names() {
    let mut core = core_for(DEMO);
    hello(&mut core, 1, "joe", "ws1");
    hello(&mut core, 2, "joe", "ws2");
    let (a, b) = (&core.conns[&ConnId(1)], &core.conns[&ConnId(2)]);
    assert!(Arc::ptr_eq(&a.user, &b.user));
    assert!(!Arc::ptr_eq(&a.host, &b.host));
    let h = granted(&core.checkout(0, ConnId(1), &co("f1", "1.0", 1)));
    assert!(Arc::ptr_eq(
        &core.holdings[&h].user,
        &core.conns[&ConnId(1)].user
    ));
    assert!(Arc::ptr_eq(
        &core.holdings[&h].feature,
        &core.pools[core.holdings[&h].pool].name
    ));
}

#[test]
fn names_no_one_holds_are_swept() {
    let mut names = Names::default();
    let kept = names.get("kept");
    for i in 0..1000 {
        let _ = names.get(&format!("passing{i}"));
    }
    assert!(names.table.len() < 200, "{}", names.table.len());
    assert!(Arc::ptr_eq(&kept, &names.get("kept")));
}

#[test]
fn a_group_of_one_grows_into_a_map_and_back() {
    let mut m = Members::default();
    assert!(m.is_empty());
    m.insert(7, 1);
    assert!(matches!(m, Members::One(7, 1)));
    m.insert(7, 3);
    assert_eq!(m.iter().collect::<Vec<_>>(), [(&7, &3)]);
    m.insert(5, 2);
    assert_eq!(m.keys().copied().collect::<Vec<_>>(), [5, 7]);
    assert_eq!(m.values().copied().max(), Some(3));
    m.remove(7);
    assert!(m.contains_key(&5) && !m.contains_key(&7));
    m.remove(5);
    assert!(m.is_empty());
    m.insert(1, 1);
    assert_eq!(m.into_iter().collect::<Vec<_>>(), [(1, 1)]);
}
