use super::*;
use grammar::pool::build_pools;
use std::collections::HashMap;
use wire::codec::Blob;

mod admin;
mod borrow;
mod checkout;
mod connections;
mod policy;
mod reload;
mod report;
mod status;

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

const SUITE: &str = "\
SERVER h ANY
VENDOR demo
PACKAGE suite demo 1.0 COMPONENTS=\"comp1 comp2\" OPTIONS=SUITE
FEATURE suite demo 1.0 permanent 2 SUITE_DUP_GROUP=UHD
";

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

fn denied_detail(fx: &Effects) -> String {
    match fx.replies.as_slice() {
        [(_, Message::Denied(d))] => d.detail.clone(),
        other => panic!("expected Denied, got {other:?}"),
    }
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
