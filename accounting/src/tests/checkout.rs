//! Checkouts and checkins: pools, versions, dates, DUP_GROUP, OVERDRAFT, suites.

use super::*;

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
