//! Report-log records of checkouts, checkins, denials and queueing.

use super::*;

impl Core {
    pub(crate) fn report_holding(
        &self,
        fx: &mut Effects,
        kind: reportlog::Kind,
        handle: u64,
        count: u32,
    ) {
        if let Some(h) = self.holdings.get(&handle) {
            let record = self.holding_record(kind, handle, h, count);
            fx.report.push(record);
        }
    }

    /// A report-log record of a request that got no seat (yet).
    pub(crate) fn report_request(
        &self,
        fx: &mut Effects,
        kind: reportlog::Kind,
        conn: ConnId,
        co: &CheckoutRef<'_>,
        error: i32,
    ) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let issued = self
            .by_feature
            .get(co.feature)
            .map_or(0, |ids| ids.iter().map(|&i| self.pools[i].issued).sum());
        fx.report.push(reportlog::Record {
            version: co.version.to_owned(),
            user: c.identity.user.clone(),
            host: c.identity.host.clone(),
            display: c.identity.display.clone(),
            project: c.identity.project.clone(),
            count: co.count,
            issued,
            error,
            ..reportlog::Record::new(0, kind, co.feature)
        });
    }

    /// A `Held` record per checkout, for the start of a new report-log
    /// file (lmswitchr, lmnewlog), so each file can be read on its own.
    pub fn held_records(&self) -> Vec<reportlog::Record> {
        self.holdings
            .iter()
            .map(|(handle, h)| self.holding_record(reportlog::Kind::Held, *handle, h, h.count))
            .collect()
    }

    /// Turns report-log records on or off (see [`Config::report`]).
    pub fn set_report(&mut self, on: bool) {
        self.config.report = on;
    }
}
