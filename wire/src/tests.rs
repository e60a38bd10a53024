use super::*;
use proptest::prelude::*;

fn samples() -> Vec<Message> {
    let identity = ClientIdentity {
        user: "joe".into(),
        host: "ws1".into(),
        display: "/dev/pts/1".into(),
        pid: 4242,
        platform: "x86_64_linux".into(),
        hostids: vec!["0800200005ac".into()],
        client_version: "0.1.0".into(),
        job: 0xdead_beef,
        project: "apollo".into(),
    };
    let grant = Granted {
        req: 7,
        handle: 99,
        feature: "f1".into(),
        version: "1.0".into(),
        count: 2,
        expiry: "permanent".into(),
        proof: vec![LineProof {
            content: crate::codec::Blob(b"lmsign1\n7:FEATURE\n".to_vec()),
            key_id: 0x7d5d_f514,
            signature: crate::codec::Blob(vec![0xab; 64]),
        }],
        seal: crate::codec::Blob(vec![0x5e; 64]),
    };
    vec![
        Message::Hello(Hello { identity }),
        Message::Welcome(Welcome {
            server: "demo".into(),
            version: "0.1.0".into(),
            heartbeat_interval_ms: 30_000,
            timeout_ms: 120_000,
            held: vec![grant.clone()],
        }),
        Message::Error(ErrorReply {
            code: -97,
            minor: 121,
            text: "The desired vendor daemon is down.".into(),
        }),
        Message::Heartbeat(Heartbeat { seq: 1, idle: true }),
        Message::HeartbeatAck(Heartbeat {
            seq: 1,
            idle: false,
        }),
        Message::VendorLookup(VendorLookup {
            vendor: "demo".into(),
        }),
        Message::VendorInfo(VendorInfo {
            vendor: "demo".into(),
            port: 40123,
        }),
        Message::Checkout(Checkout {
            req: 7,
            feature: "f1".into(),
            version: "1.0".into(),
            count: 2,
            dup_group: 0,
            queue: false,
            borrow_until: 1_800_000_000,
            return_hash: codec::Blob(vec![9; 32]),
        }),
        Message::ReturnBorrow(ReturnBorrow {
            req: 3,
            feature: "f1".into(),
            secret: codec::Blob(vec![8; 32]),
        }),
        Message::TriadHello(TriadHello {
            member: 2,
            cluster: "c0ffee".into(),
            nonce: codec::Blob(vec![5; 32]),
            proof: codec::Blob(vec![6; 32]),
        }),
        Message::TriadProof(TriadProof {
            proof: codec::Blob(vec![6; 32]),
        }),
        Message::TriadRaft(TriadRaft {
            payload: codec::Blob(vec![1, 2, 3]),
        }),
        Message::Propose(Propose {
            seq: 9,
            payload: codec::Blob(vec![7; 60_000]),
        }),
        Message::Replicate(Replicate {
            index: 4,
            payload: codec::Blob(Vec::new()),
        }),
        Message::TriadRole(TriadRole {
            serving: true,
            member: 1,
            master: 1,
            term: 3,
            reason: "majority".into(),
        }),
        Message::Granted(grant),
        Message::Denied(Denied {
            req: 8,
            code: -4,
            minor: 342,
            text: "Licensed number of users already reached.".into(),
            detail: String::new(),
        }),
        Message::Denied(Denied {
            req: 9,
            code: -9,
            minor: 0,
            text: "Invalid host.".into(),
            detail: "locked to HOSTID=17007ea8; this machine: 0800200005ac".into(),
        }),
        Message::Checkin(Checkin { req: 9, handle: 99 }),
        Message::CheckedIn(Checkin { req: 9, handle: 99 }),
        Message::Revoked(Revoked {
            handle: 99,
            code: -36,
            text: "removed by the administrator".into(),
        }),
        Message::StatusQuery(StatusQuery {
            feature: String::new(),
            paged: true,
            after: 7,
        }),
        Message::Status(StatusReply {
            next: 9,
            server: "demo".into(),
            version: "0.1.0".into(),
            host: "server1".into(),
            port: 27000,
            vendors: vec![VendorState {
                name: "demo".into(),
                up: true,
                port: 40123,
                version: "0.1.0".into(),
            }],
            features: vec![FeatureStatus {
                name: "f1".into(),
                version: "1.0".into(),
                counted: true,
                issued: 4,
                in_use: 1,
                expiry: "permanent".into(),
                holders: vec![Holder {
                    user: "joe".into(),
                    host: "ws1".into(),
                    display: "/dev/pts/1".into(),
                    version: "1.0".into(),
                    handle: 99,
                    started: 1_700_000_000,
                    count: 1,
                    pid: 4242,
                    requested_version: "1.0".into(),
                    queued: false,
                    borrow_until: 1_800_000_000,
                    linger: 30,
                }],
                hostids: String::new(),
                vendor_string: "tier=gold".into(),
                omitted: 2,
                reservations: vec![
                    ReservationStatus {
                        count: 2,
                        kind: "GROUP".into(),
                        name: "cad".into(),
                    },
                    ReservationStatus {
                        count: 1,
                        kind: "HOST".into(),
                        name: "ws9".into(),
                    },
                ],
            }],
            license_files: vec!["/usr/local/flexlm/licenses/license.dat".into()],
            triad: Vec::new(),
        }),
        Message::StatsQuery(StatsQuery {}),
        Message::Stats(StatsReply {
            granted: 12,
            queued: 1,
            denied: vec![CodeCount { code: -4, count: 3 }],
            released: 10,
            reclaimed: 2,
            removed: 1,
            heartbeat_misses: 2,
            connections: 5,
            latency_buckets: vec![0, 7, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            latency_sum_us: 2_345,
        }),
        Message::UsageQuery(UsageQuery { days: 31 }),
        Message::Usage(UsageReply {
            logged: true,
            features: vec![FeatureUsage {
                feature: "f1".into(),
                issued: 4,
                days: vec![UsageDay {
                    date: "2026-12-01".into(),
                    peak: 3,
                    checkouts: 40,
                    denied: 2,
                }],
            }],
            truncated: false,
        }),
        Message::Admin(AdminRequest {
            op: admin_op::SHUTDOWN,
            force: true,
            ..Default::default()
        }),
        Message::AdminReply(AdminReply {
            code: 0,
            text: "ok".into(),
        }),
    ]
}

#[test]
fn every_message_round_trips_through_a_split_stream() {
    let msgs = samples();
    let mut bytes = Vec::new();
    for m in &msgs {
        m.encode(&mut bytes);
    }
    for chunk in [1usize, 3, 7, 64, bytes.len()] {
        let mut d = MessageDecoder::default();
        let mut got = Vec::new();
        for piece in bytes.chunks(chunk) {
            d.feed(piece);
            while let Some(m) = d.next_message().unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got, msgs, "chunk size {chunk}");
    }
}

#[test]
fn content_errors_are_reported() {
    let mut bytes = Vec::new();
    frame::encode_frame(0x7f, b"", &mut bytes);
    let mut d = MessageDecoder::default();
    d.feed(&bytes);
    assert_eq!(
        d.next_message(),
        Err(ProtocolError::Decode(DecodeError::UnknownType(0x7f)))
    );

    let mut bytes = Vec::new();
    frame::encode_frame(0x04, &[0, 0, 0, 1, 0, 9], &mut bytes);
    let mut d = MessageDecoder::default();
    d.feed(&bytes);
    assert_eq!(
        d.next_message(),
        Err(ProtocolError::Decode(DecodeError::Trailing(1)))
    );

    let mut bytes = Vec::new();
    frame::encode_frame(0x10, &[0, 5, b'a'], &mut bytes);
    let mut d = MessageDecoder::default();
    d.feed(&bytes);
    assert_eq!(
        d.next_message(),
        Err(ProtocolError::Decode(DecodeError::Truncated("string")))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut d = MessageDecoder::default();
        d.feed(&bytes);
        while let Ok(Some(_)) = d.next_message() {}
    }

    #[test]
    fn arbitrary_payloads_never_panic(kind in any::<u8>(), payload in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = Message::decode(kind, &payload);
    }

    #[test]
    fn corrupting_any_byte_is_detected(idx in 0usize..200, flip in 1u8..=255) {
        let msgs = samples();
        let bytes = msgs[1].to_frame_bytes();
        let idx = idx % bytes.len();
        let mut bad = bytes.clone();
        bad[idx] ^= flip;
        let mut d = MessageDecoder::default();
        d.feed(&bad);
        // Either an error, or (when the length grew) a wait for more bytes;
        // never a different message.
        if let Ok(Some(m)) = d.next_message() {
            prop_assert!(false, "corruption at {} accepted: {:?}", idx, m);
        }
    }
}
