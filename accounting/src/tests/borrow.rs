//! Borrowing and returning.

use super::*;

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
