//! Deterministic simulations of the triad (see `harness.rs`).
//!
//! `random_faults` runs 300 seeds by default; set `TRIAD_SIM_SEEDS=10000`
//! (and preferably `--release`) for the long run, `TRIAD_SIM_SEED=n` to replay
//! one seed.

mod harness;

use harness::{Sim, SimConfig};
use rand::Rng;

/// Default-settings bound for a serving master to appear after the network
/// heals with a majority (including the primary or the secondary) up.
const HEAL_BOUND_MS: u64 = 4_000;

fn seeds() -> Vec<u64> {
    if let Ok(s) = std::env::var("TRIAD_SIM_SEED") {
        return vec![s.parse().expect("TRIAD_SIM_SEED is a number")];
    }
    let n = std::env::var("TRIAD_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    (0..n).collect()
}

/// Starts all three members a little apart and waits for the primary to serve.
fn started(cfg: SimConfig) -> Sim {
    let mut sim = Sim::new(cfg);
    for id in 1..=3 {
        sim.start(id);
        let t = sim.now + sim.rng.gen_range(0..150);
        sim.run_until(t);
    }
    sim
}

/// One random history of faults, then a heal with a random majority up.
/// Returns how long after the heal a master served.
fn random_run(seed: u64) -> u64 {
    let mut cfg = SimConfig::new(seed);
    cfg.primary_is_master = seed & 1 == 0;
    let mut sim = started(cfg);
    let episodes = sim.rng.gen_range(2..6);
    for _ in 0..episodes {
        sim.heal();
        sim.loss = [0.0, 0.05, 0.2, 0.5][sim.rng.gen_range(0..4)];
        sim.delay = (1, sim.rng.gen_range(1..120));
        for from in 1..=3usize {
            for to in 1..=3usize {
                if from != to && sim.rng.gen_bool(0.25) {
                    sim.cut[from][to] = true;
                }
            }
        }
        for id in 1..=3 {
            if sim.is_up(id) {
                if sim.rng.gen_bool(0.2) {
                    sim.crash(id);
                }
            } else if sim.rng.gen_bool(0.6) {
                sim.start(id);
            }
        }
        let d = sim.rng.gen_range(200..3000);
        let t = sim.now + d;
        sim.run_until(t);
    }

    // Heal: every link up, little loss, a majority with the primary or the
    // secondary up, the rest down.
    let up: &[u64] = [&[1, 2, 3][..], &[1, 3], &[2, 3], &[1, 2]][sim.rng.gen_range(0..4)];
    for id in 1..=3 {
        let want = up.contains(&id);
        if sim.is_up(id) && !want {
            sim.crash(id);
        } else if !sim.is_up(id) && want {
            sim.start(id);
        }
    }
    sim.heal();
    sim.loss = 0.0;
    sim.delay = (1, 10);
    let healed = sim.now;
    let Some((at, who)) = sim.until_serving(HEAL_BOUND_MS) else {
        panic!(
            "seed {seed}: no master within {HEAL_BOUND_MS} ms of healing with {up:?} up:{}",
            sim.dump()
        );
    };
    match up {
        [1, 3] => assert_eq!(who, 1, "seed {seed}"),
        [2, 3] => assert_eq!(who, 2, "seed {seed}"),
        _ => assert_ne!(who, 3, "seed {seed}"),
    }
    if sim.cfg.primary_is_master && up.contains(&1) {
        assert!(
            sim.until_serves(1, 3_000).is_some(),
            "seed {seed}: PRIMARY_IS_MASTER but the primary does not serve"
        );
    }
    // And it stays up: clients keep being served.
    let acked = sim.acked;
    let t = sim.now + 2_000;
    sim.run_until(t);
    assert!(sim.serving.is_some(), "seed {seed}: master lost after heal");
    assert!(
        sim.acked > acked,
        "seed {seed}: no client served after heal:{}",
        sim.dump()
    );
    at - healed
}

#[test]
fn random_faults() {
    let mut worst = 0;
    let mut total = 0;
    let seeds = seeds();
    for &seed in &seeds {
        let t = random_run(seed);
        worst = worst.max(t);
        total += t;
    }
    eprintln!(
        "{} seeds: master after heal in {} ms on average, {} ms at worst",
        seeds.len(),
        total / seeds.len().max(1) as u64,
        worst
    );
}

#[test]
fn a_seed_replays_exactly() {
    let run = |seed| {
        let mut sim = started(SimConfig::new(seed));
        sim.loss = 0.1;
        sim.delay = (1, 50);
        sim.run_until(3_000);
        sim.crash(1);
        sim.run_until(6_000);
        sim.start(1);
        sim.run_until(9_000);
        (sim.trace, sim.serving_log.clone())
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7).0, run(8).0);
}

/// Failover times from a serving master's crash (or isolation) to the next
/// serving master, with the default timing, over many seeds.
fn failover(isolate: bool) -> (u64, u64, u64) {
    let (mut min, mut max, mut sum) = (u64::MAX, 0, 0);
    let n = 40;
    for seed in 0..n {
        let mut sim = started(SimConfig::new(1000 + seed));
        let Some((_, master)) = sim.until_serving(3_000) else {
            panic!("seed {seed}: no master at start");
        };
        assert_eq!(master, 1, "seed {seed}: the primary starts as master");
        let t = sim.now + sim.rng.gen_range(500..1500);
        sim.run_until(t);
        let lost = sim.now;
        if isolate {
            sim.isolate(master);
        } else {
            sim.crash(master);
        }
        let Some(at) = sim.until_serves(2, 5_000) else {
            panic!("seed {seed}: the secondary did not take over");
        };
        // The exact moment from the serving log (polling is in 10 ms steps).
        let at = sim
            .serving_log
            .iter()
            .rev()
            .find(|(_, who)| *who == Some(2))
            .map_or(at, |(t, _)| *t);
        let d = at - lost;
        min = min.min(d);
        max = max.max(d);
        sum += d;
    }
    (min, sum / n, max)
}

#[test]
fn failover_after_master_crash() {
    let (min, avg, max) = failover(false);
    eprintln!("failover after master crash: min {min} ms, avg {avg} ms, max {max} ms");
    assert!(max < 3_000, "failover took {max} ms");
}

#[test]
fn failover_after_master_isolation() {
    let (min, avg, max) = failover(true);
    eprintln!("failover after master isolation: min {min} ms, avg {avg} ms, max {max} ms");
    assert!(max < 3_000, "failover took {max} ms");
}

#[test]
fn an_isolated_master_stops_serving_within_its_lease() {
    let mut sim = started(SimConfig::new(42));
    assert_eq!(sim.until_serving(3_000).map(|(_, w)| w), Some(1));
    sim.run_until(sim.now + 1_000);
    sim.isolate(1);
    let cut = sim.now;
    sim.run_until(cut + 1_000);
    let stopped = sim
        .serving_log
        .iter()
        .find(|(t, who)| *t >= cut && *who != Some(1))
        .map(|(t, _)| *t)
        .expect("primary stopped serving");
    let lease = triad::MemberConfig::new(1).lease_ms();
    assert!(stopped - cut <= lease, "stopped after {} ms", stopped - cut);
}

fn primary_returns(pim: bool) -> Sim {
    let mut cfg = SimConfig::new(5);
    cfg.primary_is_master = pim;
    let mut sim = started(cfg);
    assert_eq!(sim.until_serving(3_000).map(|(_, w)| w), Some(1));
    sim.crash(1);
    assert!(sim.until_serves(2, 3_000).is_some());
    sim.run_until(sim.now + 2_000);
    sim.start(1);
    sim
}

#[test]
fn primary_is_master_takes_mastership_back() {
    let mut sim = primary_returns(true);
    let back = sim.now;
    let at = sim.until_serves(1, 5_000).expect("primary serves again");
    eprintln!("primary serves again {} ms after restarting", at - back);
}

#[test]
fn without_primary_is_master_the_secondary_keeps_it() {
    let mut sim = primary_returns(false);
    let from = sim.now;
    sim.run_until(from + 10_000);
    let changes: Vec<_> = sim.serving_log.iter().filter(|(t, _)| *t > from).collect();
    assert!(changes.is_empty(), "mastership moved: {changes:?}");
    assert_eq!(sim.serving, Some(2));
}

#[test]
fn any_pair_but_the_tertiary_alone_serves() {
    for (down, expect) in [(2, Some(1)), (1, Some(2))] {
        let mut sim = started(SimConfig::new(9));
        sim.crash(down);
        let got = sim.until_serving(4_000).map(|(_, w)| w);
        // The secondary only takes over once the primary's lease is gone.
        assert_eq!(got, expect, "with member {down} down");
        sim.run_until(sim.now + 2_000);
        assert_eq!(sim.serving, expect);
    }
    // The tertiary alone never serves, nor with no one to vote for it.
    let mut sim = started(SimConfig::new(10));
    sim.crash(1);
    sim.crash(2);
    sim.run_until(sim.now + 10_000);
    assert_eq!(sim.serving, None);
    // One member alone cannot serve either.
    let mut sim = started(SimConfig::new(11));
    sim.crash(2);
    sim.crash(3);
    sim.run_until(sim.now + 5_000);
    assert_eq!(sim.serving, None);
}

#[test]
fn every_cut_of_the_links() {
    // Each of the 64 sets of cut directions, held for 3 s, then healed.
    for mask in 0u32..64 {
        let mut sim = started(SimConfig::new(u64::from(mask) + 500));
        sim.until_serving(3_000);
        let mut k = 0;
        for from in 1..=3usize {
            for to in 1..=3usize {
                if from != to {
                    sim.cut[from][to] = mask & (1 << k) != 0;
                    k += 1;
                }
            }
        }
        sim.run_until(sim.now + 3_000);
        sim.heal();
        assert!(
            sim.until_serving(HEAL_BOUND_MS).is_some(),
            "no master after healing cut mask {mask:#b}"
        );
    }
}
