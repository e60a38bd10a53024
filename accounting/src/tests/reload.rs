//! Rereads of the license file.

use super::*;

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
