//! The report log on disk: a redb database that only grows.
//!
//! Tables:
//!
//! | table | key | value |
//! | --- | --- | --- |
//! | `meta` | `"format"` | `1`, the layout of this file |
//! | `meta` | `"spooled_through"` | the number of the last spool record committed ([`crate::spool`]) |
//! | `records` | sequence number (u64, from 0, no gaps) | the record (`codec`) |
//! | `by_time` | (time, sequence) | nothing: an index for reading a time range |
//!
//! Every [`ReportLog::append`] is one write transaction with immediate
//! durability: when it returns, the batch is on disk, and a crash at any
//! point (even `kill -9` halfway through a commit) leaves either the whole
//! batch or none of it, and never touches earlier batches. That is redb's
//! copy-on-write commit, not ours: we only need to commit once per batch.
//!
//! One process at a time may have a report log open: redb locks the file.
//! A log a running vendor daemon writes cannot be read by another process
//! until it is rotated away (`lmnewlog`) or the daemon stops.

use crate::codec::{self, DecodeError};
use crate::record::Record;
use redb::{
    Database, DatabaseError, Durability, ReadOnlyDatabase, ReadOnlyTable, ReadTransaction,
    ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle,
};
use std::ops::Range;
use std::path::{Path, PathBuf};

const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
const RECORDS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("records");
const BY_TIME: TableDefinition<'_, (u64, u64), ()> = TableDefinition::new("by_time");
const FORMAT_KEY: &str = "format";
/// The number of the last spooled record committed (`crate::spool`).
const SPOOLED_KEY: &str = "spooled_through";
/// The layout of the database (the tables above). The record encoding has
/// its own version byte in each record.
const LAYOUT: u64 = 1;

/// What went wrong with a report log; every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Another process (a running vendor daemon) has the file open.
    #[error("report log {path}: in use by another process (rotate it with lmnewlog, or stop the vendor daemon, to read it)")]
    InUse { path: PathBuf },
    /// The file could not be opened or created as a database.
    #[error("report log {path}: cannot open: {source}")]
    Open {
        path: PathBuf,
        source: DatabaseError,
    },
    /// The file is a redb database, but not a report log.
    #[error("report log {path}: not a report log (it holds table `{table}`)")]
    NotReportLog { path: PathBuf, table: String },
    /// The file is a report log of a layout this build does not know.
    #[error("report log {path}: layout {found}, this build knows {LAYOUT}")]
    UnknownLayout { path: PathBuf, found: u64 },
    /// Reading or writing the database failed.
    #[error("report log {path}: {source}")]
    Store { path: PathBuf, source: redb::Error },
    /// A stored record does not decode.
    #[error("report log {path}: record {seq} is damaged: {source}")]
    Damaged {
        path: PathBuf,
        seq: u64,
        source: DecodeError,
    },
    /// The time index names a record that is not there.
    #[error("report log {path}: the time index names record {seq}, which is missing")]
    Unindexed { path: PathBuf, seq: u64 },
    /// A log is to be moved to a name that is taken.
    #[error("cannot move report log {from} to {to}: {to} already exists")]
    Exists { from: PathBuf, to: PathBuf },
    /// Moving a log aside, or listing its directory, failed.
    #[error("cannot move report log {from} to {to}: {source}")]
    Rename {
        from: PathBuf,
        to: PathBuf,
        source: std::io::Error,
    },
}

/// Names the file in a redb error.
trait At<T> {
    fn at(self, path: &Path) -> Result<T, Error>;
}

impl<T, E: Into<redb::Error>> At<T> for Result<T, E> {
    fn at(self, path: &Path) -> Result<T, Error> {
        self.map_err(|e| Error::Store {
            path: path.to_path_buf(),
            source: e.into(),
        })
    }
}

/// The report log a vendor daemon writes.
#[derive(Debug)]
pub struct ReportLog {
    path: PathBuf,
    db: Database,
    /// The sequence number the next record gets: one past the last stored.
    next_seq: u64,
    /// Where `open` without append moved an older log.
    moved_aside: Option<PathBuf>,
}

impl ReportLog {
    /// Opens the report log at `path` (`REPORTLOG [+]path`).
    ///
    /// With `append` (`+path`) an existing log is continued. Without it a
    /// new log is started, as FLEXlm does; an existing file is not lost but
    /// moved aside to `path.N` (see [`aside_name`]), reported by
    /// [`moved_aside`](Self::moved_aside).
    pub fn open(path: impl AsRef<Path>, append: bool) -> Result<ReportLog, Error> {
        let path = path.as_ref().to_path_buf();
        let mut moved_aside = None;
        if !append && path.exists() {
            // Never move a log from under the process writing it (two
            // daemons given the same path): its lock says it is in use.
            if let Err(DatabaseError::DatabaseAlreadyOpen) = ReadOnlyDatabase::open(&path) {
                return Err(Error::InUse { path });
            }
            let to = aside_name(&path)?;
            rename(&path, &to)?;
            moved_aside = Some(to);
        }
        let (db, next_seq) = open_store(&path, 0)?;
        Ok(ReportLog {
            path,
            db,
            next_seq,
            moved_aside,
        })
    }

    /// The file this log writes to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sequence number the next record will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Where [`open`](Self::open) moved an existing log, if it did.
    pub fn moved_aside(&self) -> Option<&Path> {
        self.moved_aside.as_deref()
    }

    /// Appends `batch` in one transaction and returns the sequence numbers
    /// it got. When this returns `Ok` the records are on disk; on `Err`
    /// none of them is stored and the log is unchanged.
    pub fn append(&mut self, batch: &[Record]) -> Result<Range<u64>, Error> {
        self.append_through(batch, None)
    }

    /// [`append`](Self::append), noting in the same transaction that every
    /// record of the spool ([`crate::spool`]) up to number `spooled` is
    /// now in the log.
    pub fn append_through(
        &mut self,
        batch: &[Record],
        spooled: Option<u64>,
    ) -> Result<Range<u64>, Error> {
        let first = self.next_seq;
        if batch.is_empty() && spooled.is_none() {
            return Ok(first..first);
        }
        let err: &Path = &self.path;
        let mut txn = self.db.begin_write().at(err)?;
        // Immediate is redb's default; said here because the crash-safety
        // promise depends on it.
        txn.set_durability(Durability::Immediate).at(err)?;
        let mut seq = first;
        {
            let mut records = txn.open_table(RECORDS).at(err)?;
            let mut by_time = txn.open_table(BY_TIME).at(err)?;
            let mut buf = Vec::with_capacity(128);
            for r in batch {
                buf.clear();
                codec::encode(r, &mut buf);
                records.insert(seq, buf.as_slice()).at(err)?;
                by_time.insert((r.time, seq), ()).at(err)?;
                // 2^64 records is out of reach; saturating keeps it panic-free.
                seq = seq.saturating_add(1);
            }
            if let Some(sid) = spooled {
                txn.open_table(META)
                    .at(err)?
                    .insert(SPOOLED_KEY, sid)
                    .at(err)?;
            }
        }
        txn.commit().at(err)?;
        self.next_seq = seq;
        Ok(first..seq)
    }

    /// `lmswitchr`: continues in `new_path` from now on.
    ///
    /// An existing report log there is continued (never overwritten); a new
    /// file continues this log's sequence numbers. A relative `new_path` is
    /// taken from this log's directory: the administrator naming it may be
    /// on another machine, where the daemon's working directory means
    /// nothing. Switching to the current file does nothing. If the new file
    /// cannot be opened, logging goes on in the current one.
    pub fn switch(&mut self, new_path: impl AsRef<Path>) -> Result<(), Error> {
        let new_path = self.beside(new_path.as_ref());
        if same_file(&new_path, &self.path) {
            return Ok(());
        }
        let (db, next_seq) = open_store(&new_path, self.next_seq)?;
        // The old database is closed (cleanly) when it is dropped here.
        self.db = db;
        self.path = new_path;
        self.next_seq = next_seq;
        self.moved_aside = None;
        Ok(())
    }

    /// `lmnewlog`: moves the current log to `renamed_to` (or, given `None`,
    /// to [`aside_name`]) and starts a new, empty log under the original
    /// name; its sequence numbers continue the old ones, so rotated files
    /// put side by side read in order. A relative `renamed_to` is taken from
    /// the log's directory. The target must not exist. Returns where the
    /// old log went.
    ///
    /// There is no moment without a log: the old database stays open (on
    /// Unix a renamed file stays usable) until the new one is ready, and if
    /// creating the new one fails the old one is moved back.
    pub fn new_log(&mut self, renamed_to: Option<&Path>) -> Result<PathBuf, Error> {
        let to = match renamed_to {
            Some(p) => self.beside(p),
            None => aside_name(&self.path)?,
        };
        if same_file(&to, &self.path) {
            return Err(Error::Exists {
                from: self.path.clone(),
                to,
            });
        }
        rename(&self.path, &to)?;
        match open_store(&self.path, self.next_seq) {
            Ok((db, next_seq)) => {
                self.db = db;
                self.next_seq = next_seq;
                self.moved_aside = None;
                Ok(to)
            }
            Err(e) => {
                // Best effort: the old log is still open and usable under
                // its new name even if this fails.
                let _ = std::fs::rename(&to, &self.path);
                Err(e)
            }
        }
    }

    /// The number of the last spooled record this log holds (see
    /// [`crate::spool`]), if it ever held one.
    pub fn spooled_through(&self) -> Result<Option<u64>, Error> {
        let err: &Path = &self.path;
        let txn = self.db.begin_read().at(err)?;
        let meta = txn.open_table(META).at(err)?;
        let sid = meta.get(SPOOLED_KEY).at(err)?.map(|v| v.value());
        Ok(sid)
    }

    /// A snapshot of the log for reading, through this open handle.
    pub fn reader(&self) -> Result<Reader, Error> {
        let txn = self.db.begin_read().at(&self.path)?;
        Ok(Reader {
            txn,
            _db: None,
            path: self.path.clone(),
        })
    }

    fn beside(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            return p.to_path_buf();
        }
        match self.path.parent() {
            Some(dir) => dir.join(p),
            None => p.to_path_buf(),
        }
    }
}

/// Opens or creates the database at `path`, checks it is a report log,
/// and returns it with the next sequence number (`start` for an empty log).
fn open_store(path: &Path, start: u64) -> Result<(Database, u64), Error> {
    // `create` opens an existing database, initialises a missing or empty
    // file, and refuses anything else: it never overwrites a foreign file.
    let db = Database::create(path).map_err(|e| open_error(path, e))?;
    let err = path;
    let txn = db.begin_write().at(err)?;
    let tables: Vec<String> = txn
        .list_tables()
        .at(err)?
        .map(|t| t.name().to_string())
        .collect();
    if let Some(t) = tables
        .iter()
        .find(|t| ![META.name(), RECORDS.name(), BY_TIME.name()].contains(&t.as_str()))
    {
        return Err(Error::NotReportLog {
            path: path.to_path_buf(),
            table: t.clone(),
        });
    }
    let next;
    {
        let mut meta = txn.open_table(META).at(err)?;
        let layout = meta.get(FORMAT_KEY).at(err)?.map(|v| v.value());
        match layout {
            Some(LAYOUT) => {}
            Some(found) => {
                return Err(Error::UnknownLayout {
                    path: path.to_path_buf(),
                    found,
                })
            }
            None => {
                meta.insert(FORMAT_KEY, LAYOUT).at(err)?;
            }
        }
        let records = txn.open_table(RECORDS).at(err)?;
        next = match records.last().at(err)? {
            Some((k, _)) => k.value().saturating_add(1),
            None => start,
        };
        txn.open_table(BY_TIME).at(err)?;
    }
    txn.commit().at(err)?;
    Ok((db, next))
}

fn open_error(path: &Path, e: DatabaseError) -> Error {
    match e {
        DatabaseError::DatabaseAlreadyOpen => Error::InUse {
            path: path.to_path_buf(),
        },
        source => Error::Open {
            path: path.to_path_buf(),
            source,
        },
    }
}

/// Returns true if and only if `a` and `b` name the same existing file, or
/// are the same path.
fn same_file(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn rename(from: &Path, to: &Path) -> Result<(), Error> {
    // rename(2) replaces its target: check first, so no log is ever lost.
    if to.exists() {
        return Err(Error::Exists {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
        });
    }
    std::fs::rename(from, to).map_err(|source| Error::Rename {
        from: from.to_path_buf(),
        to: to.to_path_buf(),
        source,
    })
}

/// Where an older log at `path` is moved: `path.N`, N one more than the
/// largest number already used that way in the directory (`demo.rl.1`,
/// `demo.rl.2`, ...), so the suffixes sort the generations oldest first
/// even after some were deleted.
pub fn aside_name(path: &Path) -> Result<PathBuf, Error> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let entries = std::fs::read_dir(&dir).map_err(|source| Error::Rename {
        from: path.to_path_buf(),
        to: dir.join(format!("{name}.N")),
        source,
    })?;
    let siblings = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned());
    let n = next_suffix(&name, siblings);
    Ok(path.with_file_name(format!("{name}.{n}")))
}

/// One more than the largest `N` among `siblings` named `name.N`; 1 if none.
fn next_suffix(name: &str, siblings: impl Iterator<Item = String>) -> u64 {
    siblings
        .filter_map(|s| {
            let n = s.strip_prefix(name)?.strip_prefix('.')?;
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            n.parse::<u64>().ok()
        })
        .max()
        .map_or(1, |m| m.saturating_add(1))
}

/// A consistent snapshot of a report log, for reading.
pub struct Reader {
    // Declared before `_db`, so the transaction ends before the database
    // it reads is closed.
    txn: ReadTransaction,
    _db: Option<Db>,
    path: PathBuf,
}

/// The database a standalone reader opened.
enum Db {
    ReadOnly(ReadOnlyDatabase),
    Repaired(Database),
}

impl Reader {
    /// Opens the report log at `path` for reading. The file is not created
    /// and not changed, except that a log left by a crash is first repaired
    /// (redb rebuilds its free-space map; no record is altered).
    pub fn open(path: impl AsRef<Path>) -> Result<Reader, Error> {
        let path = path.as_ref().to_path_buf();
        let db = match ReadOnlyDatabase::open(&path) {
            Ok(db) => Db::ReadOnly(db),
            // The writer did not close it cleanly (crash, kill -9): only a
            // writable open can repair it.
            Err(DatabaseError::RepairAborted) => {
                Db::Repaired(Database::open(&path).map_err(|e| open_error(&path, e))?)
            }
            Err(e) => return Err(open_error(&path, e)),
        };
        let txn = match &db {
            Db::ReadOnly(db) => db.begin_read(),
            Db::Repaired(db) => db.begin_read(),
        }
        .at(&path)?;
        let reader = Reader {
            txn,
            _db: Some(db),
            path,
        };
        reader.check_layout()?;
        Ok(reader)
    }

    /// The file read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn check_layout(&self) -> Result<(), Error> {
        let err: &Path = &self.path;
        if let Some(t) = self
            .txn
            .list_tables()
            .at(err)?
            .map(|t| t.name().to_string())
            .find(|t| ![META.name(), RECORDS.name(), BY_TIME.name()].contains(&t.as_str()))
        {
            return Err(Error::NotReportLog {
                path: self.path.clone(),
                table: t,
            });
        }
        let meta = self.table(META)?;
        match meta.get(FORMAT_KEY).at(err)?.map(|v| v.value()) {
            Some(LAYOUT) => Ok(()),
            Some(found) => Err(Error::UnknownLayout {
                path: self.path.clone(),
                found,
            }),
            None => Err(Error::NotReportLog {
                path: self.path.clone(),
                table: String::new(),
            }),
        }
    }

    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        def: TableDefinition<'_, K, V>,
    ) -> Result<ReadOnlyTable<K, V>, Error> {
        self.txn.open_table(def).at(&self.path)
    }

    /// How many records the log holds.
    pub fn len(&self) -> Result<u64, Error> {
        self.table(RECORDS)?.len().at(&self.path)
    }

    /// Returns true if and only if the log holds no record.
    pub fn is_empty(&self) -> Result<bool, Error> {
        Ok(self.len()? == 0)
    }

    /// Every record with its sequence number, in the order written.
    pub fn records(&self) -> Result<Records, Error> {
        let range = self.table(RECORDS)?.range::<u64>(..).at(&self.path)?;
        Ok(Records {
            inner: Inner::BySeq(range),
            path: self.path.clone(),
        })
    }

    /// The records with `from <= time < to`, in time order (records with
    /// the same time in the order written).
    pub fn between(&self, from: u64, to: u64) -> Result<Records, Error> {
        let err: &Path = &self.path;
        let index = self.table(BY_TIME)?.range((from, 0)..(to, 0)).at(err)?;
        Ok(Records {
            inner: Inner::ByTime {
                index,
                records: self.table(RECORDS)?,
            },
            path: self.path.clone(),
        })
    }
}

/// An iterator over stored records: `(sequence, record)`, or the error
/// that stopped it (a damaged record is reported, not skipped).
pub struct Records {
    inner: Inner,
    path: PathBuf,
}

enum Inner {
    BySeq(redb::Range<'static, u64, &'static [u8]>),
    ByTime {
        index: redb::Range<'static, (u64, u64), ()>,
        records: ReadOnlyTable<u64, &'static [u8]>,
    },
}

fn decode_at(path: &Path, seq: u64, bytes: &[u8]) -> Result<(u64, Record), Error> {
    codec::decode(bytes)
        .map(|r| (seq, r))
        .map_err(|source| Error::Damaged {
            path: path.to_path_buf(),
            seq,
            source,
        })
}

impl Iterator for Records {
    type Item = Result<(u64, Record), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let path: &Path = &self.path;
        match &mut self.inner {
            Inner::BySeq(range) => {
                let item = range.next()?;
                Some(
                    item.at(path)
                        .and_then(|(k, v)| decode_at(path, k.value(), v.value())),
                )
            }
            Inner::ByTime { index, records } => {
                let seq = match index.next()?.at(path) {
                    Ok((k, _)) => k.value().1,
                    Err(e) => return Some(Err(e)),
                };
                let item = match records.get(seq).at(path) {
                    Ok(Some(v)) => decode_at(path, seq, v.value()),
                    Ok(None) => Err(Error::Unindexed {
                        path: path.to_path_buf(),
                        seq,
                    }),
                    Err(e) => Err(e),
                };
                Some(item)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Kind;
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};

    /// The record the crash writer stores under sequence number `seq`, so
    /// the test can tell every surviving record is intact.
    fn expected(seq: u64) -> Record {
        let mut r = Record::new(1_700_000_000 + seq, Kind::Checkout, "f1");
        r.user = format!("user{}", seq % 7);
        r.host = "ws1".into();
        r.handle = seq;
        r.count = 1;
        r
    }

    fn all(reader: &Reader) -> Vec<(u64, Record)> {
        reader.records().unwrap().map(Result::unwrap).collect()
    }

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn batches_get_consecutive_numbers_and_read_back_in_order() {
        let d = dir();
        let path = d.path().join("demo.rl");
        let mut log = ReportLog::open(&path, true).unwrap();
        assert_eq!(log.append(&[]).unwrap(), 0..0);
        assert_eq!(log.append(&[expected(0), expected(1)]).unwrap(), 0..2);
        assert_eq!(log.append(&[expected(2)]).unwrap(), 2..3);
        let reader = log.reader().unwrap();
        assert_eq!(reader.len().unwrap(), 3);
        let got = all(&reader);
        assert_eq!(got, (0..3).map(|s| (s, expected(s))).collect::<Vec<_>>());
        drop(reader);
        drop(log);
        // Reopened with `+`, the log continues.
        let mut log = ReportLog::open(&path, true).unwrap();
        assert_eq!(log.next_seq(), 3);
        assert_eq!(log.moved_aside(), None);
        assert_eq!(log.append(&[expected(3)]).unwrap(), 3..4);
        drop(log);
        let reader = Reader::open(&path).unwrap();
        assert_eq!(reader.len().unwrap(), 4);
    }

    #[test]
    fn the_spool_number_is_committed_with_its_records() {
        let d = dir();
        let path = d.path().join("demo.rl");
        let mut log = ReportLog::open(&path, true).unwrap();
        assert_eq!(log.spooled_through().unwrap(), None);
        assert_eq!(log.append_through(&[expected(0)], Some(41)).unwrap(), 0..1);
        // No records, only the number: a new file learning it.
        assert_eq!(log.append_through(&[], Some(42)).unwrap(), 1..1);
        assert_eq!(log.append(&[expected(1)]).unwrap(), 1..2);
        drop(log);
        let log = ReportLog::open(&path, true).unwrap();
        assert_eq!(log.spooled_through().unwrap(), Some(42));
    }

    #[test]
    fn a_time_range_reads_in_time_order() {
        let d = dir();
        let path = d.path().join("demo.rl");
        let mut log = ReportLog::open(&path, true).unwrap();
        // The clock went back between the second and third record.
        let times = [100, 200, 150, 200, 300];
        let batch: Vec<Record> = times
            .iter()
            .map(|&t| Record::new(t, Kind::Checkout, "f1"))
            .collect();
        log.append(&batch).unwrap();
        let reader = log.reader().unwrap();
        let got: Vec<(u64, u64)> = reader
            .between(150, 300)
            .unwrap()
            .map(|r| r.map(|(seq, rec)| (seq, rec.time)).unwrap())
            .collect();
        assert_eq!(got, [(2, 150), (1, 200), (3, 200)]);
        assert_eq!(reader.between(301, 400).unwrap().count(), 0);
        assert_eq!(reader.between(0, u64::MAX).unwrap().count(), 5);
    }

    #[test]
    fn a_new_log_moves_the_old_one_aside() {
        let d = dir();
        let path = d.path().join("demo.rl");
        let mut log = ReportLog::open(&path, false).unwrap();
        assert_eq!(log.moved_aside(), None);
        log.append(&[expected(0)]).unwrap();
        drop(log);
        // An unrelated file with a numeric suffix raises the next number.
        std::fs::write(d.path().join("demo.rl.4"), b"kept").unwrap();
        let log = ReportLog::open(&path, false).unwrap();
        let aside = d.path().join("demo.rl.5");
        assert_eq!(log.moved_aside(), Some(aside.as_path()));
        assert_eq!(log.next_seq(), 0);
        assert_eq!(log.reader().unwrap().len().unwrap(), 0);
        drop(log);
        assert_eq!(all(&Reader::open(&aside).unwrap()), [(0, expected(0))]);
        assert_eq!(std::fs::read(d.path().join("demo.rl.4")).unwrap(), b"kept");
    }

    #[test]
    fn suffix_numbers() {
        let names = |v: &[&str]| {
            v.iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .into_iter()
        };
        assert_eq!(next_suffix("demo.rl", names(&[])), 1);
        assert_eq!(
            next_suffix(
                "demo.rl",
                names(&["demo.rl", "demo.rl.2", "demo.rl.10", "x.rl.99"])
            ),
            11
        );
        assert_eq!(
            next_suffix(
                "demo.rl",
                names(&["demo.rl.", "demo.rl.1a", "demo.rl.-3", "demo.rlx.7"])
            ),
            1
        );
    }

    #[test]
    fn lmnewlog_renames_and_continues_under_the_old_name() {
        let d = dir();
        let path = d.path().join("demo.rl");
        let mut log = ReportLog::open(&path, true).unwrap();
        log.append(&[expected(0), expected(1)]).unwrap();
        // A relative name is beside the log.
        let to = log.new_log(Some(Path::new("jan.rl"))).unwrap();
        assert_eq!(to, d.path().join("jan.rl"));
        assert_eq!(log.path(), path);
        // Numbers continue, so the two files read in order side by side.
        assert_eq!(log.append(&[expected(2)]).unwrap(), 2..3);
        // Without a name: the next free suffix.
        let to2 = log.new_log(None).unwrap();
        assert_eq!(to2, d.path().join("demo.rl.1"));
        // Refused: the target exists; the current log stays in place.
        let err = log.new_log(Some(Path::new("jan.rl"))).unwrap_err();
        assert!(matches!(err, Error::Exists { .. }), "{err}");
        assert!(err.to_string().contains("jan.rl"), "{err}");
        log.append(&[expected(3)]).unwrap();
        drop(log);
        assert_eq!(
            all(&Reader::open(d.path().join("jan.rl")).unwrap()),
            [(0, expected(0)), (1, expected(1))]
        );
        assert_eq!(all(&Reader::open(&to2).unwrap()), [(2, expected(2))]);
        assert_eq!(all(&Reader::open(&path).unwrap()), [(3, expected(3))]);
    }

    #[test]
    fn lmswitchr_continues_in_another_file() {
        let d = dir();
        let path = d.path().join("demo.rl");
        let other = d.path().join("other.rl");
        let mut log = ReportLog::open(&path, true).unwrap();
        log.append(&[expected(0)]).unwrap();
        log.switch(&path).unwrap(); // the same file: nothing happens
        assert_eq!(log.path(), path);
        log.switch("other.rl").unwrap();
        assert_eq!(log.path(), other);
        assert_eq!(log.append(&[expected(1)]).unwrap(), 1..2);
        // Back to the first file: it is continued, not overwritten.
        log.switch(&path).unwrap();
        assert_eq!(log.append(&[expected(2)]).unwrap(), 1..2);
        drop(log);
        assert_eq!(
            all(&Reader::open(&path).unwrap()),
            [(0, expected(0)), (1, expected(2))]
        );
        assert_eq!(all(&Reader::open(&other).unwrap()), [(1, expected(1))]);
    }

    #[test]
    fn a_failed_switch_keeps_logging_in_the_current_file() {
        let d = dir();
        let path = d.path().join("demo.rl");
        let mut log = ReportLog::open(&path, true).unwrap();
        let err = log.switch(d.path().join("no/such/dir/x.rl")).unwrap_err();
        assert!(err.to_string().contains("no/such/dir/x.rl"), "{err}");
        log.append(&[expected(0)]).unwrap();
        assert_eq!(log.path(), path);
    }

    #[test]
    fn foreign_files_are_refused_and_left_alone() {
        let d = dir();
        let text = d.path().join("notes.txt");
        std::fs::write(
            &text,
            "not a database at all, but long enough to look at".repeat(20),
        )
        .unwrap();
        let before = std::fs::read(&text).unwrap();
        let err = ReportLog::open(&text, true).unwrap_err();
        assert!(matches!(err, Error::Open { .. }), "{err}");
        assert!(err.to_string().contains("notes.txt"), "{err}");
        assert!(Reader::open(&text).is_err());
        assert_eq!(std::fs::read(&text).unwrap(), before);

        // A redb database of someone else's.
        let other = d.path().join("other.redb");
        {
            let db = Database::create(&other).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(TableDefinition::<u64, u64>::new("raft_log"))
                .unwrap();
            txn.commit().unwrap();
        }
        let err = ReportLog::open(&other, true).unwrap_err();
        assert!(
            matches!(&err, Error::NotReportLog { table, .. } if table == "raft_log"),
            "{err}"
        );
        assert!(matches!(
            Reader::open(&other),
            Err(Error::NotReportLog { .. })
        ));

        let missing = d.path().join("missing.rl");
        let err = Reader::open(&missing).err().unwrap();
        assert!(err.to_string().contains("missing.rl"), "{err}");
        assert!(!missing.exists(), "reading must not create the file");
    }

    #[test]
    fn a_log_open_elsewhere_is_in_use() {
        let d = dir();
        let path = d.path().join("demo.rl");
        let _log = ReportLog::open(&path, true).unwrap();
        assert!(matches!(
            ReportLog::open(&path, true),
            Err(Error::InUse { .. })
        ));
        // Starting a new log must not move the live one aside either.
        assert!(matches!(
            ReportLog::open(&path, false),
            Err(Error::InUse { .. })
        ));
        assert!(!d.path().join("demo.rl.1").exists());
        let err = Reader::open(&path).err().unwrap();
        assert!(matches!(err, Error::InUse { .. }), "{err}");
        assert!(err.to_string().contains("lmnewlog"));
    }

    #[test]
    fn a_damaged_record_is_reported_with_its_number() {
        let d = dir();
        let path = d.path().join("demo.rl");
        let mut log = ReportLog::open(&path, true).unwrap();
        log.append(&[expected(0)]).unwrap();
        {
            let txn = log.db.begin_write().unwrap();
            txn.open_table(RECORDS)
                .unwrap()
                .insert(1, [9u8, 9].as_slice())
                .unwrap();
            txn.commit().unwrap();
        }
        let reader = log.reader().unwrap();
        let got: Vec<Result<(u64, Record), Error>> = reader.records().unwrap().collect();
        assert!(got[0].is_ok());
        let err = got[1].as_ref().unwrap_err();
        assert!(
            matches!(
                err,
                Error::Damaged {
                    seq: 1,
                    source: DecodeError::UnknownVersion(9),
                    ..
                }
            ),
            "{err}"
        );
    }

    const CHILD_ENV: &str = "REPORTLOG_CRASH_WRITER";

    /// The writer killed by `kill_9_mid_write_keeps_committed_records`:
    /// appends batches forever, printing each committed end.
    #[test]
    #[ignore = "a helper process, started by kill_9_mid_write_keeps_committed_records"]
    fn crash_writer_child() {
        let Some(path) = std::env::var_os(CHILD_ENV) else {
            return;
        };
        let mut log = ReportLog::open(&path, true).unwrap();
        let mut out = std::io::stdout();
        loop {
            let first = log.next_seq();
            let batch: Vec<Record> = (first..first + 40).map(expected).collect();
            let done = log.append(&batch).unwrap();
            // Written straight to stdout: the harness captures only print!.
            writeln!(out, "committed {}", done.end).unwrap();
            out.flush().unwrap();
        }
    }

    #[test]
    fn kill_9_mid_write_keeps_committed_records() {
        let d = dir();
        let path = d.path().join("demo.rl");
        let mut confirmed = 0;
        // Killed three times at arbitrary points of its write loop, each time
        // continuing the same log.
        for round in 0..3 {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args([
                    "--ignored",
                    "--exact",
                    "store::tests::crash_writer_child",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_ENV, &path)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let stdout = child.stdout.take().unwrap();
            let mut seen = 0;
            let mut commits = 0;
            for line in BufReader::new(stdout).lines() {
                let line = line.unwrap();
                if let Some(n) = line.strip_prefix("committed ") {
                    seen = n.parse::<u64>().unwrap();
                    commits += 1;
                    if commits == 5 + round * 3 {
                        break;
                    }
                }
            }
            child.kill().unwrap(); // SIGKILL: no destructor, no clean close
            child.wait().unwrap();
            assert!(seen > confirmed, "round {round}: the writer made progress");
            confirmed = seen;

            // The reader repairs the unclean file and finds every record the
            // writer reported committed, intact, numbered without gaps.
            let reader = Reader::open(&path).unwrap();
            let got = all(&reader);
            let n = got.len() as u64;
            assert!(
                n >= confirmed,
                "round {round}: {n} records < {confirmed} committed"
            );
            assert_eq!(n % 40, 0, "round {round}: a batch was stored in part");
            for (i, (seq, rec)) in got.into_iter().enumerate() {
                assert_eq!(seq, i as u64);
                assert_eq!(rec, expected(seq));
            }
            drop(reader);
            // And the writer's open (after a crash, with repair) continues it.
            let log = ReportLog::open(&path, true).unwrap();
            assert_eq!(log.next_seq(), n);
        }
    }
}
