//! The spool: report records handed to the kernel before they reach the
//! report log, so that a vendor daemon can commit the log on a thread of
//! its own and still lose nothing when the daemon alone crashes.
//!
//! The event loop appends each turn's records here with one `write(2)`
//! (no fsync: the kernel keeps them if the process dies); a writer thread
//! commits them to the redb log (with fsync) and records in the same
//! transaction the spool number of the last one ([`crate::ReportLog::spooled_through`]).
//! At the next start, records spooled after that number are written
//! again. A power failure can lose what was spooled since the last
//! commit, as it could before: the commit is what reaches the disk.
//!
//! A frame: `u32` length of what follows up to the checksum (little
//! endian), `u64` spool number, the record (`codec`), `u32` CRC-32 of the
//! number and the record. Reading stops at the first frame that is short,
//! too long, fails its checksum or does not decode: that is where a crash
//! cut the file, and nothing after it is trusted.

use crate::codec;
use crate::record::Record;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

/// The largest frame body read back: records are small (their strings are
/// cut by the codec), so anything larger is damage.
const MAX_FRAME: usize = 64 * 1024;

/// Appends the frame of `record`, numbered `sid`, to `out`.
pub fn encode_frame(sid: u64, record: &Record, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&sid.to_le_bytes());
    codec::encode(record, out);
    let crc = crc32fast::hash(&out[start + 4..]);
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Reads the whole frames at the start of `bytes`: the records with their
/// numbers, and how many bytes they take (where a torn tail begins).
pub fn decode_frames(bytes: &[u8]) -> (Vec<(u64, Record)>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some((sid, record, used)) = decode_one(&bytes[at..]) {
        out.push((sid, record));
        at += used;
    }
    (out, at)
}

fn decode_one(bytes: &[u8]) -> Option<(u64, Record, usize)> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    if !(8..=MAX_FRAME).contains(&len) {
        return None;
    }
    let body = bytes.get(4..4 + len)?;
    let crc = u32::from_le_bytes(bytes.get(4 + len..8 + len)?.try_into().ok()?);
    if crc32fast::hash(body) != crc {
        return None;
    }
    let sid = u64::from_le_bytes(body[..8].try_into().ok()?);
    let record = codec::decode(&body[8..]).ok()?;
    Some((sid, record, len + 8))
}

/// The spool file of one report log, open for appending.
#[derive(Debug)]
pub struct Spool {
    file: File,
    path: PathBuf,
    /// The number the next record gets.
    next_sid: u64,
    /// Bytes in the file.
    len: u64,
    buf: Vec<u8>,
}

impl Spool {
    /// Opens (or creates) the spool at `path` and returns what it holds;
    /// a torn tail is cut off. Numbering continues after both what it
    /// holds and `committed` (the log's [`crate::ReportLog::spooled_through`]).
    pub fn open(
        path: &Path,
        committed: Option<u64>,
    ) -> std::io::Result<(Spool, Vec<(u64, Record)>)> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let (held, valid) = decode_frames(&bytes);
        file.set_len(valid as u64)?;
        file.seek(SeekFrom::End(0))?;
        let last = held.iter().map(|(sid, _)| *sid).chain(committed).max();
        let spool = Spool {
            file,
            path: path.to_path_buf(),
            next_sid: last.map_or(0, |s| s.saturating_add(1)),
            len: valid as u64,
            buf: Vec::new(),
        };
        Ok((spool, held))
    }

    /// Appends `records` with one write and returns the numbers they got
    /// (`None` for no records).
    pub fn append(&mut self, records: &[Record]) -> std::io::Result<Option<RangeInclusive<u64>>> {
        if records.is_empty() {
            return Ok(None);
        }
        self.buf.clear();
        let first = self.next_sid;
        for r in records {
            encode_frame(self.next_sid, r, &mut self.buf);
            self.next_sid = self.next_sid.saturating_add(1);
        }
        self.file.write_all(&self.buf)?;
        self.len += self.buf.len() as u64;
        Ok(Some(first..=self.next_sid - 1))
    }

    /// The number of the last record appended, if any ever was.
    pub fn last_sid(&self) -> Option<u64> {
        self.next_sid.checked_sub(1)
    }

    /// Bytes in the file.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Returns true if and only if the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Empties the file; numbering goes on. Only once every record in it
    /// is committed.
    pub fn clear(&mut self) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.len = 0;
        Ok(())
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Kind;

    fn rec(i: u64) -> Record {
        Record {
            user: format!("user{i}"),
            handle: i,
            count: 1,
            ..Record::new(1_000 + i, Kind::Checkout, "f1")
        }
    }

    #[test]
    fn frames_read_back_and_a_torn_or_damaged_tail_is_cut() {
        let mut bytes = Vec::new();
        for i in 0..3 {
            encode_frame(10 + i, &rec(i), &mut bytes);
        }
        let whole = bytes.len();
        let (got, used) = decode_frames(&bytes);
        assert_eq!(used, whole);
        assert_eq!(
            got.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            vec![10, 11, 12]
        );
        assert_eq!(got[2].1, rec(2));
        // Torn in the middle of the last frame.
        for cut in 1..(whole - got.len()) {
            let (part, used) = decode_frames(&bytes[..whole - cut]);
            assert!(part.len() < 3 && used < whole, "cut {cut}");
        }
        // A flipped bit in the second frame: only the first is trusted.
        let mut bad = bytes.clone();
        let second = decode_frames(&bytes[..]).0.len(); // 3
        assert_eq!(second, 3);
        let first_len = {
            let mut one = Vec::new();
            encode_frame(10, &rec(0), &mut one);
            one.len()
        };
        bad[first_len + 9] ^= 0x40;
        assert_eq!(decode_frames(&bad).0.len(), 1);
    }

    #[test]
    fn a_reopened_spool_returns_what_it_holds_and_numbers_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.rl.spool");
        let (mut s, held) = Spool::open(&path, None).unwrap();
        assert!(held.is_empty() && s.is_empty());
        assert_eq!(s.append(&[rec(0), rec(1)]).unwrap(), Some(0..=1));
        assert_eq!(s.append(&[]).unwrap(), None);
        drop(s);
        // A crash left half a frame behind.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[9, 0, 0, 0, 1, 2]).unwrap();
        drop(f);
        let (mut s, held) = Spool::open(&path, None).unwrap();
        assert_eq!(
            held.iter().map(|(sid, _)| *sid).collect::<Vec<_>>(),
            vec![0, 1]
        );
        assert_eq!(s.append(&[rec(2)]).unwrap(), Some(2..=2));
        s.clear().unwrap();
        assert_eq!(s.append(&[rec(3)]).unwrap(), Some(3..=3));
        drop(s);
        // The log says more was committed than the spool holds (it was
        // emptied): numbering goes on after the log's.
        let (s, held) = Spool::open(&path, Some(40)).unwrap();
        assert_eq!(held.len(), 1);
        assert_eq!(s.last_sid(), Some(40));
    }
}
