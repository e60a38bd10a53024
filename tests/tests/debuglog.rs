//! The debug log of a whole session, line by line, against the shapes of
//! FLEXlm's real log lines (the spec's captures): usage analysers read the
//! one as they read the other.
//!
//! Each shape is a template; every template that FLEXlm's captures show is
//! checked against those real lines too, so a template cannot drift away
//! from what FLEXlm writes.

use e2e::*;
use std::process::Command;
use std::time::Duration;
use wire::{Checkin, Checkout, Message};

const WAIT: Duration = Duration::from_secs(20);

/// One piece of a template.
#[derive(Debug, Clone, Copy)]
enum Piece {
    /// This text exactly.
    Lit(&'static str),
    /// `HH:MM:SS`, the hour padded with a space.
    Time,
    /// An optionally negative number.
    Num,
    /// One or more characters but blanks, parentheses and quotes.
    Word,
    /// `M/D/YYYY`.
    Date,
    /// Feature names separated by blanks (a wrapped `Server started on`).
    Names,
    /// Anything, possibly empty.
    Any,
}

/// Splits `{t}`, `{n}`, `{w}`, `{d}`, `{names}` and `{*}` out of a
/// template.
fn pieces(template: &'static str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            out.push(Piece::Lit(&rest[..open]));
        }
        let close = open + rest[open..].find('}').expect("closed placeholder");
        out.push(match &rest[open + 1..close] {
            "t" => Piece::Time,
            "n" => Piece::Num,
            "w" => Piece::Word,
            "d" => Piece::Date,
            "names" => Piece::Names,
            "*" => Piece::Any,
            other => panic!("unknown placeholder {other}"),
        });
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Lit(rest));
    }
    out
}

/// The lengths of `text`'s prefixes that `piece` can match, longest first.
fn spans(piece: Piece, text: &str) -> Vec<usize> {
    let run = |ok: &dyn Fn(char) -> bool| {
        text.char_indices()
            .find(|(_, c)| !ok(*c))
            .map_or(text.len(), |(i, _)| i)
    };
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    match piece {
        Piece::Lit(l) => {
            if text.starts_with(l) {
                vec![l.len()]
            } else {
                vec![]
            }
        }
        Piece::Time => {
            let b = text.as_bytes();
            let hour = if b.first() == Some(&b' ') { 1 } else { 0 };
            let h = digits(&text[hour..]);
            let ok = (1..=2).contains(&h)
                && hour + h == 2
                && text.len() >= 8
                && b[2] == b':'
                && b[5] == b':'
                && digits(&text[3..]) == 2
                && digits(&text[6..]) == 2;
            if ok {
                vec![8]
            } else {
                vec![]
            }
        }
        Piece::Num => {
            let sign = usize::from(text.starts_with('-'));
            match digits(&text[sign..]) {
                0 => vec![],
                n => vec![sign + n],
            }
        }
        Piece::Word => {
            let n = run(&|c| !c.is_whitespace() && !"()\"@".contains(c));
            (1..=n)
                .rev()
                .filter(|i| text.is_char_boundary(*i))
                .collect()
        }
        Piece::Date => {
            let parts: Vec<usize> = {
                let m = digits(text);
                let rest = &text[m..];
                if m == 0 || !rest.starts_with('/') {
                    return vec![];
                }
                let d = digits(&rest[1..]);
                let rest2 = &rest[1 + d..];
                if d == 0 || !rest2.starts_with('/') {
                    return vec![];
                }
                vec![m, d, digits(&rest2[1..])]
            };
            if parts[2] == 4 {
                vec![parts[0] + parts[1] + parts[2] + 2]
            } else {
                vec![]
            }
        }
        Piece::Names => {
            let n = run(&|c| c.is_ascii_alphanumeric() || "_.- \t".contains(c));
            if text[..n].trim().is_empty() {
                vec![]
            } else {
                (1..=n).rev().collect()
            }
        }
        Piece::Any => (0..=text.len())
            .rev()
            .filter(|i| text.is_char_boundary(*i))
            .collect(),
    }
}

fn matches(pieces: &[Piece], text: &str) -> bool {
    match pieces.split_first() {
        None => text.is_empty(),
        Some((p, rest)) => spans(*p, text)
            .into_iter()
            .any(|n| matches(rest, &text[n..])),
    }
}

/// A line shape, and the real lines of the spec that have it.
struct Shape {
    template: &'static str,
    real: &'static [&'static str],
}

const fn shape(template: &'static str, real: &'static [&'static str]) -> Shape {
    Shape { template, real }
}

/// Every line shape lmgrd and the vendor daemon write in the session,
/// with the spec's real lines of that shape (FLEXLM-FACTS.md §2.2-2.4).
/// The few without a real capture say why.
const SHAPES: &[Shape] = &[
    shape(
        "{t} (lmgrd) Server's System Date and Time: {w} {w} {n} {n} {n}:{n}:{n} {*}",
        &[
            "21:53:14 (lmgrd) Server's System Date and Time: Sat Nov 06 2021 21:53:14 KST",
            " 8:42:20 (lmgrd) Server's System Date and Time: Thu May 05 2022 08:42:20 Hora de verano romance",
        ],
    ),
    shape("{t} (lmgrd) pid {n}", &[" 8:42:20 (lmgrd) pid 5408"]),
    shape(
        "{t} (lmgrd) {*} (v{w} build {n} {w}) started on {w} ({*}) ({d})",
        &[
            "21:53:14 (lmgrd) FlexNet Licensing (v11.16.2.1 build 244538 x64_lsb) started on life1 (linux) (11/6/2021)",
            " 8:42:23 (lmgrd) FlexNet Licensing (v11.18.0.0 build 275847 x64_n6) started on flexlm02 (IBM PC) (5/5/2022)",
        ],
    ),
    shape(
        "{t} (lmgrd) Copyright (c) {*}. All Rights Reserved.",
        &["21:53:14 (lmgrd) Copyright (c) 1988-2018 Flexera. All Rights Reserved."],
    ),
    shape(
        "{t} (lmgrd) License file(s): {*}",
        &["21:53:14 (lmgrd) License file(s): ../license.dat"],
    ),
    shape(
        "{t} (lmgrd) lmgrd tcp-port {n}",
        &["21:53:14 (lmgrd) lmgrd tcp-port 27000"],
    ),
    shape(
        "{t} (lmgrd) Starting vendor daemons ... ",
        &["21:53:14 (lmgrd) Starting vendor daemons ... "],
    ),
    shape(
        "{t} (lmgrd) Started {w} (internet tcp_port {n} pid {n})",
        &["21:53:14 (lmgrd) Started MLM (internet tcp_port 42249 pid 10861)"],
    ),
    shape(
        "{t} ({w}) {*} version v{w} build {n} {w}",
        &["21:53:14 (MLM) FlexNet Licensing version v11.16.2.1 build 244538 x64_lsb"],
    ),
    shape(
        "{t} ({w}) Server started on {w} for:\t{*}",
        &["21:53:14 (MLM) Server started on life1 for:\tMATLAB\t\t"],
    ),
    shape(
        "{t} ({w}) EXTERNAL FILTERS are OFF",
        &["21:53:14 (MLM) EXTERNAL FILTERS are OFF"],
    ),
    shape(
        "{t} (lmgrd) {w} using TCP-port {n}",
        &["21:53:14 (lmgrd) MLM using TCP-port 42249"],
    ),
    shape(
        "{t} ({w}) OUT: \"{w}\" {w}@{w}  ",
        &["10:25:38 (MLM) OUT: \"MATLAB\" alu-escuela@LIBRE-09  "],
    ),
    // FLEXlm appends `(N licenses)` for several (spec §2.3); no capture
    // shows it on one line.
    shape("{t} ({w}) OUT: \"{w}\" {w}@{w}  ({n} licenses) ", &[]),
    shape(
        "{t} ({w}) IN: \"{w}\" {w}@{w}  ",
        &["10:50:00 (MLM) IN: \"MATLAB\" UPM@upm00183  "],
    ),
    shape("{t} ({w}) IN: \"{w}\" {w}@{w}  ({n} licenses) ", &[]),
    shape(
        "{t} ({w}) IN: \"{w}\" {w}@{w}  ({w})",
        &[" 8:14:44 (MLM) IN: \"MATLAB\" cristian@cristian-PC  (SHUTDOWN)"],
    ),
    shape(
        "{t} ({w}) DENIED: \"{w}\" {w}@{w}  ({*} ({n},{n}))",
        &[
            "15:36:36 (parteklm) DENIED: \"base\" asdsd@NSDNA78  (Licensed number of users already reached. (-4,342))",
            "15:46:26 (geneious) DENIED: \"floating_license\" James@ham  (Users are queued for this feature. (-24,332))",
        ],
    ),
    shape(
        "{t} ({w}) UNSUPPORTED: \"{w}\" ({*}) {w}@{w}  ({*} ({n},{n}))",
        &[
            "10:25:38 (MLM) UNSUPPORTED: \"MATLAB\" (BF04C1B183DD400E147F) Javier@DESKTOP-PV69PK5  (No such feature exists. (-5,346))",
            " 8:42:42 (adskflex) UNSUPPORTED: \"87537INVPROSA_2022_0F\" (00B0 EF6E AFC6 B280 ) UPM@upm00243  (No such feature exists. (-5,346))",
        ],
    ),
    // QUEUED/DEQUEUED: "the same feature/user layout" as OUT (spec §2.3);
    // no capture exists.
    shape("{t} ({w}) QUEUED: \"{w}\" {w}@{w}  ", &[]),
    shape("{t} ({w}) DEQUEUED: \"{w}\" {w}@{w}  ", &[]),
    shape(
        "{t} (lmgrd) Rereading license file... Requested from {w}@{w}",
        &[" 8:42:30 (lmgrd) Rereading license file... Requested from upm@flexlm02"],
    ),
    shape(
        "{t} ({w}) Rereading license file...",
        &[" 8:42:30 (adskflex) Rereading license file..."],
    ),
    shape("{t} (lmgrd) Done rereading", &[" 8:42:30 (lmgrd) Done rereading"]),
    shape(
        "{t} (lmgrd) ...Finished rereading",
        &[" 8:42:30 (lmgrd) ...Finished rereading"],
    ),
    shape(
        "{t} (lmgrd) SHUTDOWN request from {w} at node {w}",
        &[" 8:14:44 (lmgrd) SHUTDOWN request from upm at node flexlm01"],
    ),
    shape(
        "{t} (lmgrd) lmgrd will now shut down all the vendor daemons",
        &[" 8:14:44 (lmgrd) lmgrd will now shut down all the vendor daemons"],
    ),
    shape("", &[""]),
    shape(
        "{t} (lmgrd) Shutting down {w} pid={n} because of signal {n}",
        &[" 8:14:44 (lmgrd) Shutting down MLM pid=496 because of signal 15"],
    ),
    shape(
        "{t} ({w}) Shutdown requested.",
        &[" 8:14:44 (MLM) Shutdown requested."],
    ),
    shape(
        "{t} (lmgrd) daemon shutdown requested - shutting down",
        &[" 8:14:44 (lmgrd) daemon shutdown requested - shutting down"],
    ),
    shape(
        "Shut down {w} {w} license server system on machine {w}",
        &["Shut down FlexNet MLM license server system on machine flexlm01"],
    ),
    shape(
        "{t} (lmgrd) EXITING DUE TO SIGNAL {n}",
        &[" 8:14:44 (lmgrd) EXITING DUE TO SIGNAL 15"],
    ),
    shape(
        "{t} ({w}) TIMESTAMP {d}",
        &["16:25:28 (lmgrd) TIMESTAMP 6/9/2022"],
    ),
];

/// The continuation of a wrapped feature list (after `Server started on`).
const NAMES: &str = "{t} ({w}) {names}";

#[test]
fn the_shapes_fit_the_real_lines() {
    for s in SHAPES {
        let p = pieces(s.template);
        for real in s.real {
            assert!(matches(&p, real), "{:?} does not fit {real:?}", s.template);
        }
    }
    assert!(matches(
        &pieces(NAMES),
        "21:53:14 (MLM) Bioinformatics_Toolbox Statistics_Toolbox "
    ));
    // And they are not so loose that anything fits.
    let out = pieces(SHAPES[12].template);
    assert!(!matches(
        &out,
        "10:25:38 (MLM) OUT: \"MATLAB\" alu-escuela@LIBRE-09"
    ));
    assert!(!matches(
        &out,
        "10:25:38 (MLM) IN: \"MATLAB\" alu-escuela@LIBRE-09  "
    ));
    assert!(!matches(
        &pieces(SHAPES[2].template),
        "lmgrd v0.1.0 started on vm (pid 12)"
    ));
}

/// Checks every line of `log` against the shapes; a feature-list line is
/// accepted only right after `Server started on` or another such line.
fn check_lines(log: &[String]) {
    let shapes: Vec<(&'static str, Vec<Piece>)> = SHAPES
        .iter()
        .map(|s| (s.template, pieces(s.template)))
        .collect();
    let names = pieces(NAMES);
    let mut in_list = false;
    for (i, line) in log.iter().enumerate() {
        if shapes.iter().any(|(_, p)| matches(p, line)) {
            in_list = line.contains(" Server started on ");
            continue;
        }
        assert!(
            in_list && matches(&names, line),
            "line {} has no FLEXlm shape: {line:?}\n--- log ---\n{}",
            i + 1,
            log.join("\n")
        );
    }
}

fn peer(server: &Server, user: &str) -> Peer {
    Peer::hello(server.vendord_addr(), user, 0)
}

fn lmutil(args: &[&str]) {
    let out = Command::new(bin("lmutil"))
        .args(args)
        .env_remove("LM_LICENSE_FILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "lmutil {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_whole_session_logs_in_flexlm_shapes() {
    let mut server = Server::demo("debuglog");
    let at = server.at();

    // Checkouts by several users, one of several licenses.
    let mut alice = peer(&server, "alice");
    alice.checkout_handle(1, "f1", 3).expect("alice's three");
    let mut bob = peer(&server, "bob");
    let bobs = bob.checkout_handle(1, "f1", 1).expect("bob's");
    server.wait_log(WAIT, "OUT: \"f1\" bob@");

    // A denial, and a feature nobody serves.
    let mut carol = peer(&server, "carol");
    assert!(carol.checkout_handle(1, "f1", 1).is_err());
    server.wait_log(WAIT, "DENIED: \"f1\" carol@");
    let mut dave = peer(&server, "dave");
    assert!(dave.checkout_handle(1, "f9", 1).is_err());
    server.wait_log(WAIT, "UNSUPPORTED: \"f9\"");

    // A queued checkout, served when bob checks in.
    let mut erin = peer(&server, "erin");
    let queued = erin.request(&Message::Checkout(Checkout {
        req: 5,
        feature: "f1".into(),
        version: "1.0".into(),
        count: 1,
        queue: true,
        ..Checkout::default()
    }));
    assert!(
        matches!(&queued, Message::Denied(d) if d.code == wire::lmerr::LM_FEATQUEUE),
        "{queued:?}"
    );
    server.wait_log(WAIT, "QUEUED: \"f1\" erin@");
    assert!(matches!(
        bob.request(&Message::Checkin(Checkin {
            req: 2,
            handle: bobs
        })),
        Message::CheckedIn(_)
    ));
    assert!(matches!(erin.recv(), Some(Message::Granted(g)) if g.req == 5));
    server.wait_log(WAIT, "OUT: \"f1\" erin@");

    // An administrator removes alice's licenses, rereads, and stops all.
    lmutil(&[
        "lmremove",
        "-c",
        &at,
        "f1",
        "alice",
        "e2e-host",
        "/dev/null",
    ]);
    server.wait_log(WAIT, "IN: \"f1\" alice@");
    lmutil(&["lmreread", "-c", &at]);
    server.wait_log(WAIT, "...Finished rereading");
    server.wait_log_count(WAIT, "Server started on", 2);
    lmutil(&["lmdown", "-q", "-c", &at]);
    server.wait_exit(WAIT);
    server.wait_log(WAIT, "EXITING DUE TO SIGNAL 15");

    let log = server.log.lock().unwrap().clone();
    check_lines(&log);
    // The lines analysers look for are there, in FLEXlm's exact words.
    let has = |needle: &str| log.iter().any(|l| l.contains(needle));
    let today = logfmt_date();
    assert!(
        log.iter()
            .any(|l| l.contains(") started on ") && l.ends_with(&format!(" ({today})"))),
        "no dated start-up line for {today}"
    );
    assert!(has("OUT: \"f1\" alice@e2e-host  (3 licenses) "));
    assert!(has(
        "(PORT_AT_HOST_PLUS ) dave@e2e-host  (No such feature exists. (-5,346))"
    ));
    assert!(has(
        "DENIED: \"f1\" carol@e2e-host  (Licensed number of users already reached. (-4,342))"
    ));
    assert!(has("DEQUEUED: \"f1\" erin@e2e-host  "));
    assert!(has("IN: \"f1\" erin@e2e-host  (SHUTDOWN)"));
    assert!(log
        .iter()
        .any(|l| l.starts_with("Shut down lm demo license server system on machine ")));
}

/// Today as the log's start-up line writes it (`M/D/YYYY`), from the C
/// library's local time, as lmgrd reads it.
fn logfmt_date() -> String {
    let t = logfmt::local_now();
    format!("{}/{}/{}", t.month, t.day, t.year)
}
