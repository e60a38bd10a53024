//! The vendor daemon's side of the report log (options `REPORTLOG`): the
//! open log, stamping and writing the core's records once per turn of the
//! event loop, and lmswitchr / lmnewlog.
//!
//! The log itself (format, crash safety, naming) is the `reportlog`
//! crate's. A report log that cannot be written is reported in the debug
//! log and closed; serving goes on without it.

use reportlog::{Filter, Kind, Record, ReportLog, Summarizer};
use std::path::{Path, PathBuf};
use wire::lmerr;

/// Where the options file asks for the report log (or DEBUGLOG): a
/// relative path is taken from the state directory, since the daemon may
/// not write where the options file lives; before a state directory is
/// known (tools), from the options file's directory.
pub fn requested_path(options_file: Option<&Path>, path: &str) -> PathBuf {
    let p = Path::new(path);
    if hostenv::state_dir::get().is_some() {
        return hostenv::state_dir::resolve(p);
    }
    match options_file.and_then(Path::parent) {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p.to_path_buf(),
    }
}

/// How far back the daily use shown by the dashboard reaches when the
/// daemon starts on an existing log (it grows from there while it runs).
pub const USAGE_DAYS: u64 = 31;

/// Days are counted in this machine's time zone, over every feature.
static CALENDAR: hostenv::local_calendar::LocalCalendar = hostenv::local_calendar::LocalCalendar;
static EVERY_DAY: Filter = Filter {
    feature: None,
    from: None,
    to: None,
};

/// The open report log, and the daily use it shows (kept up to date as
/// records are written, so that asking costs no reading).
pub struct Report {
    log: ReportLog,
    usage: Summarizer<'static>,
}

impl Report {
    /// Opens (`append`: continues) the log at `path` and records the start.
    /// The last [`USAGE_DAYS`] of what it already holds are read for the
    /// daily use.
    pub fn open(path: &Path, append: bool, now_secs: u64) -> Result<Report, String> {
        let mut log = ReportLog::open(path, append).map_err(|e| e.to_string())?;
        if let Some(old) = log.moved_aside() {
            log::info!("Previous report log kept as {}", old.display());
        }
        let mut usage = Summarizer::new(&CALENDAR, &EVERY_DAY);
        if let Err(e) = read_recent(&log, now_secs, &mut usage) {
            log::warn!("Daily use from {}: {e}", path.display());
        }
        let start = Record::marker(now_secs, Kind::Start);
        log.append(std::slice::from_ref(&start))
            .map_err(|e| e.to_string())?;
        usage.push(&start);
        log::info!("Report log: {}", path.display());
        Ok(Report { log, usage })
    }

    /// Per feature and day: peak use, checkouts and denials.
    pub fn daily_use(&self) -> Vec<reportlog::DailyUse> {
        self.usage.daily()
    }

    pub fn path(&self) -> &Path {
        self.log.path()
    }

    /// Writes records stamped `now_secs`, in one transaction.
    pub fn write(&mut self, now_secs: u64, mut records: Vec<Record>) -> Result<(), String> {
        for r in &mut records {
            r.time = now_secs;
        }
        self.append(&records)
    }

    /// Writes records with the times they carry, in one transaction.
    pub fn append(&mut self, records: &[Record]) -> Result<(), String> {
        self.log.append(records).map_err(|e| e.to_string())?;
        for r in records {
            self.usage.push(r);
        }
        Ok(())
    }

    /// lmswitchr: go on in `path`, starting it with the seats in use.
    pub fn switch(&mut self, path: &Path, held: Vec<Record>, now_secs: u64) -> (i32, String) {
        match self.log.switch(path) {
            Ok(()) => {
                let _ = self.write(now_secs, held);
                (0, format!("report log switched to {}", path.display()))
            }
            Err(e) => (lmerr::LM_BADPARAM, e.to_string()),
        }
    }

    /// lmnewlog: the current file is renamed (to `renamed` if given) and a
    /// new one started under the old name, with the seats in use.
    pub fn new_log(
        &mut self,
        renamed: Option<&Path>,
        held: Vec<Record>,
        now_secs: u64,
    ) -> (i32, String) {
        match self.log.new_log(renamed) {
            Ok(old) => {
                let _ = self.write(now_secs, held);
                (
                    0,
                    format!(
                        "report log {} started; the old one is {}",
                        self.log.path().display(),
                        old.display()
                    ),
                )
            }
            Err(e) => (lmerr::LM_BADPARAM, e.to_string()),
        }
    }
}

/// Feeds the records of the last [`USAGE_DAYS`] before `now_secs` to `usage`.
fn read_recent(
    log: &ReportLog,
    now_secs: u64,
    usage: &mut Summarizer,
) -> Result<(), reportlog::Error> {
    let from = now_secs.saturating_sub(USAGE_DAYS * 86_400);
    for r in log.reader()?.between(from, u64::MAX)? {
        usage.push(&r?.1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_beside_the_options_file() {
        let opt = Path::new("/opt/lic/demo.opt");
        assert_eq!(
            requested_path(Some(opt), "report.rl"),
            PathBuf::from("/opt/lic/report.rl")
        );
        assert_eq!(
            requested_path(Some(opt), "/var/log/r.rl"),
            PathBuf::from("/var/log/r.rl")
        );
        assert_eq!(requested_path(None, "r.rl"), PathBuf::from("r.rl"));
    }

    #[test]
    fn records_are_stamped_and_switching_carries_the_seats_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("r1.rl");
        let mut report = Report::open(&first, false, 100).unwrap();
        let out = Record {
            user: "joe".into(),
            count: 1,
            handle: 7,
            ..Record::new(0, Kind::Checkout, "f1")
        };
        report.write(200, vec![out.clone()]).unwrap();
        let second = dir.path().join("r2.rl");
        let held = vec![Record {
            kind: Kind::Held,
            ..out.clone()
        }];
        assert_eq!(report.switch(&second, held, 300).0, 0);
        assert_eq!(report.path(), second);
        drop(report);
        let kinds = |p: &Path| -> Vec<(u64, Kind)> {
            reportlog::Reader::open(p)
                .unwrap()
                .records()
                .unwrap()
                .map(|r| {
                    let (_, r) = r.unwrap();
                    (r.time, r.kind)
                })
                .collect()
        };
        assert_eq!(
            kinds(&first),
            vec![(100, Kind::Start), (200, Kind::Checkout)]
        );
        assert_eq!(kinds(&second), vec![(300, Kind::Held)]);
    }

    #[test]
    fn daily_use_survives_a_restart_and_follows_every_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.rl");
        let day = 20_000 * 86_400;
        let checkout = |t: u64, handle: u64| Record {
            user: "joe".into(),
            count: 1,
            handle,
            issued: 4,
            ..Record::new(t, Kind::Checkout, "f1")
        };
        let mut report = Report::open(&path, false, day).unwrap();
        report
            .append(&[checkout(day + 10, 1), checkout(day + 20, 2)])
            .unwrap();
        let peak = |r: &Report| r.daily_use()[0].days.iter().map(|d| d.peak).max();
        assert_eq!(peak(&report), Some(2));
        drop(report);
        // Restarted: the old seats were freed by the restart, but the day's
        // peak and checkouts are read back from the log.
        let report = Report::open(&path, true, day + 3_600).unwrap();
        let f1 = &report.daily_use()[0];
        assert_eq!((f1.feature.as_str(), f1.issued), ("f1", 4));
        assert_eq!(f1.days.iter().map(|d| d.checkouts).sum::<u64>(), 2);
        assert_eq!(peak(&report), Some(2));
    }
}
