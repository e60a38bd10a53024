//! What the core keeps per connection that holds a seat: 19,000 of them,
//! as the serving benchmark's largest held step, each with its own user
//! name (as lmload's connections have), counted by a global allocator that
//! adds up the bytes asked for and given back. Heartbeats then move every
//! connection through the timeout index, which must not grow with them.

use accounting::{Config, ConnId, Core};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicIsize, Ordering};
use wire::{Checkout, ClientIdentity, Heartbeat, Message};

struct Counting;

/// Bytes allocated and not freed by the test's thread (the only one that
/// sets `COUNTED`: the test harness's threads do not blur the figure).
static LIVE: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn count(bytes: isize) {
    // `try_with`: the allocator also runs while thread-locals are torn down.
    if COUNTED.try_with(Cell::get).unwrap_or(false) {
        LIVE.fetch_add(bytes, Ordering::Relaxed);
    }
}

// SAFETY: every call goes to the system allocator unchanged; the count
// beside it is an atomic add and a thread-local flag.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: the caller's contract is System's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const HELD: u64 = 19_000;
/// The bound asserted, bytes per connection (1171 measured; 1347 when
/// checkouts owned copies of their names and indexes were B-trees).
const BOUND: isize = 1_250;

#[test]
fn a_held_connection_costs_the_core_little_and_heartbeats_nothing() {
    let day = grammar::Date::new(2026, 6, 1).expect("a date");
    let file = grammar::parse_license(
        "held.lic",
        "SERVER this_host ANY 27000\nVENDOR demo\nFEATURE held demo 1.0 permanent 100000\n",
    );
    let pools = grammar::pool::build_pools(&file, &HashMap::new(), day);
    let mut core = Core::new(pools, day, Config::new("demo"));
    COUNTED.with(|c| c.set(true));
    let before = LIVE.load(Ordering::SeqCst);
    let mut now = 1_000_000u64;
    for i in 0..HELD {
        let conn = ConnId(i + 10);
        let identity = ClientIdentity {
            user: format!("u{i}"),
            host: "lmload".into(),
            display: "/dev/null".into(),
            pid: 1,
            platform: "x64_lsb".into(),
            hostids: vec![],
            client_version: "0.1".into(),
            job: i + 1,
            project: String::new(),
        };
        drop(core.connect(now, conn, identity));
        let fx = core.checkout(
            now,
            conn,
            &Checkout {
                req: 1,
                feature: "held".into(),
                version: "1.0".into(),
                count: 1,
                ..Checkout::default()
            },
        );
        assert!(matches!(fx.replies[..], [(_, Message::Granted(_))]));
        now += 1;
    }
    let held = LIVE.load(Ordering::SeqCst) - before;
    for _ in 0..20 {
        for i in 0..HELD {
            now += 1;
            drop(core.heartbeat(
                now,
                ConnId(i + 10),
                &Heartbeat {
                    seq: 1,
                    idle: false,
                },
            ));
        }
    }
    let after = LIVE.load(Ordering::SeqCst) - before;
    COUNTED.with(|c| c.set(false));
    let per = |bytes: isize| bytes / HELD as isize;
    eprintln!(
        "core bytes per held connection: {} after set-up, {} after {} heartbeats each",
        per(held),
        per(after),
        20
    );
    assert!(
        per(held) <= BOUND,
        "{} bytes per held connection",
        per(held)
    );
    assert_eq!(after, held, "heartbeats left memory behind");
}
