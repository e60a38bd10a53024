//! License pools: what a vendor daemon counts, built from a file's lines.
//!
//! The rules, in the order they apply:
//! 1. Lines that are not servable (bad signature, no server...) and lines
//!    expired on `today` take no part. SUPERSEDE lines retire older lines.
//! 2. PACKAGE lines expand the FEATURE/INCREMENT lines that enable them into
//!    component lines (component version overrides; counts multiply; with
//!    OPTIONS=SUITE the package feature itself stays and every component
//!    also takes a suite license).
//! 3. Lines are put in the order of precedence, per feature: FEATURE before
//!    INCREMENT, uncounted before counted, higher versions first, newest
//!    ISSUED=/START= first, then file order. A `sort=` attribute on any line
//!    of a feature switches that off: lines go by their sort value
//!    (default 100), then file order.
//! 4. Uncounted lines each stand alone. Only the first counted FEATURE line
//!    of a feature counts; later ones are shadowed. An INCREMENT adds its
//!    count to the pool with the same key (feature, version, hostids,
//!    DUP_GROUP, FLOAT_OK, HOST_BASED, USER_BASED, PLATFORMS), or opens a
//!    new pool.
//! 5. Each UPGRADE takes up to its count from the closest preceding line
//!    with version in [from, to) and moves them to a pool at the new version.

use crate::date::{Date, Expiry};
use crate::hostid::HostId;
use crate::model::{DupGroup, EntryKind, Feature, FeatureKind, LicenseFile, Package};
use crate::version::Version;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// One contribution of licenses to a pool, from one line.
#[derive(Debug, Clone, Serialize)]
pub struct Contribution {
    /// First physical line of the contributing license line.
    pub line: u32,
    pub count: u32,
    /// Licenses this line gave up to later UPGRADE lines.
    pub upgraded_away: u32,
    pub start: Option<Date>,
    pub expiry: Expiry,
}

impl Contribution {
    fn active(&self, today: Date) -> bool {
        !self.expiry.is_expired(today) && self.start.is_none_or(|s| s <= today)
    }
}

/// A group of licenses counted together.
#[derive(Debug, Clone, Serialize)]
pub struct Pool {
    pub vendor: String,
    pub feature: String,
    pub version: Version,
    pub counted: bool,
    pub hostids: Option<Vec<HostId>>,
    pub dup_group: Option<DupGroup>,
    pub overdraft: u32,
    pub borrow_hours: Option<u32>,
    pub float_ok: bool,
    pub user_based: Option<Option<u32>>,
    pub host_based: Option<Option<u32>>,
    pub platforms: Vec<String>,
    /// VENDOR_STRING of the first line of the pool.
    pub vendor_string: Option<String>,
    /// For a SUITE component: the suite feature checked out with it.
    pub suite: Option<String>,
    /// The PACKAGE the pool was expanded from.
    pub package: Option<String>,
    pub contributions: Vec<Contribution>,
    /// The signed line(s) behind the pool, sent with each grant so that
    /// applications can check them (filled by the vendor daemon, see
    /// [`crate::publisher::pool_proof`]; empty until then).
    #[serde(skip)]
    pub proof: std::sync::Arc<[crate::sign_field::SignedLine]>,
}

impl Pool {
    /// Licenses usable on `today` (0 for uncounted pools, which have no limit).
    pub fn issued(&self, today: Date) -> u32 {
        self.contributions
            .iter()
            .filter(|c| c.active(today))
            .map(|c| c.count)
            .fold(0u32, u32::saturating_add)
    }

    /// Whether any line of the pool can be used on `today`.
    pub fn is_active(&self, today: Date) -> bool {
        self.contributions.iter().any(|c| c.active(today))
    }

    /// The latest expiry among the pool's lines.
    pub fn expiry(&self) -> Expiry {
        self.contributions
            .iter()
            .map(|c| c.expiry)
            .max_by_key(|e| match e {
                Expiry::Permanent => (1, None),
                Expiry::On(d) => (0, Some(*d)),
            })
            .unwrap_or(Expiry::Permanent)
    }

    pub fn is_node_locked(&self) -> bool {
        self.hostids
            .as_ref()
            .is_some_and(|ids| ids.iter().any(|id| !id.is_unrestricted()))
    }
}

/// What became of one FEATURE-like or PACKAGE line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum LineOutcome {
    /// Adds licenses to these pools (indices into `PoolSet::pools`).
    Pooled { pools: Vec<usize> },
    /// Expired on the date the pools were built for.
    Expired,
    /// A counted FEATURE line after the first one for the same feature.
    Shadowed { by_line: u32 },
    /// Retired by a later SUPERSEDE line.
    Superseded { by_line: u32 },
    /// An UPGRADE with no earlier line in its version range.
    NothingToUpgrade,
    /// A PACKAGE definition (it licenses nothing by itself).
    PackageDefinition,
    /// Not used, for the reason given (signature, missing server...).
    NotServed { reason: String },
}

/// The pools of a file, and what happened to each line.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PoolSet {
    pub pools: Vec<Pool>,
    /// Outcome per entry index of the file (FEATURE-like and PACKAGE lines).
    pub outcomes: HashMap<usize, LineOutcome>,
}

impl PoolSet {
    /// Pools of one feature, in the order of precedence.
    pub fn for_feature<'a>(
        &'a self,
        vendor: &'a str,
        feature: &'a str,
    ) -> impl Iterator<Item = &'a Pool> + 'a {
        self.pools
            .iter()
            .filter(move |p| p.vendor == vendor && p.feature == feature)
    }
}

/// A FEATURE-like line after PACKAGE expansion.
struct Candidate<'a> {
    entry: usize,
    line: u32,
    feature: &'a Feature,
    name: &'a str,
    /// Index of (vendor, name) in [`Features`].
    group: usize,
    version: &'a Version,
    count: u32,
    suite: Option<Cow<'a, str>>,
    package: Option<Cow<'a, str>>,
}

/// A small fast hash for the maps that live only while pools are built.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Every (vendor, feature) met while building, numbered, with its pools
/// in creation order.
#[derive(Default)]
struct Features<'a> {
    ids: FastMap<(&'a str, &'a str), usize>,
    keys: Vec<(&'a str, &'a str)>,
    pools: Vec<Vec<usize>>,
    /// The empty proof every new pool starts with, shared: an `Arc` of
    /// its own would be an allocation per pool.
    no_proof: std::sync::Arc<[crate::sign_field::SignedLine]>,
}

impl<'a> Features<'a> {
    fn id(&mut self, vendor: &'a str, name: &'a str) -> usize {
        let next = self.keys.len();
        let id = *self.ids.entry((vendor, name)).or_insert(next);
        if id == next {
            self.keys.push((vendor, name));
            self.pools.push(Vec::new());
        }
        id
    }
}

/// Builds the pools of `file` for `today`. `not_served` gives, per entry
/// index, the reason a line cannot be used (for example a bad signature);
/// such lines take no part.
pub fn build_pools(
    file: &LicenseFile,
    not_served: &HashMap<usize, String>,
    today: Date,
) -> PoolSet {
    let mut set = PoolSet::default();
    set.outcomes.reserve(file.entries.len());
    for (idx, reason) in not_served {
        set.outcomes.insert(
            *idx,
            LineOutcome::NotServed {
                reason: reason.clone(),
            },
        );
    }
    let usable = |idx: &usize| !not_served.contains_key(idx);

    let packages: Vec<(usize, &Package)> = file
        .entries
        .iter()
        .enumerate()
        .filter(|(i, _)| usable(i))
        .filter_map(|(i, e)| match &e.kind {
            EntryKind::Package(p) => Some((i, p)),
            _ => None,
        })
        .collect();
    for (i, _) in &packages {
        set.outcomes.insert(*i, LineOutcome::PackageDefinition);
    }

    let features: Vec<(usize, u32, &Feature)> = file
        .entries
        .iter()
        .enumerate()
        .filter(|(i, _)| usable(i))
        .filter_map(|(i, e)| match &e.kind {
            EntryKind::Feature(f) => Some((i, e.line, f)),
            _ => None,
        })
        .collect();
    // Only lines that carry SUPERSEDE can retire others.
    let superseders: Vec<(usize, u32, &Feature)> = features
        .iter()
        .copied()
        .filter(|(_, _, f)| f.supersede.is_some())
        .collect();

    let mut groups = Features::default();
    let mut candidates = Vec::with_capacity(features.len());
    let mut upgrades = Vec::new();
    for &(idx, line, f) in &features {
        if f.expiry.is_expired(today) {
            set.outcomes.insert(idx, LineOutcome::Expired);
            continue;
        }
        if let Some(by_line) = superseded_by(f, line, &superseders, today) {
            set.outcomes
                .insert(idx, LineOutcome::Superseded { by_line });
            continue;
        }
        if matches!(f.kind, FeatureKind::Upgrade { .. }) {
            upgrades.push((idx, line, f));
            continue;
        }
        expand(idx, line, f, &packages, &mut groups, &mut candidates);
    }

    order_by_precedence(&mut candidates, &groups);

    set.pools.reserve(candidates.len());
    let mut first_feature: Vec<Option<u32>> = vec![None; groups.keys.len()];
    for c in &candidates {
        let pool = if c.count == 0 {
            Some(new_pool(&mut set, &mut groups, c))
        } else if c.feature.kind == FeatureKind::Feature {
            match first_feature[c.group] {
                Some(by_line) if by_line != c.line => {
                    set.outcomes
                        .entry(c.entry)
                        .or_insert(LineOutcome::Shadowed { by_line });
                    None
                }
                _ => {
                    first_feature[c.group] = Some(c.line);
                    Some(find_or_new_pool(&mut set, &mut groups, c))
                }
            }
        } else {
            Some(find_or_new_pool(&mut set, &mut groups, c))
        };
        if let Some(p) = pool {
            set.pools[p].contributions.push(Contribution {
                line: c.line,
                count: c.count,
                upgraded_away: 0,
                start: c.feature.start,
                expiry: c.feature.expiry,
            });
            let outcome = set
                .outcomes
                .entry(c.entry)
                .or_insert_with(|| LineOutcome::Pooled {
                    pools: Vec::with_capacity(1),
                });
            // A PACKAGE line expands into several candidates: the line
            // serves if any of them is pooled, even if another is shadowed.
            if matches!(outcome, LineOutcome::Shadowed { .. }) {
                *outcome = LineOutcome::Pooled { pools: Vec::new() };
            }
            if let LineOutcome::Pooled { pools } = outcome {
                pools.push(p);
            }
        }
    }

    for (idx, line, f) in upgrades {
        apply_upgrade(&mut set, &mut groups, idx, line, f);
    }
    set
}
/// The line of a SUPERSEDE line issued after `f` that retires it.
fn superseded_by(
    f: &Feature,
    line: u32,
    all: &[(usize, u32, &Feature)],
    today: Date,
) -> Option<u32> {
    all.iter().find_map(|&(_, by_line, s)| {
        // An expired line retires nothing: it no longer applies at all.
        if s.expiry.is_expired(today) {
            return None;
        }
        let listed = s.supersede.as_ref()?;
        let names_f = if listed.is_empty() {
            s.name == f.name
        } else {
            listed.iter().any(|n| *n == f.name)
        };
        let newer = match (s.issued, f.issued_or_start()) {
            (Some(cut), Some(mine)) => mine < cut,
            (Some(_), None) => true,
            (None, _) => false,
        };
        (by_line != line && s.vendor == f.vendor && names_f && newer).then_some(by_line)
    })
}

/// Turns a line into candidates, expanding the packages it enables.
fn expand<'a>(
    idx: usize,
    line: u32,
    f: &'a Feature,
    packages: &[(usize, &'a Package)],
    groups: &mut Features<'a>,
    out: &mut Vec<Candidate<'a>>,
) {
    let enabled = packages.iter().find(|(_, p)| {
        p.vendor == f.vendor
            && p.name == f.name
            && p.version.as_ref().is_none_or(|v| *v == f.version)
    });
    let mut base = |name: &'a str, version: &'a Version, count: u32| Candidate {
        entry: idx,
        line,
        feature: f,
        name,
        group: groups.id(&f.vendor, name),
        version,
        count,
        suite: None,
        package: None,
    };
    let Some((_, pkg)) = enabled else {
        out.push(base(&f.name, &f.version, f.count));
        return;
    };
    if pkg.suite {
        out.push(base(&f.name, &f.version, f.count));
    }
    for comp in &pkg.components {
        let version = comp.version.as_ref().unwrap_or(&f.version);
        let count = f.count.saturating_mul(comp.count.unwrap_or(1));
        let mut c = base(&comp.name, version, count);
        c.package = Some(Cow::Borrowed(pkg.name.as_str()));
        c.suite = pkg.suite.then_some(Cow::Borrowed(pkg.name.as_str()));
        out.push(c);
    }
}

fn order_by_precedence(candidates: &mut Vec<Candidate>, groups: &Features) {
    // Each feature's lines stay together, features in order of first
    // appearance; `manual` records whether any of its lines has sort=.
    let n = groups.keys.len();
    let mut first = vec![usize::MAX; n];
    let mut manual = vec![false; n];
    for c in candidates.iter() {
        first[c.group] = first[c.group].min(c.entry);
        manual[c.group] |= c.feature.sort.is_some();
    }
    let mut by_rank: Vec<usize> = (0..n).collect();
    by_rank.sort_by(|&x, &y| (first[x], groups.keys[x]).cmp(&(first[y], groups.keys[y])));
    let mut rank_of = vec![0usize; n];
    for (rank, g) in by_rank.into_iter().enumerate() {
        rank_of[g] = rank;
    }
    let rank = |c: &Candidate| u8::from(c.feature.kind != FeatureKind::Feature);
    // Put the lines of each feature together (a stable counting sort by
    // feature rank), then order each feature's few lines.
    let mut bounds = vec![0usize; n + 1];
    for c in candidates.iter() {
        bounds[rank_of[c.group] + 1] += 1;
    }
    for i in 0..n {
        bounds[i + 1] += bounds[i];
    }
    let mut next = bounds.clone();
    let mut order = vec![0usize; candidates.len()];
    for (i, c) in candidates.iter().enumerate() {
        let slot = &mut next[rank_of[c.group]];
        order[*slot] = i;
        *slot += 1;
    }
    for r in 0..n {
        order[bounds[r]..bounds[r + 1]].sort_by(|&x, &y| {
            let (a, b) = (&candidates[x], &candidates[y]);
            if manual[a.group] {
                a.feature
                    .sort
                    .unwrap_or(100)
                    .cmp(&b.feature.sort.unwrap_or(100))
                    .then(a.entry.cmp(&b.entry))
            } else {
                rank(a)
                    .cmp(&rank(b))
                    .then((a.count > 0).cmp(&(b.count > 0)))
                    .then_with(|| b.version.cmp(a.version))
                    .then_with(|| {
                        b.feature
                            .issued_or_start()
                            .cmp(&a.feature.issued_or_start())
                    })
                    .then(a.entry.cmp(&b.entry))
            }
        });
    }
    let mut slots: Vec<Option<Candidate>> =
        std::mem::take(candidates).into_iter().map(Some).collect();
    candidates.extend(order.into_iter().filter_map(|i| slots[i].take()));
}

/// Fields that split INCREMENT lines into separate pools.
fn same_key(p: &Pool, c: &Candidate) -> bool {
    let f = c.feature;
    p.counted
        && p.vendor == f.vendor
        && p.feature == c.name
        && p.version == *c.version
        && p.hostids == f.hostids
        && p.dup_group == f.dup_group
        && p.float_ok == f.float_ok.is_some()
        && p.user_based == f.user_based
        && p.host_based == f.host_based
        && p.platforms == f.platforms
        && p.suite.as_deref() == c.suite.as_deref()
}

fn find_or_new_pool(set: &mut PoolSet, groups: &mut Features, c: &Candidate) -> usize {
    let found = groups.pools[c.group]
        .iter()
        .copied()
        .find(|&i| same_key(&set.pools[i], c));
    match found {
        Some(i) => {
            set.pools[i].overdraft = set.pools[i].overdraft.saturating_add(c.feature.overdraft);
            i
        }
        None => new_pool(set, groups, c),
    }
}

fn new_pool(set: &mut PoolSet, groups: &mut Features, c: &Candidate) -> usize {
    let f = c.feature;
    set.pools.push(Pool {
        vendor: f.vendor.as_str().to_owned(),
        feature: c.name.to_string(),
        version: c.version.clone(),
        counted: c.count > 0,
        hostids: f.hostids.clone(),
        dup_group: f.dup_group,
        overdraft: f.overdraft,
        borrow_hours: f.borrow_hours,
        float_ok: f.float_ok.is_some(),
        user_based: f.user_based,
        host_based: f.host_based,
        platforms: f.platforms.clone(),
        vendor_string: f.vendor_string.as_deref().map(str::to_string),
        suite: c.suite.as_deref().map(str::to_string),
        package: c.package.as_deref().map(str::to_string),
        // Most pools have the one line that opened them.
        contributions: Vec::with_capacity(1),
        proof: groups.no_proof.clone(),
    });
    let idx = set.pools.len() - 1;
    groups.pools[c.group].push(idx);
    idx
}

/// Moves licenses from the closest earlier line in [from, to) to `to`.
fn apply_upgrade<'a>(
    set: &mut PoolSet,
    groups: &mut Features<'a>,
    idx: usize,
    line: u32,
    u: &'a Feature,
) {
    let FeatureKind::Upgrade { from } = &u.kind else {
        return;
    };
    let group = groups.id(&u.vendor, &u.name);
    let mut best: Option<(usize, usize)> = None;
    // The pools of this vendor and feature, in creation order.
    for &pi in &groups.pools[group] {
        let pool = &set.pools[pi];
        if !pool.counted {
            continue;
        }
        if pool.version < *from || pool.version >= u.version {
            continue;
        }
        for (ci, c) in pool.contributions.iter().enumerate() {
            let closer = best.is_none_or(|(bp, bc)| set.pools[bp].contributions[bc].line < c.line);
            if c.line < line && c.count > 0 && closer {
                best = Some((pi, ci));
            }
        }
    }
    let Some((pi, ci)) = best else {
        set.outcomes.insert(idx, LineOutcome::NothingToUpgrade);
        return;
    };
    let source = &mut set.pools[pi].contributions[ci];
    let moved = source.count.min(u.count);
    source.count -= moved;
    source.upgraded_away += moved;
    let c = Candidate {
        entry: idx,
        line,
        feature: u,
        name: &u.name,
        group,
        version: &u.version,
        count: moved,
        suite: set.pools[pi].suite.clone().map(Cow::Owned),
        package: set.pools[pi].package.clone().map(Cow::Owned),
    };
    let p = find_or_new_pool(set, groups, &c);
    set.pools[p].contributions.push(Contribution {
        line,
        count: moved,
        upgraded_away: 0,
        start: u.start,
        expiry: u.expiry,
    });
    set.outcomes
        .insert(idx, LineOutcome::Pooled { pools: vec![p] });
}
