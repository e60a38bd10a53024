//! Borrowed seats on disk, so that they outlive the vendor daemon and
//! lmgrd: a borrowing laptop may be far away for a week while the server
//! restarts, and its seat must stay taken all that time.
//!
//! The store is a `redb` database (an embedded ACID store: a crash, even
//! `kill -9` in the middle of a write, leaves either the old or the new
//! state, never a torn one). One table maps the seat's handle to its
//! [`BorrowRecord`], encoded with the wire crate's bounded codec. Every
//! batch of changes of one turn of the event loop is one transaction,
//! committed before the replies of that turn are sent.

use accounting::{BorrowChange, BorrowRecord};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};
use wire::codec::{Blob, Reader, Wire, Writer};

const BORROWS: TableDefinition<u64, &[u8]> = TableDefinition::new("borrows");

wire::wire_struct!(
    /// A [`BorrowRecord`] as stored, after its layout byte. Layout 1 is
    /// these fields; layout 2 adds the return hash (a `Blob`) after them.
    Stored {
        feature: String,
        version: String,
        count: u32,
        user: String,
        host: String,
        display: String,
        pid: u32,
        requested: String,
        started_ms: u64,
        until_ms: u64,
    }
);

/// The layout written. Layout 1 (no return hash) is still read: such a
/// borrow is ended early by no client (see `accounting`'s return_borrow).
const LAYOUT: u8 = 2;

/// What went wrong with the store, and which file it is.
#[derive(Debug, thiserror::Error)]
#[error("borrow store {path}: {what}")]
pub struct StoreError {
    pub path: PathBuf,
    pub what: String,
}

/// The durable set of borrowed seats of one vendor daemon.
pub struct BorrowStore {
    db: Database,
    path: PathBuf,
}

impl BorrowStore {
    /// Opens the store at `path`, creating it if needed.
    pub fn open(path: &Path) -> Result<BorrowStore, StoreError> {
        let fail = |what: String| StoreError {
            path: path.to_path_buf(),
            what,
        };
        let db = Database::create(path).map_err(|e| fail(e.to_string()))?;
        let store = BorrowStore {
            db,
            path: path.to_path_buf(),
        };
        // Create the table, so that reading an empty store works.
        store.apply(&[])?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError {
            path: self.path.clone(),
            what: e.to_string(),
        }
    }

    /// Every stored seat. Records that cannot be decoded (written by a
    /// newer version, or damaged) are reported and skipped.
    pub fn load(&self) -> Result<(Vec<BorrowRecord>, Vec<String>), StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.error(e))?;
        let table = txn.open_table(BORROWS).map_err(|e| self.error(e))?;
        let mut records = Vec::new();
        let mut problems = Vec::new();
        for entry in table.iter().map_err(|e| self.error(e))? {
            let (k, v) = entry.map_err(|e| self.error(e))?;
            let handle = k.value();
            match decode(handle, v.value()) {
                Some(r) => records.push(r),
                None => problems.push(format!(
                    "{}: borrowed seat {handle} is unreadable; skipped",
                    self.path.display()
                )),
            }
        }
        Ok((records, problems))
    }

    /// Applies `changes` in one transaction, durable when this returns.
    pub fn apply(&self, changes: &[BorrowChange]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.error(e))?;
        {
            let mut table = txn.open_table(BORROWS).map_err(|e| self.error(e))?;
            for change in changes {
                match change {
                    BorrowChange::Add(r) => {
                        table
                            .insert(r.handle, encode(r).as_slice())
                            .map_err(|e| self.error(e))?;
                    }
                    BorrowChange::Remove(handle) => {
                        table.remove(*handle).map_err(|e| self.error(e))?;
                    }
                }
            }
        }
        txn.commit().map_err(|e| self.error(e))
    }
}

/// A record as stored (public for the fuzz targets).
pub fn encode(r: &BorrowRecord) -> Vec<u8> {
    let mut w = Writer::default();
    LAYOUT.put(&mut w);
    Stored {
        feature: r.feature.clone(),
        version: r.version.clone(),
        count: r.count,
        user: r.user.clone(),
        host: r.host.clone(),
        display: r.display.clone(),
        pid: r.pid,
        requested: r.requested.clone(),
        started_ms: r.started_ms,
        until_ms: r.until_ms,
    }
    .put(&mut w);
    Blob(r.return_hash.clone()).put(&mut w);
    w.buf
}

/// A stored record, or `None` if the bytes are not one (public for the
/// fuzz targets: a store file is read back as untrusted bytes).
pub fn decode(handle: u64, bytes: &[u8]) -> Option<BorrowRecord> {
    let mut r = Reader::new(bytes);
    let layout = u8::get(&mut r).ok()?;
    let s = Stored::get(&mut r).ok()?;
    let return_hash = match layout {
        1 => Vec::new(),
        LAYOUT => Blob::get(&mut r).ok()?.0,
        _ => return None,
    };
    r.finish().ok()?;
    Some(BorrowRecord {
        handle,
        feature: s.feature,
        version: s.version,
        count: s.count,
        user: s.user,
        host: s.host,
        display: s.display,
        pid: s.pid,
        requested: s.requested,
        started_ms: s.started_ms,
        until_ms: s.until_ms,
        return_hash,
    })
}

/// Where a vendor daemon keeps its borrowed seats when not told: in the
/// state directory, named after the vendor.
pub fn default_path(vendor: &str) -> PathBuf {
    hostenv::state_dir::resolve(Path::new(&format!("{vendor}.borrows")))
}

/// Whether any of `pools` may be borrowed from (a BORROW= line): only
/// then does a daemon need a borrow store.
pub fn any_borrowable(pools: &grammar::pool::PoolSet) -> bool {
    pools.pools.iter().any(|p| p.borrow_hours.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(handle: u64) -> BorrowRecord {
        BorrowRecord {
            handle,
            feature: "f1".into(),
            version: "1.0".into(),
            count: 1,
            user: "joe".into(),
            host: "laptop".into(),
            display: "/dev/pts/1".into(),
            pid: 42,
            requested: "1.0".into(),
            started_ms: 1_000,
            until_ms: 9_000_000,
            return_hash: vec![3; 32],
        }
    }

    #[test]
    fn records_of_layout_1_read_without_a_hash() {
        let mut bytes = encode(&record(4));
        bytes[0] = 1;
        bytes.truncate(bytes.len() - 4 - 32);
        let old = decode(4, &bytes).expect("layout 1");
        assert_eq!(old.return_hash, Vec::<u8>::new());
        assert_eq!(old.user, "joe");
        assert_eq!(decode(4, &encode(&record(4))), Some(record(4)));
        bytes[0] = 9;
        assert_eq!(decode(4, &bytes), None, "unknown layout");
    }

    #[test]
    fn records_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("demo.borrows");
        {
            let store = BorrowStore::open(&path).unwrap();
            store
                .apply(&[
                    BorrowChange::Add(record(3)),
                    BorrowChange::Add(record(7)),
                    BorrowChange::Add(record(9)),
                ])
                .unwrap();
            store.apply(&[BorrowChange::Remove(7)]).unwrap();
        }
        let store = BorrowStore::open(&path).unwrap();
        let (records, problems) = store.load().unwrap();
        assert!(problems.is_empty());
        assert_eq!(records, vec![record(3), record(9)]);
    }

    #[test]
    fn unreadable_records_are_skipped_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("demo.borrows");
        let store = BorrowStore::open(&path).unwrap();
        store.apply(&[BorrowChange::Add(record(1))]).unwrap();
        let txn = store.db.begin_write().unwrap();
        txn.open_table(BORROWS)
            .unwrap()
            .insert(2, &b"\x07garbage"[..])
            .unwrap();
        txn.commit().unwrap();
        let (records, problems) = store.load().unwrap();
        assert_eq!(records, vec![record(1)]);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("seat 2"), "{problems:?}");
    }

    #[test]
    fn a_store_that_is_not_a_database_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("demo.borrows");
        std::fs::write(&path, b"not a database at all, just text").unwrap();
        let err = BorrowStore::open(&path).err().expect("refused");
        assert!(err.to_string().contains("demo.borrows"), "{err}");
    }
}
