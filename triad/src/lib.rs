//! Three-server redundancy: the consensus core of a license-server triad.
//!
//! A license file with three SERVER lines makes a triad: primary (first line,
//! member 1), secondary (member 2), tertiary (member 3). Exactly one master
//! serves, only while it is in a majority; every accounting change (checkout,
//! checkin, reclaim) is proposed by the master and committed by a majority
//! before a client hears of it, so a new master already knows every seat in
//! use.
//!
//! The consensus is raft (tikv's `raft` crate, a synchronous state machine),
//! wrapped without I/O:
//!
//! * [`codec`]: our own byte encoding of raft's messages and stored records
//!   (no protobuf parser ever reads bytes from the network or the disk);
//! * [`store`]: raft's durable state in redb;
//! * [`member`]: one member as an event-driven state machine (time passed in),
//!   with the FLEXlm mastership rules and the serving lease.
//!
//! The daemon's mio loop owns sockets, the clock and framing; it feeds
//! [`Member::tick`], [`Member::step`] and [`Member::propose`], and carries
//! out what [`Member::poll_transmit`] and [`Member::poll_event`] return.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod codec;
pub mod member;
pub mod store;

pub use member::{
    Error, Event, Member, MemberConfig, ProposalId, ProposeError, Role, Status, StepError,
    Transmit, PRIMARY, SECONDARY, TERTIARY,
};
pub use store::{SharedMemory, Store, StoreError};
