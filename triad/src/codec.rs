//! Our own byte encoding of raft's messages and of the records the store keeps.
//!
//! Why not protobuf: raft-rs's generated types come with a protobuf parser that
//! has a published advisory about untrusted input. Nothing in this crate hands
//! bytes from the network (or from disk) to it. Every field is written here by
//! hand instead: integers as fixed-width big-endian, byte strings and lists as a
//! `u32` length followed by the items, optional parts behind a presence byte.
//! Decoders check every length against what is left of the input before
//! allocating, return [`DecodeError`] for anything malformed, reject trailing
//! bytes, and never panic (property-tested below on arbitrary input).
//!
//! Every top-level record starts with [`VERSION`], so a later layout can be told
//! apart from this one.

// raft's generated types carry protobuf bookkeeping fields; filling them field
// by field, in wire order, reads closest to the layout.
#![allow(clippy::field_reassign_with_default)]

use raft::eraftpb::{
    ConfState, Entry, EntryType, HardState, Message, MessageType, Snapshot, SnapshotMetadata,
};

/// The encoding version written first in every record.
pub const VERSION: u8 = 1;

/// The most entries one message may carry.
pub const MAX_ENTRIES: usize = 1 << 16;

/// The most ids one list of a [`ConfState`] may carry (a triad has three).
pub const MAX_IDS: usize = 16;

/// A decoding failure: the input is not a record of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended inside a field.
    #[error("unexpected end of input")]
    UnexpectedEnd,
    /// The first byte is not an encoding version we know.
    #[error("unknown encoding version {0}")]
    Version(u8),
    /// A message type number raft does not define.
    #[error("unknown message type {0}")]
    MessageType(u8),
    /// An entry type number raft does not define.
    #[error("unknown entry type {0}")]
    EntryType(u8),
    /// A boolean or presence byte other than 0 or 1.
    #[error("invalid flag byte {0}")]
    Flag(u8),
    /// A list or byte string longer than allowed or than the input.
    #[error("{what}: length {len} is over the limit")]
    TooLong {
        /// Which field.
        what: &'static str,
        /// The length read.
        len: u64,
    },
    /// Bytes left over after the record.
    #[error("{0} trailing bytes")]
    TrailingData(usize),
}

// ---------------------------------------------------------------- writing

#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }
    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    fn len(&mut self, n: usize) {
        // Lengths over u32 cannot be produced by raft for our payloads; saturate
        // rather than panic, the decoder will then reject the record.
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.buf.extend_from_slice(b);
    }
    fn ids(&mut self, ids: &[u64]) {
        self.len(ids.len());
        for id in ids {
            self.u64(*id);
        }
    }
    fn conf_state(&mut self, cs: &ConfState) {
        self.ids(&cs.voters);
        self.ids(&cs.learners);
        self.ids(&cs.voters_outgoing);
        self.ids(&cs.learners_next);
        self.bool(cs.auto_leave);
    }
    fn snapshot_metadata(&mut self, m: &SnapshotMetadata) {
        match m.conf_state.as_ref() {
            Some(cs) => {
                self.u8(1);
                self.conf_state(cs);
            }
            None => self.u8(0),
        }
        self.u64(m.index);
        self.u64(m.term);
    }
    fn snapshot(&mut self, s: &Snapshot) {
        self.bytes(&s.data);
        match s.metadata.as_ref() {
            Some(m) => {
                self.u8(1);
                self.snapshot_metadata(m);
            }
            None => self.u8(0),
        }
    }
    fn entry(&mut self, e: &Entry) {
        self.u8(entry_type_code(e.entry_type));
        self.u64(e.term);
        self.u64(e.index);
        self.bytes(&e.data);
        self.bytes(&e.context);
        self.bool(e.sync_log);
    }
}

fn entry_type_code(t: EntryType) -> u8 {
    match t {
        EntryType::EntryNormal => 0,
        EntryType::EntryConfChange => 1,
        EntryType::EntryConfChangeV2 => 2,
    }
}

fn entry_type_from(code: u8) -> Result<EntryType, DecodeError> {
    Ok(match code {
        0 => EntryType::EntryNormal,
        1 => EntryType::EntryConfChange,
        2 => EntryType::EntryConfChangeV2,
        other => return Err(DecodeError::EntryType(other)),
    })
}

/// raft's message type as the byte we send. The numbers are raft's own.
pub fn message_type_code(t: MessageType) -> u8 {
    use MessageType::*;
    match t {
        MsgHup => 0,
        MsgBeat => 1,
        MsgPropose => 2,
        MsgAppend => 3,
        MsgAppendResponse => 4,
        MsgRequestVote => 5,
        MsgRequestVoteResponse => 6,
        MsgSnapshot => 7,
        MsgHeartbeat => 8,
        MsgHeartbeatResponse => 9,
        MsgUnreachable => 10,
        MsgSnapStatus => 11,
        MsgCheckQuorum => 12,
        MsgTransferLeader => 13,
        MsgTimeoutNow => 14,
        MsgReadIndex => 15,
        MsgReadIndexResp => 16,
        MsgRequestPreVote => 17,
        MsgRequestPreVoteResponse => 18,
    }
}

fn message_type_from(code: u8) -> Result<MessageType, DecodeError> {
    use MessageType::*;
    Ok(match code {
        0 => MsgHup,
        1 => MsgBeat,
        2 => MsgPropose,
        3 => MsgAppend,
        4 => MsgAppendResponse,
        5 => MsgRequestVote,
        6 => MsgRequestVoteResponse,
        7 => MsgSnapshot,
        8 => MsgHeartbeat,
        9 => MsgHeartbeatResponse,
        10 => MsgUnreachable,
        11 => MsgSnapStatus,
        12 => MsgCheckQuorum,
        13 => MsgTransferLeader,
        14 => MsgTimeoutNow,
        15 => MsgReadIndex,
        16 => MsgReadIndexResp,
        17 => MsgRequestPreVote,
        18 => MsgRequestPreVoteResponse,
        other => return Err(DecodeError::MessageType(other)),
    })
}

// ---------------------------------------------------------------- reading

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { rest: buf }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < n {
            return Err(DecodeError::UnexpectedEnd);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn flag(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(DecodeError::Flag(other)),
        }
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(b))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(b))
    }
    /// A count of items each at least `min_size` bytes long, checked against
    /// `limit` and against what is left, so no allocation exceeds the input.
    fn count(
        &mut self,
        what: &'static str,
        limit: usize,
        min_size: usize,
    ) -> Result<usize, DecodeError> {
        let n = self.u32()? as usize;
        let fits = n
            .checked_mul(min_size)
            .is_some_and(|need| need <= self.rest.len());
        if n > limit || !fits {
            return Err(DecodeError::TooLong {
                what,
                len: n as u64,
            });
        }
        Ok(n)
    }
    fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let n = self.count(what, usize::MAX, 1)?;
        self.take(n)
    }
    fn ids(&mut self, what: &'static str) -> Result<Vec<u64>, DecodeError> {
        let n = self.count(what, MAX_IDS, 8)?;
        (0..n).map(|_| self.u64()).collect()
    }
    fn conf_state(&mut self) -> Result<ConfState, DecodeError> {
        let mut cs = ConfState::default();
        cs.voters = self.ids("voters")?;
        cs.learners = self.ids("learners")?;
        cs.voters_outgoing = self.ids("voters_outgoing")?;
        cs.learners_next = self.ids("learners_next")?;
        cs.auto_leave = self.flag()?;
        Ok(cs)
    }
    fn snapshot_metadata(&mut self) -> Result<SnapshotMetadata, DecodeError> {
        let mut m = SnapshotMetadata::default();
        if self.flag()? {
            m.set_conf_state(self.conf_state()?);
        }
        m.index = self.u64()?;
        m.term = self.u64()?;
        Ok(m)
    }
    fn snapshot(&mut self) -> Result<Snapshot, DecodeError> {
        let mut s = Snapshot::default();
        s.data = self.bytes("snapshot data")?.to_vec().into();
        if self.flag()? {
            s.set_metadata(self.snapshot_metadata()?);
        }
        Ok(s)
    }
    fn entry(&mut self) -> Result<Entry, DecodeError> {
        let mut e = Entry::default();
        e.entry_type = entry_type_from(self.u8()?)?;
        e.term = self.u64()?;
        e.index = self.u64()?;
        e.data = self.bytes("entry data")?.to_vec().into();
        e.context = self.bytes("entry context")?.to_vec().into();
        e.sync_log = self.flag()?;
        Ok(e)
    }
    fn version(&mut self) -> Result<(), DecodeError> {
        match self.u8()? {
            VERSION => Ok(()),
            other => Err(DecodeError::Version(other)),
        }
    }
    fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingData(self.rest.len()))
        }
    }
}

/// The smallest encoded entry: type, term, index, two empty byte strings, flag.
const MIN_ENTRY_SIZE: usize = 1 + 8 + 8 + 4 + 4 + 1;

// ---------------------------------------------------------------- records

/// Encodes a raft message for the network.
pub fn encode_message(m: &Message) -> Vec<u8> {
    let mut w = Writer::default();
    w.u8(VERSION);
    w.u8(message_type_code(m.msg_type));
    w.u64(m.to);
    w.u64(m.from);
    w.u64(m.term);
    w.u64(m.log_term);
    w.u64(m.index);
    w.u64(m.commit);
    w.u64(m.commit_term);
    w.u64(m.request_snapshot);
    w.bool(m.reject);
    w.u64(m.reject_hint);
    w.bytes(&m.context);
    w.u64(m.deprecated_priority);
    w.u64(m.priority as u64);
    w.len(m.entries.len());
    for e in m.entries.iter() {
        w.entry(e);
    }
    match m.snapshot.as_ref() {
        Some(s) => {
            w.u8(1);
            w.snapshot(s);
        }
        None => w.u8(0),
    }
    w.buf
}

/// Decodes a raft message received from the network.
pub fn decode_message(buf: &[u8]) -> Result<Message, DecodeError> {
    let mut r = Reader::new(buf);
    r.version()?;
    let mut m = Message::default();
    m.msg_type = message_type_from(r.u8()?)?;
    m.to = r.u64()?;
    m.from = r.u64()?;
    m.term = r.u64()?;
    m.log_term = r.u64()?;
    m.index = r.u64()?;
    m.commit = r.u64()?;
    m.commit_term = r.u64()?;
    m.request_snapshot = r.u64()?;
    m.reject = r.flag()?;
    m.reject_hint = r.u64()?;
    m.context = r.bytes("message context")?.to_vec().into();
    m.deprecated_priority = r.u64()?;
    m.priority = r.u64()? as i64;
    let n = r.count("entries", MAX_ENTRIES, MIN_ENTRY_SIZE)?;
    let mut entries = Vec::with_capacity(n);
    for _ in 0..n {
        entries.push(r.entry()?);
    }
    m.set_entries(entries.into());
    if r.flag()? {
        m.set_snapshot(r.snapshot()?);
    }
    r.finish()?;
    Ok(m)
}

/// Encodes one log entry (as the store keeps it).
pub fn encode_entry(e: &Entry) -> Vec<u8> {
    let mut w = Writer::default();
    w.u8(VERSION);
    w.entry(e);
    w.buf
}

/// Decodes one log entry.
pub fn decode_entry(buf: &[u8]) -> Result<Entry, DecodeError> {
    let mut r = Reader::new(buf);
    r.version()?;
    let e = r.entry()?;
    r.finish()?;
    Ok(e)
}

/// Encodes the hard state (term, vote, commit).
pub fn encode_hard_state(hs: &HardState) -> Vec<u8> {
    let mut w = Writer::default();
    w.u8(VERSION);
    w.u64(hs.term);
    w.u64(hs.vote);
    w.u64(hs.commit);
    w.buf
}

/// Decodes the hard state.
pub fn decode_hard_state(buf: &[u8]) -> Result<HardState, DecodeError> {
    let mut r = Reader::new(buf);
    r.version()?;
    let mut hs = HardState::default();
    hs.term = r.u64()?;
    hs.vote = r.u64()?;
    hs.commit = r.u64()?;
    r.finish()?;
    Ok(hs)
}

/// Encodes the membership.
pub fn encode_conf_state(cs: &ConfState) -> Vec<u8> {
    let mut w = Writer::default();
    w.u8(VERSION);
    w.conf_state(cs);
    w.buf
}

/// Decodes the membership.
pub fn decode_conf_state(buf: &[u8]) -> Result<ConfState, DecodeError> {
    let mut r = Reader::new(buf);
    r.version()?;
    let cs = r.conf_state()?;
    r.finish()?;
    Ok(cs)
}

/// Encodes snapshot metadata (index, term, membership).
pub fn encode_snapshot_metadata(m: &SnapshotMetadata) -> Vec<u8> {
    let mut w = Writer::default();
    w.u8(VERSION);
    w.snapshot_metadata(m);
    w.buf
}

/// Decodes snapshot metadata.
pub fn decode_snapshot_metadata(buf: &[u8]) -> Result<SnapshotMetadata, DecodeError> {
    let mut r = Reader::new(buf);
    r.version()?;
    let m = r.snapshot_metadata()?;
    r.finish()?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_conf_state() -> impl Strategy<Value = ConfState> {
        let ids = || proptest::collection::vec(any::<u64>(), 0..4);
        (ids(), ids(), ids(), ids(), any::<bool>()).prop_map(|(v, l, vo, ln, al)| {
            let mut cs = ConfState::default();
            cs.voters = v;
            cs.learners = l;
            cs.voters_outgoing = vo;
            cs.learners_next = ln;
            cs.auto_leave = al;
            cs
        })
    }

    fn arb_entry() -> impl Strategy<Value = Entry> {
        (
            0u8..3,
            any::<u64>(),
            any::<u64>(),
            proptest::collection::vec(any::<u8>(), 0..40),
            proptest::collection::vec(any::<u8>(), 0..8),
            any::<bool>(),
        )
            .prop_map(|(t, term, index, data, ctx, sync)| {
                let mut e = Entry::default();
                e.entry_type = entry_type_from(t).unwrap_or(EntryType::EntryNormal);
                e.term = term;
                e.index = index;
                e.data = data.into();
                e.context = ctx.into();
                e.sync_log = sync;
                e
            })
    }

    fn arb_snapshot() -> impl Strategy<Value = Option<Snapshot>> {
        proptest::option::of((
            proptest::collection::vec(any::<u8>(), 0..40),
            proptest::option::of((
                proptest::option::of(arb_conf_state()),
                any::<u64>(),
                any::<u64>(),
            )),
        ))
        .prop_map(|o| {
            o.map(|(data, meta)| {
                let mut s = Snapshot::default();
                s.data = data.into();
                if let Some((cs, index, term)) = meta {
                    let mut m = SnapshotMetadata::default();
                    if let Some(cs) = cs {
                        m.set_conf_state(cs);
                    }
                    m.index = index;
                    m.term = term;
                    s.set_metadata(m);
                }
                s
            })
        })
    }

    prop_compose! {
        fn arb_message()(
            t in 0u8..19,
            ints in proptest::array::uniform10(any::<u64>()),
            reject in any::<bool>(),
            priority in any::<i64>(),
            ctx in proptest::collection::vec(any::<u8>(), 0..16),
            entries in proptest::collection::vec(arb_entry(), 0..4),
            snap in arb_snapshot(),
        ) -> Message {
            let mut m = Message::default();
            m.msg_type = message_type_from(t).unwrap_or(MessageType::MsgHup);
            m.to = ints[0];
            m.from = ints[1];
            m.term = ints[2];
            m.log_term = ints[3];
            m.index = ints[4];
            m.commit = ints[5];
            m.commit_term = ints[6];
            m.request_snapshot = ints[7];
            m.reject = reject;
            m.reject_hint = ints[8];
            m.context = ctx.into();
            m.deprecated_priority = ints[9];
            m.priority = priority;
            m.set_entries(entries.into());
            if let Some(s) = snap {
                m.set_snapshot(s);
            }
            m
        }
    }

    proptest! {
        #[test]
        fn message_round_trips(m in arb_message()) {
            let bytes = encode_message(&m);
            prop_assert_eq!(decode_message(&bytes), Ok(m));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_message(&bytes);
            let _ = decode_entry(&bytes);
            let _ = decode_hard_state(&bytes);
            let _ = decode_conf_state(&bytes);
            let _ = decode_snapshot_metadata(&bytes);
        }

        #[test]
        fn mutated_messages_never_panic(
            m in arb_message(),
            at in any::<usize>(),
            byte in any::<u8>(),
            cut in any::<usize>(),
        ) {
            let mut bytes = encode_message(&m);
            let n = bytes.len();
            bytes[at % n] = byte;
            let _ = decode_message(&bytes);
            bytes.truncate(cut % (n + 1));
            let _ = decode_message(&bytes);
        }

        #[test]
        fn records_round_trip(e in arb_entry(), cs in arb_conf_state(), hs in proptest::array::uniform3(any::<u64>())) {
            prop_assert_eq!(decode_entry(&encode_entry(&e)), Ok(e));
            prop_assert_eq!(decode_conf_state(&encode_conf_state(&cs)), Ok(cs.clone()));
            let mut h = HardState::default();
            h.term = hs[0];
            h.vote = hs[1];
            h.commit = hs[2];
            prop_assert_eq!(decode_hard_state(&encode_hard_state(&h)), Ok(h));
            let mut meta = SnapshotMetadata::default();
            meta.set_conf_state(cs);
            meta.index = hs[0];
            prop_assert_eq!(decode_snapshot_metadata(&encode_snapshot_metadata(&meta)), Ok(meta));
        }
    }

    #[test]
    fn huge_counts_are_rejected_before_allocating() {
        let mut m = Message::default();
        m.msg_type = MessageType::MsgAppend;
        let mut bytes = encode_message(&m);
        // The entry count sits right before the final snapshot flag.
        let at = bytes.len() - 1 - 4;
        bytes[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            decode_message(&bytes),
            Err(DecodeError::TooLong {
                what: "entries",
                ..
            })
        ));
    }

    #[test]
    fn trailing_bytes_and_versions_are_rejected() {
        let m = Message::default();
        let mut bytes = encode_message(&m);
        bytes.push(0);
        assert_eq!(decode_message(&bytes), Err(DecodeError::TrailingData(1)));
        bytes.pop();
        bytes[0] = 9;
        assert_eq!(decode_message(&bytes), Err(DecodeError::Version(9)));
        assert_eq!(decode_message(&[]), Err(DecodeError::UnexpectedEnd));
    }
}
