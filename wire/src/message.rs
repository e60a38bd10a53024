//! The messages, and their type codes on the wire.
//!
//! A client first sends `Hello` (who it is) and gets `Welcome` (heartbeat
//! rules, and any seats its job already holds). To lmgrd it then sends
//! `VendorLookup`; to a vendor daemon `Checkout`, `Checkin`, `Heartbeat`.
//! Status and admin requests work on both.

use crate::codec::{Blob, Reader, Wire, Writer};
use crate::error::DecodeError;
use crate::frame::encode_frame;
use crate::wire_struct;

wire_struct!(
    /// Who is asking: sent once per connection.
    ClientIdentity {
        user: String,
        host: String,
        display: String,
        pid: u32,
        platform: String,
        /// The client machine's hostids, as lmhostid prints them.
        hostids: Vec<String>,
        client_version: String,
        /// Stable for the life of the application's license job, so a job
        /// that reconnects gets its own seats back.
        job: u64,
        /// LM_PROJECT, for options-file PROJECT rules.
        project: String,
    }
);

wire_struct!(Hello {
    identity: ClientIdentity
});

wire_struct!(
    Welcome {
        /// "lmgrd" or the vendor name.
        server: String,
        version: String,
        /// How often the client should send a heartbeat.
        heartbeat_interval_ms: u32,
        /// After how long without one its seats are reclaimed.
        timeout_ms: u32,
        /// Seats this job already holds (after a reconnect).
        held: Vec<Granted>,
    }
);

wire_struct!(
    /// A refusal or failure, with FLEXlm's error number.
    ErrorReply { code: i32, minor: i32, text: String }
);

wire_struct!(Heartbeat {
    seq: u32,
    /// The application says its user is idle (FLEXlm's lc_idle): while
    /// idle, heartbeats keep the connection alive but do not count as
    /// activity for the options file's TIMEOUT.
    idle: bool,
});

wire_struct!(VendorLookup { vendor: String });

wire_struct!(VendorInfo {
    vendor: String,
    /// The vendor daemon's TCP port on the host the client used for lmgrd.
    port: u16,
});

wire_struct!(Checkout {
    /// Chosen by the client; echoed in the reply.
    req: u32,
    feature: String,
    /// Minimum version, as a decimal string.
    version: String,
    count: u32,
    /// DUP_GROUP mask asked by the application (bits: 1 user, 2 host,
    /// 4 display, 8 vendor; 0x10 site; 0 none). A DUP_GROUP on the
    /// license line wins.
    dup_group: u8,
    /// Wait in the queue instead of failing when no seat is free.
    queue: bool,
    /// Borrow the license until this Unix time (0: an ordinary checkout).
    /// A borrowed seat stays taken, across restarts, until then or until
    /// it is returned early, whether or not the client stays connected.
    borrow_until: u64,
    /// For a borrow: the SHA-256 of a secret only the borrowing client
    /// holds (`borrow_key`), which an early return must show. Empty
    /// otherwise.
    return_hash: Blob,
});

wire_struct!(
    /// Return a borrowed license early (lmborrow -return): the one of
    /// `feature` borrowed by this connection's user and host, whose
    /// return hash `secret` matches (`borrow_key`).
    ReturnBorrow {
        req: u32,
        feature: String,
        secret: Blob,
    }
);

wire_struct!(Granted {
    req: u32,
    handle: u64,
    feature: String,
    version: String,
    count: u32,
    expiry: String,
    /// The signed license line(s) behind the grant, so that the
    /// application can check that its publisher signed them.
    proof: Vec<LineProof>,
    /// For a borrow: the vendor daemon's seal over its terms (see
    /// `grammar::publisher::BorrowSeal`), kept with the client's borrow
    /// record; empty otherwise.
    seal: Blob,
});

wire_struct!(
    /// A license line as its publisher signed it: the signed content and
    /// the Ed25519 signature, with the id of the key that made it.
    LineProof {
        content: Blob,
        key_id: u32,
        signature: Blob,
    }
);

wire_struct!(Denied {
    req: u32,
    code: i32,
    minor: i32,
    text: String,
    /// What exactly did not fit, for the administrator (the hostids the
    /// line is locked to and the client's, the date a line expired); empty
    /// when the text says it all.
    detail: String,
});

wire_struct!(Checkin {
    req: u32,
    handle: u64
});

wire_struct!(
    /// The server took a seat back (lmremove, shutdown...).
    Revoked { handle: u64, code: i32, text: String }
);

wire_struct!(
    /// Asks for usage and holders (`feature` empty: every feature).
    /// Unpaged, the reply lists what fits in one frame. Paged, it lists the
    /// holders after handle `after` (waiters too when `after` is 0) up to a
    /// page's worth, and its `next` says where the following page starts,
    /// so that a daemon with many thousands of holders answers in small
    /// steps between checkouts (see `docs/protocol.md`, Status pages).
    StatusQuery {
        feature: String,
        paged: bool,
        after: u64,
    }
);

wire_struct!(
    /// Asks a vendor daemon for its counters (lmgrd's `/metrics`).
    StatsQuery {}
);

wire_struct!(
    /// How many times something happened, by FLEXlm error number.
    CodeCount { code: i32, count: u64 }
);

/// The upper bounds, in microseconds, of [`StatsReply::latency_buckets`]:
/// the last bucket counts everything slower than the last bound.
pub const CHECKOUT_LATENCY_BOUNDS_US: [u64; 12] = [
    50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 1_000_000,
];

wire_struct!(
    /// What a vendor daemon has done since it started. Counters only grow.
    StatsReply {
        /// Checkouts granted (queued ones when their seat came).
        granted: u64,
        /// Checkouts that joined the queue.
        queued: u64,
        /// Checkouts refused, by error number.
        denied: Vec<CodeCount>,
        /// Seats given back, whatever the reason.
        released: u64,
        /// Seats taken back from silent or idle holders.
        reclaimed: u64,
        /// Seats taken back by lmremove.
        removed: u64,
        /// Connections holding seats closed for want of a heartbeat.
        heartbeat_misses: u64,
        /// Client connections open now.
        connections: u32,
        /// Checkouts answered, per bucket of time from the request's
        /// arrival to its answer (bounds: [`CHECKOUT_LATENCY_BOUNDS_US`],
        /// then one more bucket for slower ones). Not cumulative.
        latency_buckets: Vec<u64>,
        /// The sum of those times, in microseconds.
        latency_sum_us: u64,
    }
);

wire_struct!(
    /// Asks a vendor daemon for the daily use its report log shows (the
    /// dashboard's long view): at most `days` days back, the last first to go.
    UsageQuery { days: u32 }
);

wire_struct!(
    /// One feature on one day, in the daemon's time zone.
    UsageDay {
        /// `YYYY-MM-DD`.
        date: String,
        /// Most seats in use at once.
        peak: u64,
        checkouts: u64,
        /// Checkouts refused, whatever the reason.
        denied: u64,
    }
);

wire_struct!(
    /// One feature's daily use.
    FeatureUsage {
        feature: String,
        /// Licenses issued, as last recorded (0: not known).
        issued: u32,
        days: Vec<UsageDay>,
    }
);

wire_struct!(
    /// The answer to a [`UsageQuery`].
    UsageReply {
        /// False when no report log is open (options REPORTLOG): nothing
        /// is known beyond what the daemon holds now.
        logged: bool,
        features: Vec<FeatureUsage>,
        /// True when older days were left out to fit one frame.
        truncated: bool,
    }
);

wire_struct!(Holder {
    user: String,
    host: String,
    display: String,
    version: String,
    handle: u64,
    /// Unix time of the checkout.
    started: u64,
    count: u32,
    /// The application's process id.
    pid: u32,
    /// The version the application asked for (lmstat's `(v1.0)`).
    requested_version: String,
    /// Waiting in the queue for `count` licenses, not holding them.
    queued: bool,
    /// Borrowed until this Unix time (0: not borrowed).
    borrow_until: u64,
    /// Seconds the seat stays taken after checkin (LINGER), 0 for none.
    linger: u32,
});

wire_struct!(
    FeatureStatus {
        name: String,
        version: String,
        counted: bool,
        issued: u32,
        in_use: u32,
        expiry: String,
        holders: Vec<Holder>,
        /// The pool's HOSTID as the license writes it; empty when floating.
        hostids: String,
        /// VENDOR_STRING of the pool's lines.
        vendor_string: String,
        /// The options file's RESERVE lines for this feature (sent with
        /// the feature's first pool only).
        reservations: Vec<ReservationStatus>,
        /// Holders left out of `holders` so that the reply fits in one
        /// frame (see `docs/protocol.md`, Status); 0 when all are listed.
        omitted: u32,
    }
);

wire_struct!(
    /// One RESERVE line: `count` licenses set aside for `kind name`.
    ReservationStatus {
        count: u32,
        /// USER, HOST, DISPLAY, INTERNET, PROJECT, GROUP or HOST_GROUP.
        kind: String,
        name: String,
    }
);

wire_struct!(
    StatusReply {
        /// "lmgrd" or the vendor name.
        server: String,
        version: String,
        host: String,
        port: u16,
        /// For lmgrd: its vendor daemons and whether each is up.
        vendors: Vec<VendorState>,
        features: Vec<FeatureStatus>,
        /// For lmgrd: the license file(s) it serves.
        license_files: Vec<String>,
        /// For an lmgrd of a triad: the three members as it sees them.
        triad: Vec<TriadMember>,
        /// A paged reply with more holders to come: the `after` of the next
        /// page. 0: this reply is the last (or the only) one.
        next: u64,
    }
);

wire_struct!(
    /// One member of a three-server triad, as an lmgrd sees it.
    TriadMember {
        /// 1, 2, 3: primary, secondary, tertiary (SERVER line order).
        line: u32,
        host: String,
        port: u16,
        up: bool,
        master: bool,
        /// Why this lmgrd thinks what it thinks (lmdiag, lmstat -a).
        reason: String,
    }
);

wire_struct!(
    /// An lmgrd of a triad introduces itself to another member.
    TriadHello {
        member: u32,
        /// The license file's identity, so members of different triads
        /// that share an address never talk to each other.
        cluster: String,
        /// A fresh random challenge (32 bytes) when this member has a triad
        /// key; empty without one.
        nonce: Blob,
        /// The accepting member's proof of the key (HMAC-SHA256 over both
        /// nonces, see `lmgrd`'s `triad_auth`); empty from the dialing
        /// member, which proves itself in [`TriadProof`].
        proof: Blob,
    }
);

wire_struct!(
    /// The dialing member's proof of the triad key, sent once the accepting
    /// member's `TriadHello` (and its proof) checked.
    TriadProof { proof: Blob }
);

wire_struct!(
    /// A consensus message between triad members (our own encoding of it).
    TriadRaft { payload: Blob }
);

wire_struct!(
    /// A vendor daemon asks its lmgrd to replicate a batch of accounting
    /// changes; nothing in it is acknowledged to clients before it comes
    /// back as [`Replicate`].
    Propose { seq: u64, payload: Blob }
);

wire_struct!(
    /// A batch the triad's majority committed, in log order.
    Replicate { index: u64, payload: Blob }
);

wire_struct!(
    /// lmgrd tells its vendor daemon whether it may serve.
    TriadRole {
        serving: bool,
        member: u32,
        /// The member the triad follows (0: none known).
        master: u32,
        term: u64,
        reason: String,
    }
);

wire_struct!(VendorState {
    name: String,
    up: bool,
    port: u16,
    version: String
});

/// What an admin request asks for.
pub mod admin_op {
    pub const SHUTDOWN: u8 = 1;
    pub const REREAD: u8 = 2;
    pub const REMOVE_USER: u8 = 3;
    pub const REMOVE_HANDLE: u8 = 4;
    /// lmswitch: the vendor daemon's debug log goes to a new file.
    pub const SWITCH_LOG: u8 = 5;
    /// lmswitchr: the report log goes to a new file.
    pub const SWITCH_REPORT_LOG: u8 = 6;
    /// lmnewlog: the report log is renamed and a new one started.
    pub const NEW_REPORT_LOG: u8 = 7;
}

wire_struct!(AdminRequest {
    op: u8,
    /// Empty: all vendors.
    vendor: String,
    feature: String,
    user: String,
    host: String,
    display: String,
    handle: u64,
    force: bool,
    path: String,
});

wire_struct!(AdminReply {
    code: i32,
    text: String
});

// Admin requests tied to a verified requester: see `crate::admin_access`.

wire_struct!(
    /// Where is your local admin socket, and a nonce please.
    AdminAccessQuery {
        /// The TCP port the tool dialed (for the daemon's log only).
        port: u16,
    }
);

wire_struct!(
    /// The daemon's answer to `AdminAccessQuery`.
    AdminAccess {
        /// The Unix-domain admin socket's path; empty when there is none.
        socket: String,
        /// The TCP port this daemon serves.
        port: u16,
        /// Fresh for this connection; good for one `AdminFor` over it.
        nonce: Blob,
    }
);

wire_struct!(
    /// An admin request meant for the daemon serving TCP port `port`.
    AdminFor {
        port: u16,
        /// The admin token's name; empty over the Unix socket.
        token: String,
        /// HMAC-SHA256 over `admin_access::mac_input`; empty over the Unix socket.
        mac: Blob,
        request: AdminRequest,
    }
);

macro_rules! messages {
    ($($variant:ident($ty:ty) = $code:expr),* $(,)?) => {
        /// Every message of the protocol.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Message { $($variant($ty)),* }

        impl Message {
            /// The type code in the frame header.
            pub fn kind(&self) -> u8 {
                match self { $(Message::$variant(_) => $code),* }
            }

            /// Decodes a frame's payload.
            pub fn decode(kind: u8, payload: &[u8]) -> Result<Message, DecodeError> {
                let mut r = Reader::new(payload);
                let m = match kind {
                    $($code => Message::$variant(<$ty>::get(&mut r)?),)*
                    other => return Err(DecodeError::UnknownType(other)),
                };
                r.finish()?;
                Ok(m)
            }

            fn put_payload(&self, w: &mut Writer) {
                match self { $(Message::$variant(m) => m.put(w)),* }
            }
        }
    };
}

messages! {
    Hello(Hello) = 0x01,
    Welcome(Welcome) = 0x02,
    Error(ErrorReply) = 0x03,
    Heartbeat(Heartbeat) = 0x04,
    HeartbeatAck(Heartbeat) = 0x05,
    VendorLookup(VendorLookup) = 0x10,
    VendorInfo(VendorInfo) = 0x11,
    Checkout(Checkout) = 0x20,
    Granted(Granted) = 0x21,
    Denied(Denied) = 0x22,
    Checkin(Checkin) = 0x23,
    CheckedIn(Checkin) = 0x24,
    Revoked(Revoked) = 0x25,
    ReturnBorrow(ReturnBorrow) = 0x26,
    TriadHello(TriadHello) = 0x50,
    TriadRaft(TriadRaft) = 0x51,
    Propose(Propose) = 0x52,
    Replicate(Replicate) = 0x53,
    TriadRole(TriadRole) = 0x54,
    TriadProof(TriadProof) = 0x55,
    StatusQuery(StatusQuery) = 0x30,
    Status(StatusReply) = 0x31,
    StatsQuery(StatsQuery) = 0x32,
    Stats(StatsReply) = 0x33,
    UsageQuery(UsageQuery) = 0x34,
    Usage(UsageReply) = 0x35,
    Admin(AdminRequest) = 0x40,
    AdminReply(AdminReply) = 0x41,
    AdminAccessQuery(AdminAccessQuery) = 0x42,
    AdminAccess(AdminAccess) = 0x43,
    AdminFor(AdminFor) = 0x44,
}

impl Message {
    /// Appends this message, framed, to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::default();
        self.put_payload(&mut w);
        encode_frame(self.kind(), &w.buf, out);
    }

    /// This message as one frame.
    pub fn to_frame_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}
