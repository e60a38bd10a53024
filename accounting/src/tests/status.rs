//! What the status tells: pools, holders, waiters, reservations, pages.

use super::*;

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
