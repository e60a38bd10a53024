//! The options file compiled for evaluation, and the rules a vendor daemon
//! asks it about on every checkout.
//!
//! Compiling resolves everything that does not depend on the request: group
//! members become hash sets (folded once when GROUPCASEINSENSITIVE is ON),
//! host names are lower-cased and split into short and full forms, IP
//! patterns are parsed, and rules are filed under the feature they name.
//! An evaluation is then one hash lookup per scope (the feature, and the
//! package it belongs to) and a walk over the few rules filed there.

use super::matching::{parse_ip_pattern, Client, FeatureCtx, HostSet, Matcher, NameSet};
use super::model::*;
use crate::diag::{Diagnostic, Severity};
use std::collections::HashMap;
use std::sync::Arc;

/// FLEXlm error number: the user (host, display...) is on an EXCLUDE list.
pub const LM_FEATEXCLUDE: i32 = -38;
/// FLEXlm error number: there is an INCLUDE list and the user is not on it.
pub const LM_FEATNOTINCLUDE: i32 = -39;
/// FLEXlm error number: the checkout would go over an options-file MAX.
pub const LM_MAXLIMIT: i32 = -87;
/// FLEXlm error number: every free license is RESERVEd for someone else.
/// The options file says who holds reservations; deciding that nothing is
/// left is the accounting core's business, which owns the counts.
pub const LM_RESVFOROTHERS: i32 = -101;

/// Why the options file refuses a request. Refusals are data; each maps to
/// one FLEXlm error number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Denial {
    /// EXCLUDE or EXCLUDEALL on this line matches the client (-38).
    Excluded { line: u32 },
    /// An INCLUDE list applies to the feature and the client is not on it (-39).
    NotIncluded,
    /// The MAX on this line is reached (-87).
    OverMax { line: u32, limit: u32 },
    /// EXCLUDE_BORROW on this line matches the client (-38).
    BorrowExcluded { line: u32 },
    /// An INCLUDE_BORROW list applies and the client is not on it (-39).
    BorrowNotIncluded,
}

impl Denial {
    /// The FLEXlm error number.
    pub fn code(self) -> i32 {
        match self {
            Denial::Excluded { .. } | Denial::BorrowExcluded { .. } => LM_FEATEXCLUDE,
            Denial::NotIncluded | Denial::BorrowNotIncluded => LM_FEATNOTINCLUDE,
            Denial::OverMax { .. } => LM_MAXLIMIT,
        }
    }

    /// The options-file line responsible, when a single line is.
    pub fn line(self) -> Option<u32> {
        match self {
            Denial::Excluded { line }
            | Denial::BorrowExcluded { line }
            | Denial::OverMax { line, .. } => Some(line),
            Denial::NotIncluded | Denial::BorrowNotIncluded => None,
        }
    }
}

/// Identifies one RESERVE line within one [`Options`] value; `index()` runs
/// from 0 to [`Options::reservation_count`], so a daemon can keep per
/// reservation counts in a plain vector. Ids change when the file is read
/// again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReservationId(u32);

impl ReservationId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Identifies one MAX line within one [`Options`] value, like [`ReservationId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MaxId(u32);

impl MaxId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One RESERVE line: `count` licenses of the feature are set aside for
/// whoever the line names.
#[derive(Debug, Clone)]
pub struct Reservation {
    id: ReservationId,
    count: u32,
    feature: FeatureSpec,
    who: Who,
    matcher: Matcher,
    line: u32,
}

impl Reservation {
    pub fn id(&self) -> ReservationId {
        self.id
    }

    /// Licenses set aside by this line.
    pub fn count(&self) -> u32 {
        self.count
    }

    pub fn feature(&self) -> &FeatureSpec {
        &self.feature
    }

    pub fn who(&self) -> &Who {
        &self.who
    }

    pub fn line(&self) -> u32 {
        self.line
    }

    /// Is `client` one of those the licenses are reserved for? A group
    /// reservation is shared by all members; the others may not use it
    /// even while it is idle.
    pub fn applies_to(&self, client: &Client) -> bool {
        self.matcher.matches(client)
    }
}

/// One MAX line: those it names may hold at most `limit` licenses of the
/// feature, together.
#[derive(Debug, Clone)]
pub struct MaxRule {
    id: MaxId,
    limit: u32,
    feature: FeatureSpec,
    who: Who,
    matcher: Matcher,
    line: u32,
}

impl MaxRule {
    pub fn id(&self) -> MaxId {
        self.id
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    pub fn feature(&self) -> &FeatureSpec {
        &self.feature
    }

    pub fn who(&self) -> &Who {
        &self.who
    }

    pub fn line(&self) -> u32 {
        self.line
    }

    /// Does this cap count `client`'s licenses?
    pub fn applies_to(&self, client: &Client) -> bool {
        self.matcher.matches(client)
    }
}

/// A compiled INCLUDE/EXCLUDE-style line.
#[derive(Debug, Clone)]
struct AccessRule {
    filter: Option<Filter>,
    who: Who,
    matcher: Matcher,
    line: u32,
}

/// A per-feature number (TIMEOUT, LINGER, MAX_OVERDRAFT...).
#[derive(Debug, Clone)]
struct Setting {
    filter: Option<Filter>,
    value: u32,
    /// Position of the statement in the file; later wins among equals.
    order: usize,
}

/// Everything filed under one feature name (or under "all features").
#[derive(Debug, Clone, Default)]
struct RuleSet {
    include: Vec<AccessRule>,
    exclude: Vec<AccessRule>,
    include_borrow: Vec<AccessRule>,
    exclude_borrow: Vec<AccessRule>,
    reserve: Vec<ReservationId>,
    max: Vec<MaxId>,
    timeout: Vec<Setting>,
    linger: Vec<Setting>,
    max_overdraft: Vec<Setting>,
    borrow_lowwater: Vec<Setting>,
    max_borrow_hours: Vec<Setting>,
}

fn applies(filter: &Option<Filter>, ctx: &FeatureCtx<'_>) -> bool {
    filter.as_ref().is_none_or(|f| f.matches(ctx))
}

/// Outcome of one pair of lists.
enum Verdict {
    Allowed,
    Excluded(u32),
    NotIncluded,
}

/// A parsed and compiled options file. [`Options::default()`] is the empty
/// file: everyone may use everything, nothing is reserved or capped.
#[derive(Debug, Clone)]
pub struct Options {
    name: String,
    statements: Vec<Statement>,
    case_insensitive: bool,
    fqdn: FqdnMatching,
    automatic_reread: bool,
    daemon_select_timeout: Option<u32>,
    max_connections: Option<u32>,
    report_log: Option<LogFile>,
    debug_log: Option<LogFile>,
    nolog: u8,
    timeout_all: Option<u32>,
    groups: HashMap<String, Vec<String>>,
    host_groups: HashMap<String, Vec<String>>,
    /// INCLUDEALL and EXCLUDEALL.
    all: RuleSet,
    features: HashMap<Box<str>, RuleSet>,
    reservations: Vec<Reservation>,
    maxes: Vec<MaxRule>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            name: String::new(),
            statements: Vec::new(),
            case_insensitive: false,
            fqdn: FqdnMatching::default(),
            automatic_reread: true,
            daemon_select_timeout: None,
            max_connections: None,
            report_log: None,
            debug_log: None,
            nolog: 0,
            timeout_all: None,
            groups: HashMap::new(),
            host_groups: HashMap::new(),
            all: RuleSet::default(),
            features: HashMap::new(),
            reservations: Vec::new(),
            maxes: Vec::new(),
        }
    }
}

impl Options {
    /// Parses and compiles an options file. Never fails and never panics:
    /// every problem is a [`Diagnostic`] (file:line:column), lines with an
    /// error are left out, and the rest is used.
    pub fn parse(name: &str, text: &str) -> (Options, Vec<Diagnostic>) {
        let (statements, mut diags) = super::parse::parse_statements(name, text);
        let options = compile(name, statements, &mut diags);
        diags.sort_by_key(|d| (d.line, d.column));
        (options, diags)
    }

    /// Reads and parses an options file from disk. 8-bit text that is not
    /// UTF-8 is read as Latin-1 rather than refused.
    pub fn read(path: &std::path::Path) -> std::io::Result<(Options, Vec<Diagnostic>)> {
        let bytes = std::fs::read(path)?;
        let text = String::from_utf8(bytes)
            .unwrap_or_else(|e| e.into_bytes().iter().map(|&b| b as char).collect());
        Ok(Options::parse(&path.display().to_string(), &text))
    }

    /// The name diagnostics use for this file.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The usable lines, in file order.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// Features (or packages) the file names, with the line naming them, so
    /// a daemon can warn about rules for features it does not serve.
    pub fn referenced_features(&self) -> impl Iterator<Item = (&str, u32)> {
        self.statements.iter().filter_map(|s| {
            let spec = match &s.kind {
                StatementKind::Access {
                    feature: Some(f), ..
                }
                | StatementKind::Reserve { feature: f, .. }
                | StatementKind::Max { feature: f, .. }
                | StatementKind::MaxOverdraft { feature: f, .. }
                | StatementKind::Timeout { feature: f, .. }
                | StatementKind::Linger { feature: f, .. }
                | StatementKind::BorrowLowwater { feature: f, .. }
                | StatementKind::MaxBorrowHours { feature: f, .. } => f,
                _ => return None,
            };
            Some((spec.name.as_str(), s.line))
        })
    }

    /// Members of a GROUP, every GROUP line of that name together.
    pub fn group(&self, name: &str) -> Option<&[String]> {
        self.groups.get(name).map(Vec::as_slice)
    }

    /// Members of a HOST_GROUP, every line of that name together.
    pub fn host_group(&self, name: &str) -> Option<&[String]> {
        self.host_groups.get(name).map(Vec::as_slice)
    }

    /// The feature's own rules, then the rules of the package it belongs to.
    /// The flag says whether the scope names the feature itself.
    fn scopes(&self, ctx: &FeatureCtx<'_>) -> [Option<(&RuleSet, bool)>; 2] {
        let direct = self.features.get(ctx.name).map(|r| (r, true));
        let package = ctx
            .package
            .filter(|p| *p != ctx.name)
            .and_then(|p| self.features.get(p))
            .map(|r| (r, false));
        [direct, package]
    }

    /// Applies one include list and one exclude list, FLEXlm's way:
    /// exclusion is checked first, so someone on both lists is refused; an
    /// include list, once it exists for the feature, admits only those on
    /// it; with no include list everyone not excluded is admitted.
    fn decide(
        &self,
        ctx: &FeatureCtx<'_>,
        client: &Client,
        all: bool,
        excludes: fn(&RuleSet) -> &[AccessRule],
        includes: fn(&RuleSet) -> &[AccessRule],
    ) -> Verdict {
        let all_scope = all.then_some((&self.all, false));
        let scopes = self.scopes(ctx);
        let scopes = || scopes.into_iter().chain([all_scope]).flatten();
        let excluded_by = scopes()
            .flat_map(|(r, _)| excludes(r))
            .filter(|rule| applies(&rule.filter, ctx) && rule.matcher.matches(client))
            .map(|rule| rule.line)
            .min();
        if let Some(line) = excluded_by {
            return Verdict::Excluded(line);
        }
        let mut listed = false;
        for rule in scopes().flat_map(|(r, _)| includes(r)) {
            if applies(&rule.filter, ctx) {
                if rule.matcher.matches(client) {
                    return Verdict::Allowed;
                }
                listed = true;
            }
        }
        if listed {
            Verdict::NotIncluded
        } else {
            Verdict::Allowed
        }
    }

    /// May `client` check out the feature described by `ctx`?
    ///
    /// EXCLUDE and EXCLUDEALL are checked before INCLUDE and INCLUDEALL, so
    /// a user on both kinds of list is refused (-38): FLEXlm does it this
    /// way so that an administrator can carve one person out of a group
    /// that is otherwise let in. If any INCLUDE or INCLUDEALL line applies
    /// to the feature, only those it names are admitted (-39 for the rest);
    /// with none, everyone not excluded is. A `feature:keyword=value` rule
    /// applies only to licenses with that attribute, so an include list for
    /// `f1:VERSION=2.0` leaves version 1.0 pools open to all.
    ///
    /// Call it once per candidate pool: pools of one feature can differ in
    /// the attributes filters select on. RESERVE and MAX come after this
    /// check: a refused client never reaches them.
    pub fn access(&self, ctx: &FeatureCtx<'_>, client: &Client) -> Result<(), Denial> {
        match self.decide(ctx, client, true, |r| &r.exclude, |r| &r.include) {
            Verdict::Allowed => Ok(()),
            Verdict::Excluded(line) => Err(Denial::Excluded { line }),
            Verdict::NotIncluded => Err(Denial::NotIncluded),
        }
    }

    /// May `client` borrow the feature described by `ctx`?
    ///
    /// A borrow is a checkout that outlives the connection, so the client
    /// must first pass [`Options::access`]. Then EXCLUDE_BORROW beats
    /// INCLUDE_BORROW the same way EXCLUDE beats INCLUDE, and an
    /// INCLUDE_BORROW list admits only those it names. INCLUDEALL and
    /// EXCLUDEALL are part of `access`; there are no "ALL" borrow lists.
    pub fn borrow_access(&self, ctx: &FeatureCtx<'_>, client: &Client) -> Result<(), Denial> {
        self.access(ctx, client)?;
        match self.decide(
            ctx,
            client,
            false,
            |r| &r.exclude_borrow,
            |r| &r.include_borrow,
        ) {
            Verdict::Allowed => Ok(()),
            Verdict::Excluded(line) => Err(Denial::BorrowExcluded { line }),
            Verdict::NotIncluded => Err(Denial::BorrowNotIncluded),
        }
    }

    /// Who the INCLUDE and INCLUDEALL lines applying to the feature name, in
    /// the order of their scopes. A USER_BASED (HOST_BASED) license is for
    /// the users (hosts) listed here, so a daemon counts them against the
    /// line's limit when it loads the file; [`Options::group`] and
    /// [`Options::host_group`] expand the groups.
    pub fn include_list<'s: 'c, 'c>(
        &'s self,
        ctx: &'c FeatureCtx<'c>,
    ) -> impl Iterator<Item = &'s Who> + 'c {
        self.scopes(ctx)
            .into_iter()
            .chain([Some((&self.all, false))])
            .flatten()
            .flat_map(|(r, _)| r.include.iter())
            .filter(move |rule| applies(&rule.filter, ctx))
            .map(|rule| &rule.who)
    }

    /// RESERVE lines that apply to the feature described by `ctx` (lines
    /// naming its package included), in file order within each scope.
    ///
    /// Reserved licenses are unavailable to everyone else even while
    /// unused: that is what a reservation is for (a project that must
    /// never wait). The accounting core keeps, per [`ReservationId`], how
    /// many of its licenses are in use; a client for whom
    /// [`Reservation::applies_to`] holds draws from its reservation first,
    /// and anyone else may only use what is left after every reservation's
    /// unused part (refused with [`LM_RESVFOROTHERS`] when that is nothing).
    pub fn reservations<'s: 'c, 'c>(
        &'s self,
        ctx: &'c FeatureCtx<'c>,
    ) -> impl Iterator<Item = &'s Reservation> + 'c {
        self.scopes(ctx)
            .into_iter()
            .flatten()
            .flat_map(|(r, _)| r.reserve.iter())
            .map(|id| &self.reservations[id.index()])
            .filter(move |r| applies(&r.feature.filter, ctx))
    }

    /// Every RESERVE line, indexed by [`ReservationId::index`].
    pub fn all_reservations(&self) -> &[Reservation] {
        &self.reservations
    }

    /// Number of RESERVE lines: the size of a per-reservation vector.
    pub fn reservation_count(&self) -> usize {
        self.reservations.len()
    }

    /// MAX lines that count `client`'s use of the feature described by `ctx`.
    ///
    /// A MAX for a group, host group or address pattern caps everyone it
    /// matches together, which is how sites keep one team from taking the
    /// whole pool; a MAX for a USER caps that user. When several lines
    /// apply, each must hold, so the tightest decides.
    pub fn limits<'s: 'c, 'c>(
        &'s self,
        ctx: &'c FeatureCtx<'c>,
        client: &'c Client,
    ) -> impl Iterator<Item = &'s MaxRule> + 'c {
        self.scopes(ctx)
            .into_iter()
            .flatten()
            .flat_map(|(r, _)| r.max.iter())
            .map(|id| &self.maxes[id.index()])
            .filter(move |m| applies(&m.feature.filter, ctx) && m.matcher.matches(client))
    }

    /// Checks every MAX that counts `client` for a request of `requested`
    /// licenses. `in_use(id)` is how many licenses the people that MAX line
    /// counts hold now, which the accounting core tracks per [`MaxId`].
    /// Refuses with the first line that would be exceeded (-87).
    ///
    /// FLEXlm documents that MAX does not limit borrowing; the core should
    /// not call this for borrow requests, nor count borrowed licenses.
    pub fn check_max(
        &self,
        ctx: &FeatureCtx<'_>,
        client: &Client,
        requested: u32,
        mut in_use: impl FnMut(MaxId) -> u32,
    ) -> Result<(), Denial> {
        for m in self.limits(ctx, client) {
            if in_use(m.id).saturating_add(requested) > m.limit {
                return Err(Denial::OverMax {
                    line: m.line,
                    limit: m.limit,
                });
            }
        }
        Ok(())
    }

    /// Every MAX line, indexed by [`MaxId::index`].
    pub fn all_limits(&self) -> &[MaxRule] {
        &self.maxes
    }

    /// Number of MAX lines: the size of a per-limit vector.
    pub fn max_rule_count(&self) -> usize {
        self.maxes.len()
    }

    /// The most specific value of a per-feature number: a line naming the
    /// feature with a matching `:keyword=value` beats one naming the feature
    /// alone, which beats one naming its package (with, then without, a
    /// filter). Among equally specific lines the last one in the file wins,
    /// as FLEXlm documents for MAX_BORROW_HOURS.
    fn setting(&self, ctx: &FeatureCtx<'_>, pick: fn(&RuleSet) -> &[Setting]) -> Option<u32> {
        let mut best: Option<((u8, usize), u32)> = None;
        for (rules, direct) in self.scopes(ctx).into_iter().flatten() {
            for s in pick(rules) {
                if !applies(&s.filter, ctx) {
                    continue;
                }
                let rank = (2 * u8::from(direct) + u8::from(s.filter.is_some()), s.order);
                if best.is_none_or(|(r, _)| rank > r) {
                    best = Some((rank, s.value));
                }
            }
        }
        best.map(|(_, v)| v)
    }

    /// Idle seconds after which a client's license of this feature may be
    /// reclaimed: the most specific TIMEOUT, else TIMEOUTALL. The vendor's
    /// minimum applies on top (the larger wins); that minimum is the
    /// daemon's, not the file's.
    pub fn timeout(&self, ctx: &FeatureCtx<'_>) -> Option<u32> {
        self.setting(ctx, |r| &r.timeout).or(self.timeout_all)
    }

    /// LINGER seconds for the feature, most specific line first.
    pub fn linger(&self, ctx: &FeatureCtx<'_>) -> Option<u32> {
        self.setting(ctx, |r| &r.linger)
    }

    /// The linger to apply, given the license line's own LINGER=: the
    /// options file may only extend what the vendor set, never shorten it.
    pub fn effective_linger(&self, ctx: &FeatureCtx<'_>, license_linger: u32) -> u32 {
        self.linger(ctx)
            .map_or(license_linger, |l| l.max(license_linger))
    }

    /// MAX_OVERDRAFT for the feature: at most this many licenses beyond the
    /// count, even if the line's OVERDRAFT= allows more.
    pub fn max_overdraft(&self, ctx: &FeatureCtx<'_>) -> Option<u32> {
        self.setting(ctx, |r| &r.max_overdraft)
    }

    /// The overdraft to allow, given the line's OVERDRAFT=: an administrator
    /// can lower it (to keep a true-up bill down), never raise it.
    pub fn effective_overdraft(&self, ctx: &FeatureCtx<'_>, license_overdraft: u32) -> u32 {
        self.max_overdraft(ctx)
            .map_or(license_overdraft, |m| m.min(license_overdraft))
    }

    /// BORROW_LOWWATER: licenses of the feature that may not be borrowed,
    /// so people in the office always find some.
    pub fn borrow_lowwater(&self, ctx: &FeatureCtx<'_>) -> Option<u32> {
        self.setting(ctx, |r| &r.borrow_lowwater)
    }

    /// MAX_BORROW_HOURS for the feature.
    pub fn max_borrow_hours(&self, ctx: &FeatureCtx<'_>) -> Option<u32> {
        self.setting(ctx, |r| &r.max_borrow_hours)
    }

    /// The longest borrow to allow, given the line's BORROW= hours: the
    /// options file can only shorten the vendor's period.
    pub fn effective_borrow_hours(&self, ctx: &FeatureCtx<'_>, license_hours: u32) -> u32 {
        self.max_borrow_hours(ctx)
            .map_or(license_hours, |h| h.min(license_hours))
    }

    /// Whether NOLOG silences this class of debug-log lines.
    pub fn nolog(&self, class: LogClass) -> bool {
        self.nolog & class.bit() != 0
    }

    /// REPORTLOG: the last one in the file.
    pub fn report_log(&self) -> Option<&LogFile> {
        self.report_log.as_ref()
    }

    /// DEBUGLOG: the last one in the file.
    pub fn debug_log(&self) -> Option<&LogFile> {
        self.debug_log.as_ref()
    }

    /// TIMEOUTALL, the last one in the file.
    pub fn timeout_all(&self) -> Option<u32> {
        self.timeout_all
    }

    /// False after `AUTOMATIC_REREAD OFF`.
    pub fn automatic_reread(&self) -> bool {
        self.automatic_reread
    }

    pub fn fqdn_matching(&self) -> FqdnMatching {
        self.fqdn
    }

    pub fn group_case_insensitive(&self) -> bool {
        self.case_insensitive
    }

    pub fn daemon_select_timeout(&self) -> Option<u32> {
        self.daemon_select_timeout
    }

    pub fn max_connections(&self) -> Option<u32> {
        self.max_connections
    }
}

/// Builds the evaluator from the statements. Settings that change how
/// names match (GROUPCASEINSENSITIVE, FQDN_MATCHING) and group definitions
/// apply to the whole file wherever they are written, because an
/// administrator reads the file as a whole, not as a script.
fn compile(name: &str, statements: Vec<Statement>, diags: &mut Vec<Diagnostic>) -> Options {
    let mut o = Options {
        name: name.to_string(),
        ..Options::default()
    };
    for s in &statements {
        match &s.kind {
            StatementKind::GroupCaseInsensitive(on) => o.case_insensitive = *on,
            StatementKind::FqdnMatching(m) => o.fqdn = *m,
            StatementKind::Group { name, members } => o
                .groups
                .entry(name.clone())
                .or_default()
                .extend(members.iter().cloned()),
            StatementKind::HostGroup { name, members } => o
                .host_groups
                .entry(name.clone())
                .or_default()
                .extend(members.iter().cloned()),
            _ => {}
        }
    }
    let user_sets: HashMap<&str, Arc<NameSet>> = o
        .groups
        .iter()
        .map(|(n, m)| {
            let set = NameSet::new(m.iter().map(String::as_str), o.case_insensitive);
            (n.as_str(), Arc::new(set))
        })
        .collect();
    let host_sets: HashMap<&str, Arc<HostSet>> = o
        .host_groups
        .iter()
        .map(|(n, m)| {
            let set = HostSet::new(m.iter().map(String::as_str), o.fqdn);
            (n.as_str(), Arc::new(set))
        })
        .collect();
    let mut c = Compiler {
        file: name,
        fqdn: o.fqdn,
        user_sets,
        host_sets,
        diags,
        all: RuleSet::default(),
        features: HashMap::new(),
        reservations: Vec::new(),
        maxes: Vec::new(),
    };
    for (order, s) in statements.iter().enumerate() {
        let line = s.line;
        let setting = |feature: &FeatureSpec, value: u32| Setting {
            filter: feature.filter.clone(),
            value,
            order,
        };
        match &s.kind {
            StatementKind::Access { list, feature, who } => {
                let rule = AccessRule {
                    filter: feature.as_ref().and_then(|f| f.filter.clone()),
                    who: who.clone(),
                    matcher: c.matcher(who),
                    line,
                };
                let rules = match feature {
                    Some(f) => c.features.entry(f.name.as_str().into()).or_default(),
                    None => &mut c.all,
                };
                match list {
                    AccessList::Include | AccessList::IncludeAll => rules.include.push(rule),
                    AccessList::Exclude | AccessList::ExcludeAll => rules.exclude.push(rule),
                    AccessList::IncludeBorrow => rules.include_borrow.push(rule),
                    AccessList::ExcludeBorrow => rules.exclude_borrow.push(rule),
                }
            }
            StatementKind::Reserve {
                count,
                feature,
                who,
            } => {
                let id = ReservationId(c.reservations.len() as u32);
                let matcher = c.matcher(who);
                c.reservations.push(Reservation {
                    id,
                    count: *count,
                    feature: feature.clone(),
                    who: who.clone(),
                    matcher,
                    line,
                });
                c.scope(feature).reserve.push(id);
            }
            StatementKind::Max {
                count,
                feature,
                who,
            } => {
                let id = MaxId(c.maxes.len() as u32);
                let matcher = c.matcher(who);
                c.maxes.push(MaxRule {
                    id,
                    limit: *count,
                    feature: feature.clone(),
                    who: who.clone(),
                    matcher,
                    line,
                });
                c.scope(feature).max.push(id);
            }
            StatementKind::MaxOverdraft { feature, count } => {
                let s = setting(feature, *count);
                c.scope(feature).max_overdraft.push(s);
            }
            StatementKind::Timeout { feature, seconds } => {
                let s = setting(feature, *seconds);
                c.scope(feature).timeout.push(s);
            }
            StatementKind::Linger { feature, seconds } => {
                let s = setting(feature, *seconds);
                c.scope(feature).linger.push(s);
            }
            StatementKind::BorrowLowwater { feature, count } => {
                let s = setting(feature, *count);
                c.scope(feature).borrow_lowwater.push(s);
            }
            StatementKind::MaxBorrowHours { feature, hours } => {
                let s = setting(feature, *hours);
                c.scope(feature).max_borrow_hours.push(s);
            }
            StatementKind::TimeoutAll { seconds } => o.timeout_all = Some(*seconds),
            StatementKind::NoLog(classes) => {
                for class in classes {
                    o.nolog |= class.bit();
                }
            }
            StatementKind::ReportLog(f) => o.report_log = Some(f.clone()),
            StatementKind::DebugLog(f) => o.debug_log = Some(f.clone()),
            StatementKind::AutomaticReread(on) => o.automatic_reread = *on,
            StatementKind::DaemonSelectTimeout(n) => o.daemon_select_timeout = Some(*n),
            StatementKind::MaxConnections(n) => o.max_connections = Some(*n),
            StatementKind::Group { .. }
            | StatementKind::HostGroup { .. }
            | StatementKind::GroupCaseInsensitive(_)
            | StatementKind::FqdnMatching(_)
            | StatementKind::Unsupported { .. } => {}
        }
    }
    o.all = c.all;
    o.features = c.features;
    o.reservations = c.reservations;
    o.maxes = c.maxes;
    o.statements = statements;
    o
}

struct Compiler<'a> {
    file: &'a str,
    fqdn: FqdnMatching,
    user_sets: HashMap<&'a str, Arc<NameSet>>,
    host_sets: HashMap<&'a str, Arc<HostSet>>,
    diags: &'a mut Vec<Diagnostic>,
    all: RuleSet,
    features: HashMap<Box<str>, RuleSet>,
    reservations: Vec<Reservation>,
    maxes: Vec<MaxRule>,
}

impl Compiler<'_> {
    fn scope(&mut self, feature: &FeatureSpec) -> &mut RuleSet {
        self.features
            .entry(feature.name.as_str().into())
            .or_default()
    }

    fn warn(&mut self, at: (u32, u32), message: String) {
        self.diags.push(Diagnostic {
            severity: Severity::Warning,
            file: self.file.to_string(),
            line: at.0,
            column: at.1,
            message,
        });
    }

    /// Compiles `type name`. A group that is not defined matches nobody: a
    /// typo in an EXCLUDE then lets people in, and one in an INCLUDE keeps
    /// them out, so it is always reported.
    fn matcher(&mut self, who: &Who) -> Matcher {
        let name = who.name.as_str();
        match who.kind {
            WhoKind::User => Matcher::User(name.into()),
            WhoKind::Display => Matcher::Display(name.into()),
            WhoKind::Project => Matcher::Project(name.into()),
            WhoKind::Internet => parse_ip_pattern(name).map_or(Matcher::Nobody, Matcher::Address),
            WhoKind::Host => Matcher::Hosts(Arc::new(HostSet::new([name], self.fqdn))),
            WhoKind::Group => match self.user_sets.get(name) {
                Some(set) => Matcher::Users(set.clone()),
                None => {
                    let hint = if self.host_sets.contains_key(name) {
                        format!(" (there is a HOST_GROUP {name}: write HOST_GROUP {name})")
                    } else {
                        String::new()
                    };
                    self.warn(
                        who.at,
                        format!("GROUP `{name}` is not defined, so it matches nobody{hint}"),
                    );
                    Matcher::Nobody
                }
            },
            WhoKind::HostGroup => match self.host_sets.get(name) {
                Some(set) => Matcher::Hosts(set.clone()),
                None => {
                    let hint = if self.user_sets.contains_key(name) {
                        format!(" (there is a GROUP {name}: write GROUP {name})")
                    } else {
                        String::new()
                    };
                    self.warn(
                        who.at,
                        format!("HOST_GROUP `{name}` is not defined, so it matches nobody{hint}"),
                    );
                    Matcher::Nobody
                }
            },
        }
    }
}
