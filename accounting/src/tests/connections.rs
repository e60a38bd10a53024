//! Connections: Hello, job reattach, heartbeats, protocol misuse, shared names.

use super::*;

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
