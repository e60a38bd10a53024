//! lmremove and shutdown.

use super::*;

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
