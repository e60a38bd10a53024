//! The options file's rules and the queue.

use super::*;

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
