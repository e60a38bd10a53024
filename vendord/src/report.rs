//! The vendor daemon's side of the report log (options `REPORTLOG`): the
//! open log, stamping the core's records and handing them, once per turn
//! of the event loop, to the spool and to a writer thread that commits
//! them (so the loop never waits for an fsync), and lmswitchr / lmnewlog.
//!
//! The log itself (format, crash safety, naming) is the `reportlog`
//! crate's. A report log that cannot be written is reported in the debug
//! log and closed; serving goes on without it.

use reportlog::spool::Spool;
use reportlog::{Filter, Kind, Record, ReportLog, Summarizer};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
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

/// The spool is emptied once everything in it is committed and it has
/// grown past this.
const SPOOL_CLEAR_AT: u64 = 1 << 20;

/// Days are counted in this machine's time zone, over every feature.
static CALENDAR: hostenv::local_calendar::LocalCalendar = hostenv::local_calendar::LocalCalendar;
static EVERY_DAY: Filter = Filter {
    feature: None,
    from: None,
    to: None,
};

/// What the event loop asks of the writer thread, in order.
enum Command {
    /// Commit these records, spooled up to number `spooled`.
    Append(Vec<Record>, Option<u64>),
    /// lmswitchr: what is queued goes to the old file, then switch.
    Switch(PathBuf, mpsc::Sender<Result<PathBuf, ReportError>>),
    /// lmnewlog: likewise, then rotate; answers where the old log went.
    NewLog(
        Option<PathBuf>,
        mpsc::Sender<Result<(PathBuf, PathBuf), ReportError>>,
    ),
}

/// Why the report log cannot be written. Cloned to every caller once the
/// writer thread has stopped, so the causes are kept as their messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// The log itself (opening, committing, switching): the store's error
    /// names the file.
    #[error("{0}")]
    Log(String),
    /// The spool beside the log.
    #[error("report log spool {path}: {reason}")]
    Spool { path: PathBuf, reason: String },
    /// The writer thread could not be started.
    #[error("cannot start the report log's writer: {0}")]
    Thread(String),
    /// The writer thread is gone (after a failure it reported, or at exit).
    #[error("the report log's writer has stopped")]
    Stopped,
}

impl From<reportlog::Error> for ReportError {
    fn from(e: reportlog::Error) -> ReportError {
        ReportError::Log(e.to_string())
    }
}

fn spool_error(path: &Path, e: impl std::fmt::Display) -> ReportError {
    ReportError::Spool {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// The open report log. Records are spooled by the event loop and
/// committed by a thread of their own, so the loop never waits for the
/// disk; the daily use it shows is kept up to date as records are
/// written, so that asking costs no reading.
pub struct Report {
    path: PathBuf,
    spool: Arc<Mutex<Spool>>,
    to_writer: Option<mpsc::Sender<Command>>,
    writer: Option<std::thread::JoinHandle<()>>,
    /// Set by the writer thread when a commit failed (it then stops).
    failed: Arc<Mutex<Option<ReportError>>>,
    /// Batches the writer has emptied, sent back for their room.
    spent: mpsc::Receiver<Vec<Record>>,
    usage: Summarizer<'static>,
}

impl Report {
    /// Opens (`append`: continues) the log at `path` and records the start.
    /// Records a crash left in the spool are committed first; the last
    /// [`USAGE_DAYS`] of what the log holds are read for the daily use.
    pub fn open(path: &Path, append: bool, now_secs: u64) -> Result<Report, ReportError> {
        // What the spool holds belongs to the file there now, before a new
        // log moves it aside.
        recover_spool(path)?;
        let mut log = ReportLog::open(path, append)?;
        if let Some(old) = log.moved_aside() {
            log::info!("Previous report log kept as {}", old.display());
        }
        let committed = log.spooled_through()?;
        let spool_path = spool_path(path);
        let (mut spool, _) =
            Spool::open(&spool_path, committed).map_err(|e| spool_error(&spool_path, e))?;
        spool.clear().map_err(|e| spool_error(&spool_path, e))?;
        let mut usage = Summarizer::new(&CALENDAR, &EVERY_DAY);
        if let Err(e) = read_recent(&log, now_secs, &mut usage) {
            log::warn!("Daily use from {}: {e}", path.display());
        }
        let start = Record::marker(now_secs, Kind::Start);
        log.append(std::slice::from_ref(&start))?;
        usage.push(&start);
        log::info!("Report log: {}", path.display());
        let spool = Arc::new(Mutex::new(spool));
        let failed = Arc::new(Mutex::new(None));
        let (to_writer, commands) = mpsc::channel();
        let (give_back, spent) = mpsc::channel();
        let writer = {
            let (spool, failed) = (spool.clone(), failed.clone());
            std::thread::Builder::new()
                .name("report-log".into())
                .spawn(move || write_loop(log, &commands, &give_back, &spool, &failed))
                .map_err(|e| ReportError::Thread(e.to_string()))?
        };
        Ok(Report {
            path: path.to_path_buf(),
            spool,
            to_writer: Some(to_writer),
            writer: Some(writer),
            failed,
            spent,
            usage,
        })
    }

    /// Per feature and day: peak use, checkouts and denials.
    pub fn daily_use(&self) -> Vec<reportlog::DailyUse> {
        self.usage.daily()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Why the log stopped being written, once it has.
    pub fn failure(&self) -> Option<ReportError> {
        lock(&self.failed).clone()
    }

    /// An empty batch with room, from those the writer has emptied (the
    /// roomiest; the others are dropped), or a new one: the event loop
    /// gathers its next turn's records in it.
    pub fn spare_batch(&self) -> Vec<Record> {
        let mut best = Vec::new();
        while let Ok(batch) = self.spent.try_recv() {
            if batch.capacity() > best.capacity() {
                best = batch;
            }
        }
        best
    }

    /// Writes records stamped `now_secs`.
    pub fn write(&mut self, now_secs: u64, mut records: Vec<Record>) -> Result<(), ReportError> {
        for r in &mut records {
            r.time = now_secs;
        }
        self.append(records)
    }

    /// Writes records with the times they carry: spooled now (one write),
    /// committed by the writer thread soon after.
    pub fn append(&mut self, records: Vec<Record>) -> Result<(), ReportError> {
        if records.is_empty() {
            return Ok(());
        }
        if let Some(e) = self.failure() {
            return Err(e);
        }
        let spooled = match lock(&self.spool).append(&records) {
            Ok(sids) => sids.map(|s| *s.end()),
            Err(e) => {
                // Still committed, only not safe from a crash meanwhile.
                log::warn!("Report log spool: {e}");
                None
            }
        };
        for r in &records {
            self.usage.push(r);
        }
        self.send(Command::Append(records, spooled))
    }

    fn send(&self, c: Command) -> Result<(), ReportError> {
        let sent = self.to_writer.as_ref().map(|tx| tx.send(c));
        match sent {
            Some(Ok(())) => Ok(()),
            _ => Err(self.failure().unwrap_or(ReportError::Stopped)),
        }
    }

    /// Sends the writer a command that answers, and waits for the answer
    /// (it comes once everything queued before it is committed).
    fn ask<T>(
        &self,
        command: impl FnOnce(mpsc::Sender<Result<T, ReportError>>) -> Command,
    ) -> Result<T, ReportError> {
        let (tx, rx) = mpsc::channel();
        self.send(command(tx))?;
        rx.recv().map_err(|_| ReportError::Stopped)?
    }

    /// lmswitchr: go on in `path`, starting it with the seats in use.
    pub fn switch(&mut self, path: &Path, held: Vec<Record>, now_secs: u64) -> (i32, String) {
        match self.ask(|reply| Command::Switch(path.to_path_buf(), reply)) {
            Ok(now) => {
                self.path = now;
                let _ = self.write(now_secs, held);
                (0, format!("report log switched to {}", self.path.display()))
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
        match self.ask(|reply| Command::NewLog(renamed.map(Path::to_path_buf), reply)) {
            Ok((now, old)) => {
                self.path = now;
                let _ = self.write(now_secs, held);
                (
                    0,
                    format!(
                        "report log {} started; the old one is {}",
                        self.path.display(),
                        old.display()
                    ),
                )
            }
            Err(e) => (lmerr::LM_BADPARAM, e.to_string()),
        }
    }
}

impl Drop for Report {
    /// Everything handed over is committed before the log closes.
    fn drop(&mut self) {
        drop(self.to_writer.take());
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

/// Writes to the log at `path` what its spool holds beyond what the log
/// says it committed: the records a crash of the daemon left behind.
fn recover_spool(path: &Path) -> Result<(), ReportError> {
    let spool_path = spool_path(path);
    if !spool_path.exists() || !path.exists() {
        return Ok(());
    }
    let mut log = ReportLog::open(path, true)?;
    let committed = log.spooled_through()?;
    let (spool, held) =
        Spool::open(&spool_path, committed).map_err(|e| spool_error(&spool_path, e))?;
    let lost: Vec<Record> = held
        .into_iter()
        .filter(|(sid, _)| committed.is_none_or(|c| *sid > c))
        .map(|(_, r)| r)
        .collect();
    if !lost.is_empty() {
        log.append_through(&lost, spool.last_sid())?;
        log::warn!(
            "Report log: {} record(s) spooled before the last stop were not yet in {}: written now",
            lost.len(),
            path.display()
        );
    }
    Ok(())
}

/// The spool of the report log at `path`: beside it.
fn spool_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".spool");
    PathBuf::from(name)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The writer thread: commits what is queued, as much as is there in one
/// transaction, until the event loop lets go of its end or a commit fails.
fn write_loop(
    log: ReportLog,
    commands: &mpsc::Receiver<Command>,
    give_back: &mpsc::Sender<Vec<Record>>,
    spool: &Mutex<Spool>,
    failed: &Mutex<Option<ReportError>>,
) {
    let mut w = Writer {
        log,
        batch: Vec::new(),
        pending: None,
        committed: None,
    };
    while let Ok(first) = commands.recv() {
        let mut next = Some(first);
        while let Some(command) = next {
            let done = match command {
                Command::Append(mut records, spooled) => {
                    w.batch.append(&mut records);
                    w.pending = spooled.or(w.pending);
                    // Emptied, it goes back to be filled again.
                    let _ = give_back.send(records);
                    Ok(())
                }
                Command::Switch(path, reply) => w.commit().and_then(|()| {
                    let switched = w.log.switch(&path).map_err(ReportError::from);
                    let stamped = w.stamp_new_file(switched.is_ok());
                    let _ = reply.send(switched.map(|()| w.log.path().to_path_buf()));
                    stamped
                }),
                Command::NewLog(renamed, reply) => w.commit().and_then(|()| {
                    let rotated = w.log.new_log(renamed.as_deref()).map_err(ReportError::from);
                    let stamped = w.stamp_new_file(rotated.is_ok());
                    let _ = reply.send(rotated.map(|old| (w.log.path().to_path_buf(), old)));
                    stamped
                }),
            };
            if let Err(e) = done {
                *lock(failed) = Some(e);
                return;
            }
            next = commands.try_recv().ok();
        }
        if let Err(e) = w.commit() {
            *lock(failed) = Some(e);
            return;
        }
        let mut spool = lock(spool);
        // Only when everything spooled is committed: the loop appends
        // under the same lock.
        if spool.len() > SPOOL_CLEAR_AT && spool.last_sid() == w.committed {
            if let Err(e) = spool.clear() {
                log::warn!("Report log spool {}: {e}", spool.path().display());
            }
        }
    }
}

/// The writer thread's state.
struct Writer {
    log: ReportLog,
    /// Records handed over and not yet committed.
    batch: Vec<Record>,
    /// The newest spool number among them.
    pending: Option<u64>,
    /// The newest spool number committed.
    committed: Option<u64>,
}

impl Writer {
    /// Commits the batch in one transaction, with its spool number.
    fn commit(&mut self) -> Result<(), ReportError> {
        if self.batch.is_empty() && self.pending.is_none() {
            return Ok(());
        }
        self.log.append_through(&self.batch, self.pending)?;
        self.batch.clear();
        self.committed = self.pending.take().or(self.committed);
        Ok(())
    }

    /// A file lmswitchr or lmnewlog just started learns the spool number
    /// committed so far, so that a restart never writes into it again
    /// what the previous file holds.
    fn stamp_new_file(&mut self, started: bool) -> Result<(), ReportError> {
        match self.committed {
            Some(sid) if started => self
                .log
                .append_through(&[], Some(sid))
                .map(|_| ())
                .map_err(ReportError::from),
            _ => Ok(()),
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

    /// The time and kind of every record in the log at `p`, in order.
    fn kinds(p: &Path) -> Vec<(u64, Kind)> {
        reportlog::Reader::open(p)
            .unwrap()
            .records()
            .unwrap()
            .map(|r| {
                let (_, r) = r.unwrap();
                (r.time, r.kind)
            })
            .collect()
    }

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
        assert_eq!(
            kinds(&first),
            vec![(100, Kind::Start), (200, Kind::Checkout)]
        );
        assert_eq!(kinds(&second), vec![(300, Kind::Held)]);
    }

    #[test]
    fn records_a_crash_left_in_the_spool_are_written_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.rl");
        let checkout = |t: u64, handle: u64| Record {
            user: "joe".into(),
            count: 1,
            handle,
            ..Record::new(t, Kind::Checkout, "f1")
        };
        let mut report = Report::open(&path, false, 100).unwrap();
        report.append(vec![checkout(110, 1)]).unwrap();
        drop(report);
        // As if the daemon died after spooling two more records, before its
        // writer committed them.
        let committed = ReportLog::open(&path, true)
            .unwrap()
            .spooled_through()
            .unwrap();
        assert!(committed.is_some());
        let (mut spool, _) = Spool::open(&spool_path(&path), committed).unwrap();
        spool.append(&[checkout(120, 2), checkout(130, 3)]).unwrap();
        drop(spool);
        let report = Report::open(&path, true, 200).unwrap();
        drop(report);
        assert_eq!(
            kinds(&path),
            vec![
                (100, Kind::Start),
                (110, Kind::Checkout),
                (120, Kind::Checkout),
                (130, Kind::Checkout),
                (200, Kind::Start),
            ],
            "each record once, in order"
        );
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
            .append(vec![checkout(day + 10, 1), checkout(day + 20, 2)])
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
