//! Durable raft state in redb: the log, the hard state (term, vote, commit),
//! the membership, and a compaction snapshot of the application's state.
//!
//! Why it matters: a member that forgets its vote after a crash can vote twice
//! in one term and let two leaders be elected; one that forgets log entries it
//! acknowledged can lose a committed checkout. So everything raft asks to
//! persist is written in one redb write transaction (durable when `commit`
//! returns) *before* any message that depends on it leaves the member: the
//! [`Member`](crate::Member) persists each `Ready` before it queues the
//! `Ready`'s messages for sending.
//!
//! Reads are served from an in-memory copy kept in step with the database, so
//! raft's [`Storage`] calls never touch the disk and never fail. The copy is the
//! log after the last compaction; a license server's log is compacted by the
//! integrator (see [`Member::compact`](crate::Member::compact)).
//!
//! Records are encoded with [`crate::codec`], never with protobuf.

// raft's generated types carry protobuf bookkeeping fields: set field by field.
#![allow(clippy::field_reassign_with_default)]

use std::fmt;
use std::path::Path;
use std::sync::{Arc, RwLock};

use raft::eraftpb::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, RaftState, Storage};
use redb::{Database, ReadableTable, StorageBackend, TableDefinition};

use crate::codec;

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

const HARD_STATE: &str = "hard_state";
const CONF_STATE: &str = "conf_state";
const SNAPSHOT_META: &str = "snapshot_meta";
const SNAPSHOT_DATA: &str = "snapshot_data";
const INCARNATION: &str = "incarnation";

/// The triad's fixed membership: primary, secondary, tertiary.
pub const VOTERS: [u64; 3] = [1, 2, 3];

/// A failure of the durable store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed (I/O, or its own integrity checks).
    #[error("raft store: {0}")]
    Db(#[from] redb::Error),
    /// A record in the database is not one of ours.
    #[error("raft store: corrupt {what}: {err}")]
    Corrupt {
        /// Which record.
        what: &'static str,
        /// Why it did not decode.
        err: codec::DecodeError,
    },
    /// A caller asked for something the log cannot do.
    #[error("raft store: {0}")]
    Invalid(String),
}

fn db_err(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Db(e.into())
}

/// The durable raft state of one member.
pub struct Store {
    db: Database,
    hard_state: HardState,
    conf_state: ConfState,
    /// Index and term of the last compaction (0, 0 before any).
    snapshot_meta: SnapshotMetadata,
    snapshot_data: Vec<u8>,
    /// `entries[i].index == snapshot_meta.index + 1 + i`.
    entries: Vec<Entry>,
    incarnation: u64,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("hard_state", &self.hard_state)
            .field("snapshot_index", &self.snapshot_meta.index)
            .field("entries", &self.entries.len())
            .field("incarnation", &self.incarnation)
            .finish()
    }
}

impl Store {
    /// Opens (creating if needed) the store in a file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(db_err)?;
        Self::load(db)
    }

    /// Opens the store on any redb backend (for example [`SharedMemory`]).
    pub fn open_backend(backend: impl StorageBackend) -> Result<Self, StoreError> {
        let db = Database::builder()
            .create_with_backend(backend)
            .map_err(db_err)?;
        Self::load(db)
    }

    /// A store in memory only, lost when dropped (tests).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::open_backend(redb::backends::InMemoryBackend::new())
    }

    fn load(db: Database) -> Result<Self, StoreError> {
        let mut store = Store {
            db,
            hard_state: HardState::default(),
            conf_state: ConfState::default(),
            snapshot_meta: SnapshotMetadata::default(),
            snapshot_data: Vec::new(),
            entries: Vec::new(),
            incarnation: 0,
        };
        let txn = store.db.begin_write().map_err(db_err)?;
        {
            let mut meta = txn.open_table(META).map_err(db_err)?;
            let log = txn.open_table(LOG).map_err(db_err)?;
            let get = |key: &str| -> Result<Option<Vec<u8>>, StoreError> {
                Ok(meta.get(key).map_err(db_err)?.map(|v| v.value().to_vec()))
            };
            if let Some(b) = get(HARD_STATE)? {
                store.hard_state =
                    codec::decode_hard_state(&b).map_err(|err| StoreError::Corrupt {
                        what: "hard state",
                        err,
                    })?;
            }
            if let Some(b) = get(CONF_STATE)? {
                store.conf_state =
                    codec::decode_conf_state(&b).map_err(|err| StoreError::Corrupt {
                        what: "conf state",
                        err,
                    })?;
            }
            if let Some(b) = get(SNAPSHOT_META)? {
                store.snapshot_meta =
                    codec::decode_snapshot_metadata(&b).map_err(|err| StoreError::Corrupt {
                        what: "snapshot metadata",
                        err,
                    })?;
            }
            if let Some(b) = get(SNAPSHOT_DATA)? {
                store.snapshot_data = b;
            }
            let previous = match get(INCARNATION)? {
                Some(b) => <[u8; 8]>::try_from(b.as_slice())
                    .map(u64::from_be_bytes)
                    .map_err(|_| StoreError::Invalid("bad incarnation record".into()))?,
                None => 0,
            };
            store.incarnation = previous + 1;
            meta.insert(INCARNATION, &store.incarnation.to_be_bytes()[..])
                .map_err(db_err)?;
            for item in log.iter().map_err(db_err)? {
                let (k, v) = item.map_err(db_err)?;
                let e = codec::decode_entry(v.value()).map_err(|err| StoreError::Corrupt {
                    what: "log entry",
                    err,
                })?;
                let expected = store.snapshot_meta.index + 1 + store.entries.len() as u64;
                if k.value() != expected || e.index != expected {
                    return Err(StoreError::Invalid(format!(
                        "log has a gap: expected index {expected}, found {}",
                        k.value()
                    )));
                }
                store.entries.push(e);
            }
            if store.conf_state.voters.is_empty() {
                // A fresh member: every member starts with the same fixed
                // membership and an empty log, so no bootstrap entry is needed.
                store.conf_state.voters = VOTERS.to_vec();
                meta.insert(CONF_STATE, &codec::encode_conf_state(&store.conf_state)[..])
                    .map_err(db_err)?;
            }
        }
        txn.commit().map_err(db_err)?;
        Ok(store)
    }

    /// How many times this store has been opened, this time included. Lets a
    /// member tell its own proposals from those of an earlier run.
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// The persisted term, vote and commit index.
    pub fn hard_state(&self) -> &HardState {
        &self.hard_state
    }

    /// The application snapshot of the last compaction: `(index, data)`, or
    /// `None` if the log was never compacted.
    pub fn app_snapshot(&self) -> Option<(u64, &[u8])> {
        (self.snapshot_meta.index > 0).then_some((self.snapshot_meta.index, &self.snapshot_data))
    }

    fn first_index_(&self) -> u64 {
        self.snapshot_meta.index + 1
    }

    fn last_index_(&self) -> u64 {
        self.snapshot_meta.index + self.entries.len() as u64
    }

    /// Persists what a raft `Ready` asks for, in one transaction: a received
    /// snapshot (replacing the log), new entries (replacing any conflicting
    /// suffix), and the hard state.
    pub(crate) fn persist(
        &mut self,
        snapshot: Option<&Snapshot>,
        entries: &[Entry],
        hard_state: Option<&HardState>,
    ) -> Result<(), StoreError> {
        if snapshot.is_none() && entries.is_empty() && hard_state.is_none() {
            return Ok(());
        }
        // Check before writing so the cache and the database never diverge.
        if let Some(first) = entries.first() {
            let base = snapshot
                .map(|s| s.get_metadata().index)
                .unwrap_or(self.snapshot_meta.index);
            let last = if snapshot.is_some() {
                base
            } else {
                self.last_index_()
            };
            if first.index <= base || first.index > last + 1 {
                return Err(StoreError::Invalid(format!(
                    "append at {} outside ({base}, {}]",
                    first.index,
                    last + 1
                )));
            }
            if entries
                .windows(2)
                .any(|w| w[1].index != w[0].index.wrapping_add(1))
            {
                return Err(StoreError::Invalid("entries not contiguous".into()));
            }
        }
        let txn = self.db.begin_write().map_err(db_err)?;
        {
            let mut meta = txn.open_table(META).map_err(db_err)?;
            let mut log = txn.open_table(LOG).map_err(db_err)?;
            if let Some(s) = snapshot {
                let m = s.get_metadata();
                log.retain(|_, _| false).map_err(db_err)?;
                meta.insert(SNAPSHOT_META, &codec::encode_snapshot_metadata(m)[..])
                    .map_err(db_err)?;
                meta.insert(SNAPSHOT_DATA, &s.data[..]).map_err(db_err)?;
                meta.insert(
                    CONF_STATE,
                    &codec::encode_conf_state(m.get_conf_state())[..],
                )
                .map_err(db_err)?;
            }
            if let Some(first) = entries.first() {
                let from = first.index;
                if from <= self.last_index_() {
                    log.retain_in(from.., |_, _| false).map_err(db_err)?;
                }
                for e in entries {
                    log.insert(e.index, &codec::encode_entry(e)[..])
                        .map_err(db_err)?;
                }
            }
            let mut hs = hard_state.unwrap_or(&self.hard_state).clone();
            // A commit noted since the last write rides along (never lower
            // than what raft hands us, never past the log).
            let last = match entries.last() {
                Some(e) => e.index,
                None => snapshot.map_or(self.last_index_(), |s| s.get_metadata().index),
            };
            hs.commit = hs.commit.max(self.hard_state.commit.min(last));
            meta.insert(HARD_STATE, &codec::encode_hard_state(&hs)[..])
                .map_err(db_err)?;
        }
        txn.commit().map_err(db_err)?;

        if let Some(s) = snapshot {
            let m = s.get_metadata();
            self.snapshot_meta = m.clone();
            self.snapshot_data = s.data.to_vec();
            self.conf_state = m.get_conf_state().clone();
            self.entries.clear();
            if self.hard_state.commit < m.index {
                self.hard_state.commit = m.index;
            }
            if self.hard_state.term < m.term {
                self.hard_state.term = m.term;
            }
        }
        if let Some(first) = entries.first() {
            let keep = (first.index - self.first_index_()) as usize;
            self.entries.truncate(keep);
            self.entries.extend_from_slice(entries);
        }
        if let Some(hs) = hard_state {
            let noted = self.hard_state.commit.min(self.last_index_());
            self.hard_state = hs.clone();
            self.hard_state.commit = self.hard_state.commit.max(noted);
        }
        Ok(())
    }

    /// Records a new commit index in memory; it reaches the disk with the
    /// next write. Safe because raft learns the commit index again from the
    /// leader; the store only has to keep it at or above the compaction
    /// point, which [`Store::compact`] does by writing it.
    pub(crate) fn note_commit(&mut self, commit: u64) {
        if commit > self.hard_state.commit && commit <= self.last_index_() {
            self.hard_state.commit = commit;
        }
    }

    /// Discards the log up to and including `index`, keeping `data` (the
    /// application's state after applying `index`) as the snapshot that
    /// members too far behind receive instead.
    pub(crate) fn compact(&mut self, index: u64, data: Vec<u8>) -> Result<(), StoreError> {
        if index <= self.snapshot_meta.index {
            return Ok(());
        }
        if index > self.last_index_() || index > self.hard_state.commit {
            return Err(StoreError::Invalid(format!(
                "cannot compact to {index}: last {}, commit {}",
                self.last_index_(),
                self.hard_state.commit
            )));
        }
        let term = self.term_of(index)?;
        let mut m = SnapshotMetadata::default();
        m.index = index;
        m.term = term;
        m.set_conf_state(self.conf_state.clone());
        let txn = self.db.begin_write().map_err(db_err)?;
        {
            let mut meta = txn.open_table(META).map_err(db_err)?;
            let mut log = txn.open_table(LOG).map_err(db_err)?;
            log.retain_in(..=index, |_, _| false).map_err(db_err)?;
            meta.insert(SNAPSHOT_META, &codec::encode_snapshot_metadata(&m)[..])
                .map_err(db_err)?;
            // The commit on disk must not fall behind the compaction point.
            meta.insert(HARD_STATE, &codec::encode_hard_state(&self.hard_state)[..])
                .map_err(db_err)?;
            meta.insert(SNAPSHOT_DATA, &data[..]).map_err(db_err)?;
        }
        txn.commit().map_err(db_err)?;
        let drop = (index - self.snapshot_meta.index) as usize;
        self.entries.drain(..drop);
        self.snapshot_meta = m;
        self.snapshot_data = data;
        Ok(())
    }

    fn term_of(&self, idx: u64) -> Result<u64, StoreError> {
        if idx == self.snapshot_meta.index {
            return Ok(self.snapshot_meta.term);
        }
        if idx < self.first_index_() || idx > self.last_index_() {
            return Err(StoreError::Invalid(format!("no entry at {idx}")));
        }
        Ok(self.entries[(idx - self.first_index_()) as usize].term)
    }
}

/// Approximate encoded size of an entry, for raft's `max_size` limits.
fn entry_size(e: &Entry) -> u64 {
    (e.data.len() + e.context.len() + 26) as u64
}

impl Storage for Store {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState::new(
            self.hard_state.clone(),
            self.conf_state.clone(),
        ))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        use raft::StorageError::{Compacted, Unavailable};
        if low < self.first_index_() {
            return Err(raft::Error::Store(Compacted));
        }
        if high > self.last_index_() + 1 || low > high {
            return Err(raft::Error::Store(Unavailable));
        }
        let offset = self.first_index_();
        let slice = &self.entries[(low - offset) as usize..(high - offset) as usize];
        let max = max_size.into().unwrap_or(u64::MAX);
        let mut size = 0u64;
        let mut out = Vec::new();
        for e in slice {
            size = size.saturating_add(entry_size(e));
            if !out.is_empty() && size > max {
                break;
            }
            out.push(e.clone());
        }
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        use raft::StorageError::{Compacted, Unavailable};
        if idx == self.snapshot_meta.index {
            return Ok(self.snapshot_meta.term);
        }
        if idx < self.first_index_() {
            return Err(raft::Error::Store(Compacted));
        }
        if idx > self.last_index_() {
            return Err(raft::Error::Store(Unavailable));
        }
        Ok(self.entries[(idx - self.first_index_()) as usize].term)
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.first_index_())
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last_index_())
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        if self.snapshot_meta.index == 0 || self.snapshot_meta.index < request_index {
            return Err(raft::Error::Store(
                raft::StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        let mut s = Snapshot::default();
        s.data = self.snapshot_data.clone().into();
        s.set_metadata(self.snapshot_meta.clone());
        Ok(s)
    }
}

/// A redb backend in memory that outlives the [`Database`] using it: drop the
/// store (a crash) and open a new one on a clone of the backend (a restart)
/// and the data written by committed transactions is still there. For tests
/// and simulations.
#[derive(Debug, Clone, Default)]
pub struct SharedMemory(Arc<RwLock<Vec<u8>>>);

impl SharedMemory {
    /// An empty backend.
    pub fn new() -> Self {
        Self::default()
    }
}

fn poisoned() -> std::io::Error {
    std::io::Error::other("lock poisoned")
}

impl StorageBackend for SharedMemory {
    fn len(&self) -> Result<u64, std::io::Error> {
        Ok(self.0.read().map_err(|_| poisoned())?.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        let buf = self.0.read().map_err(|_| poisoned())?;
        let start = usize::try_from(offset).map_err(std::io::Error::other)?;
        let end = start.checked_add(out.len());
        match end.and_then(|end| buf.get(start..end)) {
            Some(src) => {
                out.copy_from_slice(src);
                Ok(())
            }
            None => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "read past the end",
            )),
        }
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        let len = usize::try_from(len).map_err(std::io::Error::other)?;
        self.0.write().map_err(|_| poisoned())?.resize(len, 0);
        Ok(())
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        let mut buf = self.0.write().map_err(|_| poisoned())?;
        let start = usize::try_from(offset).map_err(std::io::Error::other)?;
        let end = start.checked_add(data.len());
        match end.and_then(|end| buf.get_mut(start..end)) {
            Some(dst) => {
                dst.copy_from_slice(data);
                Ok(())
            }
            None => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "write past the end",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, term: u64, data: &[u8]) -> Entry {
        let mut e = Entry::default();
        e.index = index;
        e.term = term;
        e.data = data.to_vec().into();
        e
    }

    fn hs(term: u64, vote: u64, commit: u64) -> HardState {
        let mut h = HardState::default();
        h.term = term;
        h.vote = vote;
        h.commit = commit;
        h
    }

    #[test]
    fn fresh_store_has_the_triad_and_an_empty_log() {
        let s = Store::in_memory().unwrap();
        let st = s.initial_state().unwrap();
        assert_eq!(st.conf_state.voters, vec![1, 2, 3]);
        assert_eq!(st.hard_state, HardState::default());
        assert_eq!(s.first_index().unwrap(), 1);
        assert_eq!(s.last_index().unwrap(), 0);
        assert_eq!(s.term(0).unwrap(), 0);
        assert_eq!(s.incarnation(), 1);
    }

    #[test]
    fn reopen_returns_what_was_written() {
        let mem = SharedMemory::new();
        {
            let mut s = Store::open_backend(mem.clone()).unwrap();
            s.persist(
                None,
                &[entry(1, 1, b"a"), entry(2, 1, b"b"), entry(3, 2, b"c")],
                Some(&hs(2, 3, 2)),
            )
            .unwrap();
            // A conflicting suffix replaces entries from its first index.
            s.persist(None, &[entry(3, 3, b"d")], Some(&hs(3, 2, 2)))
                .unwrap();
        }
        let s = Store::open_backend(mem.clone()).unwrap();
        assert_eq!(s.incarnation(), 2);
        assert_eq!(s.hard_state(), &hs(3, 2, 2));
        assert_eq!(s.last_index().unwrap(), 3);
        let es = s
            .entries(1, 4, None, GetEntriesContext::empty(false))
            .unwrap();
        let data: Vec<_> = es.iter().map(|e| (e.term, e.data.to_vec())).collect();
        assert_eq!(
            data,
            vec![(1, b"a".to_vec()), (1, b"b".to_vec()), (3, b"d".to_vec())]
        );
    }

    #[test]
    fn term_and_vote_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raft.redb");
        {
            let mut s = Store::open(&path).unwrap();
            s.persist(None, &[], Some(&hs(7, 2, 0))).unwrap();
        }
        let s = Store::open(&path).unwrap();
        let st = s.initial_state().unwrap();
        assert_eq!((st.hard_state.term, st.hard_state.vote), (7, 2));
    }

    #[test]
    fn compaction_keeps_the_snapshot_and_the_tail() {
        let mem = SharedMemory::new();
        {
            let mut s = Store::open_backend(mem.clone()).unwrap();
            let es: Vec<_> = (1..=5).map(|i| entry(i, 1, &[i as u8])).collect();
            s.persist(None, &es, Some(&hs(1, 1, 4))).unwrap();
            assert!(s.compact(5, b"x".to_vec()).is_err(), "beyond commit");
            s.compact(3, b"state@3".to_vec()).unwrap();
            assert_eq!(s.first_index().unwrap(), 4);
            assert_eq!(s.term(3).unwrap(), 1);
            assert!(s.term(2).is_err());
            assert!(s
                .entries(2, 4, None, GetEntriesContext::empty(false))
                .is_err());
        }
        let s = Store::open_backend(mem).unwrap();
        assert_eq!(s.first_index().unwrap(), 4);
        assert_eq!(s.last_index().unwrap(), 5);
        assert_eq!(s.app_snapshot(), Some((3, &b"state@3"[..])));
        let snap = s.snapshot(0, 2).unwrap();
        assert_eq!(snap.get_metadata().index, 3);
        assert_eq!(snap.get_metadata().get_conf_state().voters, vec![1, 2, 3]);
    }

    #[test]
    fn a_received_snapshot_replaces_the_log() {
        let mem = SharedMemory::new();
        let mut s = Store::open_backend(mem.clone()).unwrap();
        s.persist(None, &[entry(1, 1, b"a")], Some(&hs(1, 1, 1)))
            .unwrap();
        let mut snap = Snapshot::default();
        snap.data = b"remote".to_vec().into();
        let m = snap.mut_metadata();
        m.index = 10;
        m.term = 2;
        m.mut_conf_state().voters = vec![1, 2, 3];
        s.persist(Some(&snap), &[entry(11, 2, b"z")], Some(&hs(2, 0, 10)))
            .unwrap();
        drop(s);
        let s = Store::open_backend(mem).unwrap();
        assert_eq!(s.first_index().unwrap(), 11);
        assert_eq!(s.last_index().unwrap(), 11);
        assert_eq!(s.term(10).unwrap(), 2);
        assert_eq!(s.app_snapshot(), Some((10, &b"remote"[..])));
    }

    #[test]
    fn bad_appends_are_refused_without_changing_anything() {
        let mut s = Store::in_memory().unwrap();
        assert!(s.persist(None, &[entry(5, 1, b"")], None).is_err());
        assert!(s
            .persist(None, &[entry(1, 1, b""), entry(3, 1, b"")], None)
            .is_err());
        assert_eq!(s.last_index().unwrap(), 0);
    }
}
