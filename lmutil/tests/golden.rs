//! The lmstat renderer against FLEXlm's real output: each test builds the
//! state a capture in `spec/FLEXLM-FACTS.md` shows and compares our text
//! with the capture, kept verbatim in `tests/golden/` (see its README).
//!
//! A fixture without `[...` lines must equal our output. Lines starting
//! with `[...` stand for output the capture leaves out: the text between
//! them must appear in our output in order, the first part at the very
//! start (unless the fixture starts with such a line) and the last at the
//! very end (unless it ends with one).
//!
//! The triad tests at the end go one step further back: they build what
//! each member of the triad answered (`StatusReply`, with its `triad`) and
//! what the master's vendor daemon answered, let `gather::section_from`
//! decide who is master and whom to ask, and compare the rendered text.

use client::ServerSpec;
use lmutil::common::{LmFailure, Stamp};
use lmutil::lmstat::model::*;
use lmutil::lmstat::render::{render, render_increments, user_line};
use lmutil::lmstat::{gather, Parsed, Show};
use lmutil::path::Target;
use std::cell::RefCell;
use std::path::Path;
use wire::{FeatureStatus, Holder, StatusReply, TriadMember, VendorState};

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Compares `ours` with the fixture as the module documentation says.
fn check(name: &str, ours: &str) {
    let text = fixture(name);
    let lines: Vec<&str> = text.lines().collect();
    let marker = |l: &str| l.starts_with("[...");
    if !lines.iter().any(|l| marker(l)) {
        assert_eq!(ours, text, "{name}: ours (left) differs from the capture");
        return;
    }
    let mut chunks: Vec<String> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for l in &lines {
        if marker(l) {
            if !current.is_empty() {
                chunks.push(current.join("\n") + "\n");
                current.clear();
            }
        } else {
            current.push(l);
        }
    }
    if !current.is_empty() {
        chunks.push(current.join("\n") + "\n");
    }
    let open_start = marker(lines[0]);
    let open_end = marker(lines[lines.len() - 1]);
    let mut at = 0;
    for (i, chunk) in chunks.iter().enumerate() {
        let found = ours[at..].find(chunk.as_str()).unwrap_or_else(|| {
            panic!(
                "{name}: part {i} of the capture is not in our output (after byte {at}).\n\
                 --- capture part ---\n{chunk}--- ours ---\n{ours}"
            )
        });
        if i == 0 && !open_start {
            assert_eq!(
                found, 0,
                "{name}: our output does not start with the capture\n{ours}"
            );
        }
        at += found + chunk.len();
    }
    if !open_end {
        assert_eq!(
            at,
            ours.len(),
            "{name}: our output goes on after the capture\n{ours}"
        );
    }
}

fn failure(code: i32, minor: i32, sys: Option<(i32, &str)>, text: &str) -> LmFailure {
    LmFailure {
        code,
        minor,
        sys: sys.map(|(n, t)| (n, t.to_string())),
        text: text.to_string(),
    }
}

fn cantconnect(minor: i32, errno: i32, sys: &str) -> LmFailure {
    failure(
        -15,
        minor,
        Some((errno, sys)),
        "Cannot connect to license server system.",
    )
}

/// A start time as printed (`Mon 2/10 0:10`): weekday given, no year.
fn start(weekday: u8, month: u8, day: u8, hour: u8, minute: u8) -> Stamp {
    Stamp {
        year: 2000,
        month,
        day,
        weekday,
        hour,
        minute,
    }
}

const SUN: u8 = 0;
const MON: u8 = 1;
const TUE: u8 = 2;
const WED: u8 = 3;
const THU: u8 = 4;
const FRI: u8 = 5;

struct U<'a> {
    user: &'a str,
    host: &'a str,
    display: &'a str,
    extra: Option<&'a str>,
    version: &'a str,
    server: (&'a str, &'a str),
    handle: u64,
}

impl U<'_> {
    fn using(&self, at: Stamp, count: u32) -> UserLine {
        self.state(UserState::Using {
            start: at,
            count,
            linger: None,
            pid: None,
        })
    }

    fn state(&self, state: UserState) -> UserLine {
        UserLine {
            user: self.user.into(),
            host: self.host.into(),
            display: self.display.into(),
            extra: self.extra.map(str::to_string),
            version: self.version.into(),
            server_host: self.server.0.into(),
            server_port: self.server.1.into(),
            handle: self.handle,
            state,
        }
    }
}

/// A user line `user host display (vX) (server handle)` on `server`.
fn u<'a>(
    user: &'a str,
    host: &'a str,
    display: &'a str,
    version: &'a str,
    server: (&'a str, &'a str),
    handle: u64,
) -> U<'a> {
    U {
        user,
        host,
        display,
        extra: None,
        version,
        server,
        handle,
    }
}

fn up(host: &str, master: bool, version: &str) -> ServerLine {
    ServerLine {
        host: host.into(),
        state: Ok(ServerUp {
            master,
            version: version.into(),
        }),
    }
}

fn counted(name: &str, issued: u32, in_use: u32, blocks: Vec<LineBlock>) -> FeatureUsage {
    FeatureUsage {
        name: name.into(),
        totals: Totals::Counted { issued, in_use },
        blocks,
    }
}

fn block(feature: &str, version: &str, vendor: &str, users: Vec<UserLine>) -> LineBlock {
    LineBlock {
        feature: feature.into(),
        version: version.into(),
        vendor: vendor.into(),
        expiry: None,
        vendor_string: None,
        lock: Lock::Floating,
        reservations: Vec::new(),
        users,
        omitted: 0,
    }
}

fn vendor(name: &str, version: &str, features: Vec<FeatureUsage>) -> VendorBlock {
    VendorBlock {
        name: name.into(),
        state: Ok(version.into()),
        usage: Some(Usage {
            heading: UsageHeading::FeatureUsage,
            features,
        }),
    }
}

struct S<'a> {
    label: &'a str,
    files_host: &'a str,
    files: &'a str,
    servers: Vec<ServerLine>,
    on: &'a str,
    vendors: Vec<VendorBlock>,
}

fn section(s: S) -> Section {
    Section::Server(ServerSection {
        label: s.label.into(),
        files_host: s.files_host.into(),
        files: s.files.into(),
        lmgrd: LmgrdState::Servers(s.servers),
        vendors: Some(VendorSection {
            on: s.on.into(),
            vendors: s.vendors,
        }),
        triad: None,
    })
}

fn report(
    banner: &str,
    time: Stamp,
    detecting: bool,
    layout: Layout,
    sections: Vec<Section>,
) -> String {
    render(&Report {
        banner: banner.into(),
        time,
        detecting,
        layout,
        sections,
    })
}

const FLEXERA_2024: &str = "lmutil - Copyright (c) 1989-2024 Flexera. All Rights Reserved.";
const MACROVISION_2005: &str = "lmutil - Copyright (c) 1989-2005 Macrovision Europe Ltd. and/or Macrovision Corporation. All Rights Reserved.";

#[test]
fn server_up_counted_feature_with_pids_modern() {
    let srv = ("host.example.com", "27004");
    let pid = |line: UserLine, p: u32| UserLine {
        state: match line.state {
            UserState::Using {
                start,
                count,
                linger,
                ..
            } => UserState::Using {
                start,
                count,
                linger,
                pid: Some(p),
            },
            q => q,
        },
        ..line
    };
    let mut b = block(
        "MATLAB",
        "52",
        "MLM",
        vec![
            pid(
                u("user1", "host", "display", "50", srv, 401).using(start(MON, 2, 10, 0, 10), 1),
                2924522,
            ),
            pid(
                u("user3", "host", "display", "36", srv, 701).using(start(MON, 2, 10, 0, 10), 1),
                10088,
            ),
        ],
    );
    b.expiry = Some("30-dec-2025".into());
    b.vendor_string = Some("vendor string".into());
    let out = report(
        FLEXERA_2024,
        Stamp::on(2025, 2, 10, 11, 26),
        false,
        Layout::Modern,
        vec![section(S {
            label: "27004@host.example.com",
            files_host: "host.example.com",
            files: "/usr/local/matlab/license.lic",
            servers: vec![up("host.example.com", true, "11.19.6")],
            on: "host.example.com",
            vendors: vec![vendor(
                "MLM",
                "11.19.6",
                vec![counted("MATLAB", 10000, 61, vec![b])],
            )],
        })],
    );
    check("app5_matlab_modern.txt", &out);
}

#[test]
fn uncounted_node_locked_and_unsupported_modern() {
    let srv = ("licensevm.domain.example", "port");
    let mut b = block(
        "SERIAL",
        "6.3",
        "LMCOMSOL",
        vec![
            u("matlab", "CLN-5CG3471WVY", "/dev/pts/0", "5.6", srv, 1090)
                .using(start(TUE, 4, 22, 11, 7), 1),
        ],
    );
    b.expiry = Some("permanent(no expiration date)".into());
    b.vendor_string = Some("REDACTED".into());
    b.lock = Lock::UncountedAny;
    let out = report(
        FLEXERA_2024,
        Stamp::on(2025, 4, 22, 11, 8),
        true,
        Layout::Modern,
        vec![section(S {
            label: "port@licensevm.domain.example",
            files_host: "licensevm.domain.example",
            files: r"C:\_Licensesoftware\Comsol\COMSOL63\Multiphysics\license\license.dat",
            servers: vec![up("licensevm.domain.example", true, "11.19.6")],
            on: "licensevm.domain.example",
            vendors: vec![vendor(
                "LMCOMSOL",
                "11.19.6",
                vec![
                    FeatureUsage {
                        name: "SERIAL".into(),
                        totals: Totals::Uncounted,
                        blocks: vec![b],
                    },
                    FeatureUsage {
                        name: "SUBSURFACEFLOW".into(),
                        totals: Totals::Unsupported { count: 1 },
                        blocks: vec![],
                    },
                ],
            )],
        })],
    );
    check("app4_uncounted_unsupported.txt", &out);
}

#[test]
fn triad_with_one_member_down_modern() {
    let out = report(
        "lmutil - Copyright (c) 1989-2016 Flexera Software LLC. All Rights Reserved.",
        Stamp::on(2017, 11, 23, 15, 8),
        false,
        Layout::Modern,
        vec![section(S {
            label: "28000@host1,28000@host2,28000@host3",
            files_host: "host1",
            files: "/usr/local/flexlm/licenses/license.dat.app1",
            servers: vec![
                up("host1", false, "11.13.0"),
                up("host2", true, "11.13.0"),
                ServerLine {
                    host: "host3".into(),
                    state: Err(cantconnect(570, 115, "Operation now in progress")),
                },
            ],
            on: "host2",
            vendors: vec![vendor(
                "daemon",
                "11.13.1",
                vec![counted("f1", 1, 0, vec![])],
            )],
        })],
    );
    check("triad_member_down.txt", &out);
}

#[test]
fn vendor_daemon_down_classic() {
    let no_feature = || failure(-5, 222, None, "No such feature exists.");
    let section = Section::Server(ServerSection {
        label: "7601@SERVER001,7601@SERVER002,7601@SERVER003".into(),
        files_host: "SERVER001".into(),
        files: r"D:\License Servers\Theorem\theorem.dat".into(),
        lmgrd: LmgrdState::Servers(vec![
            up("SERVER001", true, "10.8"),
            up("SERVER002", true, "10.8"),
            up("SERVER003", false, "10.8"),
        ]),
        vendors: Some(VendorSection {
            on: "SERVER002".into(),
            vendors: vec![VendorBlock {
                name: "theorem".into(),
                state: Err(failure(
                    -97,
                    121,
                    None,
                    "The desired vendor daemon is down.",
                )),
                usage: Some(Usage {
                    heading: UsageHeading::FeatureUsage,
                    features: ["Catia_GCO", "Catia_GCO_V4"]
                        .iter()
                        .map(|n| FeatureUsage {
                            name: n.to_string(),
                            totals: Totals::Error(no_feature()),
                            blocks: vec![],
                        })
                        .collect(),
                }),
            }],
        }),
        triad: None,
    });
    let out = report(
        MACROVISION_2005,
        Stamp::on(2008, 11, 20, 15, 42),
        true,
        Layout::Classic,
        vec![section],
    );
    check("vendor_down_classic.txt", &out);
}

#[test]
fn vendor_daemon_unreachable() {
    for layout in [Layout::Modern, Layout::Classic] {
        let out = report(
            "lmutil",
            Stamp::on(2012, 1, 1, 0, 0),
            false,
            layout,
            vec![section(S {
                label: "28000@SERVER001",
                files_host: "SERVER001",
                files: r"C:\License Servers\NX\NX.dat",
                servers: vec![up("SERVER001", true, "11.4")],
                on: "SERVER001",
                vendors: vec![VendorBlock {
                    name: "ugslmd".into(),
                    state: Err(cantconnect(578, 10049, "WinSock: Invalid address")),
                    usage: None,
                }],
            })],
        );
        check("vendor_unreachable.txt", &out);
    }
}

#[test]
fn whole_server_unreachable() {
    let out = report(
        "lmutil - Copyright (c) 1989-2007 Macrovision Europe Ltd. and/or Macrovision Corporation. All Rights Reserved.",
        Stamp::on(2012, 4, 12, 14, 25),
        true,
        Layout::Classic,
        vec![Section::Failed(cantconnect(10, 10061, "WinSock: Connection refused"))],
    );
    check("server_unreachable_2012.txt", &out);
    let out = report(
        "lmutil - Copyright (c) 1989-2020 Flexera. All Rights Reserved.",
        Stamp::on(2025, 11, 11, 16, 3),
        false,
        Layout::Modern,
        vec![Section::Failed(failure(
            -16,
            287,
            None,
            "Cannot read data from license server system.",
        ))],
    );
    check("server_unreachable_2025.txt", &out);
}

#[test]
fn lmgrd_not_running_for_lm() {
    let out = report(
        "lmutil-l34815 - Copyright (c) 1989-2015 Flexera Software LLC. All Rights Reserved.",
        Stamp::on(2020, 12, 18, 20, 52),
        false,
        Layout::Modern,
        vec![Section::Server(ServerSection {
            label: "1055@ansyslic1".into(),
            files_host: "ansyslic1".into(),
            files: "1055@192.168.30.101".into(),
            lmgrd: LmgrdState::NotRunning(failure(
                -96,
                7,
                Some((2, "No such file or directory")),
                "License server machine is down or not responding.",
            )),
            vendors: None,
            triad: None,
        })],
    );
    check("lmgrd_not_running.txt", &out);
}

#[test]
fn triad_reservations_and_multi_license_users_classic() {
    let srv = ("host3.domain.net", "27002");
    let res = |count: u32, kind: &str, name: &str| Reservation {
        count,
        kind: kind.into(),
        name: name.into(),
        server: "host3.domain.net/27002".into(),
    };
    let mut b = block(
        "feature0",
        "61.9",
        "VENDOR1",
        vec![
            u(
                "USER9",
                "SERVER45823008",
                "SERVER45823008",
                "61.9",
                srv,
                7086,
            )
            .using(start(FRI, 10, 20, 16, 44), 5),
            u("user1", "server9", "/dev/tty", "61.9", srv, 18856)
                .using(start(FRI, 10, 20, 14, 12), 16),
            u("user5", "server1417", "/dev/pts/0", "61.9", srv, 8804)
                .using(start(FRI, 10, 20, 16, 33), 8),
        ],
    );
    b.reservations = vec![
        res(1, "HOST", "HOSTPC11"),
        res(10, "HOST", "HOSTPC12"),
        res(48, "GROUP", "GROUP1"),
    ];
    let out = report(
        MACROVISION_2005,
        Stamp::on(2017, 10, 20, 17, 2),
        false,
        Layout::Classic,
        vec![section(S {
            label: "27002@host-1.domain.net,27002@host2.domain.net,27002@host3.domain.net",
            files_host: "host-1.domain.net",
            files: "/usr/local/flexlm/licenses/license.dat.app1",
            servers: vec![
                up("host-1.domain.net", false, "11.7"),
                up("host2.domain.net", true, "11.7"),
                up("host3.domain.net", false, "11.7"),
            ],
            on: "host2.domain.net",
            vendors: vec![vendor(
                "VENDOR1",
                "11.6",
                vec![counted("feature1", 1814, 1206, vec![b])],
            )],
        })],
    );
    check("triad_reservations_classic.txt", &out);
}

#[test]
fn singular_counts_queued_odd_names_and_linger_classic() {
    let srv = ("host3.domain.net", "27002");
    let f100 = block(
        "feature100",
        "61.9",
        "VENDOR1",
        vec![
            u("user13", "server0356", "/dev/tty", "61.4", srv, 5621)
                .using(start(FRI, 10, 20, 10, 53), 1),
            u(
                "Administrator",
                "ServerS1",
                "|)8<fZ)=Y[<7L$lY-p\\<6nn^Y",
                "61.4",
                srv,
                3201,
            )
            .using(start(MON, 6, 11, 11, 1), 1),
            u(
                "John Doe",
                "John_D",
                "\"U,K$`Ct`0'\"C iQwgGsne<&!",
                "61.4",
                srv,
                4611,
            )
            .using(start(WED, 7, 7, 15, 17), 1),
        ],
    );
    let queued = |display: &'static str| U {
        extra: Some("2017.06"),
        ..u("user3", "server6u065", display, "2017.06", srv, 15480)
    };
    let f5 = block(
        "feature5",
        "2017.12",
        "vendor1",
        vec![
            u("user3", "server6u065", "serverrrr", "2017.06", srv, 11101)
                .using(start(MON, 10, 16, 15, 4), 1),
            u("user3", "server6u065", "f2jf4_f2_", "2017.06", srv, 14603)
                .using(start(MON, 10, 16, 15, 52), 1),
            queued("fj209fj0").state(UserState::Queued { count: 1 }),
            queued("f2jf4_f2_").state(UserState::Queued { count: 1 }),
        ],
    );
    let lingering = |count: u32| {
        u(
            if count == 1 { "cmfy211" } else { "cmfy212" },
            "UFRTR1LT0087375",
            "UFRTR1LT00873750.0",
            "1.00",
            ("host3.domain.net", "28000"),
            1401,
        )
        .state(UserState::Using {
            start: start(WED, 5, 23, 5, 59),
            count,
            linger: Some((885098, Some(1340160))),
            pid: None,
        })
    };
    let f31 = block(
        "feature31",
        "1.00",
        "vendor1",
        vec![lingering(1), lingering(16)],
    );
    let out = report(
        MACROVISION_2005,
        Stamp::on(2017, 10, 20, 17, 2),
        false,
        Layout::Classic,
        vec![section(S {
            label: "27002@host3.domain.net",
            files_host: "host3.domain.net",
            files: "/x",
            servers: vec![up("host3.domain.net", true, "11.7")],
            on: "host3.domain.net",
            vendors: vec![vendor(
                "VENDOR1",
                "11.6",
                vec![
                    counted("feature100", 10, 2, vec![f100]),
                    counted("feature5", 2, 2, vec![f5]),
                    counted("feature8", 10, 1, vec![]),
                    counted("feature12", 1, 0, vec![]),
                    counted("feature31", 100, 17, vec![f31]),
                ],
            )],
        })],
    );
    check("singular_queued_linger_classic.txt", &out);
}

#[test]
fn borrowed_licenses_classic() {
    let srv = ("SERVER001", "27005");
    let mut rhodea =
        u("rhodea", "CAD8689D", "CAD8689D", "1.000", srv, 101).state(UserState::Using {
            start: start(FRI, 4, 6, 15, 18),
            count: 1,
            linger: Some((15429540, None)),
            pid: None,
        });
    rhodea.extra = None;
    let b = block(
        "48800ACD_2006_0F",
        "1.000",
        "adskflex",
        vec![
            u("ganger", "CAD9201D", "CAD9201D", "1.000", srv, 2931)
                .using(start(THU, 4, 12, 10, 40), 1),
            u("ghaeli", "CAD8651D", "CAD8651D", "1.000", srv, 5318)
                .using(start(THU, 4, 12, 7, 45), 1),
            rhodea,
            u("stubbs", "CAD8979D", "CAD8979D", "1.000", srv, 3618)
                .using(start(THU, 4, 12, 10, 35), 1),
        ],
    );
    let out = report(
        "lmutil - Copyright (c) 1989-2006 Macrovision Europe Ltd. and/or Macrovision Corporation. All Rights Reserved.",
        Stamp::on(2012, 4, 12, 10, 43),
        true,
        Layout::Classic,
        vec![section(S {
            label: "27005@SERVER001,27005@SERVER002,27005@SERVER003",
            files_host: "SERVER001",
            files: r"C:\License Servers\Autodesk\Autodesk.dat",
            servers: vec![
                up("SERVER001", true, "10.8"),
                up("SERVER002", false, "10.8"),
                up("SERVER003", false, "10.8"),
            ],
            on: "SERVER001",
            vendors: vec![vendor(
                "adskflex",
                "10.8",
                vec![
                    counted("42600ACD_2004_0F", 473, 0, vec![]),
                    counted("48800ACD_2006_0F", 323, 4, vec![b]),
                ],
            )],
        })],
    );
    check("borrowed_linger_classic.txt", &out);
}

#[test]
fn node_locked_blocks_and_reservations_modern() {
    let mut v12 = block("MATLAB", "12", "MLM", vec![]);
    v12.expiry = Some("01-jan-0000".into());
    v12.lock = Lock::NodeLocked("ID=XXXXXX".into());
    v12.reservations = vec![Reservation {
        count: 1,
        kind: "GROUP".into(),
        name: "DED".into(),
        server: "SERVER1/1713".into(),
    }];
    let mut v53 = block(
        "MATLAB",
        "53",
        "MLM",
        vec![u(
            "USER1",
            "F1UXXXX",
            "F1UXXXX",
            "44",
            ("SERVER1", "1713"),
            104,
        )
        .using(start(MON, 3, 16, 8, 13), 1)],
    );
    v53.expiry = Some("01-jan-2099".into());
    v53.vendor_string = Some("vi=0:at=276:ae=1:lu=300:lo=NNU:ei=XXXXXX:lr=1:ep=15:".into());
    v53.lock = Lock::NodeLocked("ID=XXXXXX".into());
    let out = report(
        "lmutil - Copyright (c) 1989-2022 Flexera. All Rights Reserved.",
        Stamp::on(2026, 3, 16, 12, 16),
        true,
        Layout::Modern,
        vec![section(S {
            label: "1713@SERVER1",
            files_host: "SERVER1",
            files: "/opt/licenses/FlexLM/VENDORS/MLM/DATA/license.dat",
            servers: vec![up("SERVER1", true, "11.19.7")],
            on: "SERVER1",
            vendors: vec![vendor(
                "MLM",
                "11.19.7",
                vec![counted("MATLAB", 420, 60, vec![v12, v53])],
            )],
        })],
    );
    check("app6_nodelocked_fragments.txt", &out);
}

#[test]
fn checkout_lines_with_extra_fields_pids_and_two_names() {
    let with_pid = |line: UserLine, pid: u32| match line.state {
        UserState::Using { start, count, .. } => UserLine {
            state: UserState::Using {
                start,
                count,
                linger: None,
                pid: Some(pid),
            },
            ..line
        },
        _ => line,
    };
    let s1 = ("SERVER1", "27020");
    let lines = [
        with_pid(
            U {
                extra: Some("lc80a28012593569_1"),
                ..u("user1", "host-01", "host-01:0.0", "2022.09", s1, 24464)
            }
            .using(start(THU, 9, 24, 22, 16), 1),
            2593569,
        ),
        with_pid(
            u("user2", "host-01", "", "2026.03", s1, 19210).using(start(FRI, 9, 25, 11, 44), 1),
            310056,
        ),
        with_pid(
            U {
                extra: Some("2029.01"),
                ..u(
                    "user1",
                    "host-01",
                    "host-01:0895184_3",
                    "2029.01",
                    ("SERVER1", "1717"),
                    87554,
                )
            }
            .using(start(FRI, 9, 25, 11, 44), 1),
            895184,
        ),
        U {
            extra: Some("feature=test_feature"),
            ..u(
                "usbn12",
                "p-c94.com",
                "/dev/tty",
                "2023.0",
                ("myserver.example.com", "41020"),
                10223,
            )
        }
        .using(start(MON, 3, 11, 13, 16), 100),
        U {
            extra: Some("MSCONE:ADAMS_View"),
            ..u(
                "ABCDKK",
                "ER0037",
                "SESOR045",
                "2023.0331",
                ("myserver.example.com", "29065"),
                2639,
            )
        }
        .using(start(FRI, 3, 8, 13, 25), 5),
        u(
            "matlab",
            "CLN-5CG3471WVY",
            "/dev/pts/0",
            "5.6",
            ("licensevm.domain.example", "port"),
            1090,
        )
        .using(start(TUE, 4, 22, 11, 7), 1),
    ];
    let ours: String = lines.iter().map(|l| user_line(l) + "\n").collect();
    check("user_lines.txt", &ours);
}

#[test]
fn increment_listing_both_column_orders() {
    let row = |f: &str, v: &str, n: &str, e: &str, vendor: &str| IncrementRow {
        feature: f.into(),
        version: v.into(),
        count: n.into(),
        expires: e.into(),
        vendor: vendor.into(),
    };
    let classic = [
        row("feature1", "2018.12", "2", "31-dec-2018", "vendor1"),
        row("feature15", "2018.09", "2", "1-jan-0", "vendor2"),
        row("feature16", "0.1", "1", "01-jan-0000", "vendor2"),
    ];
    let now = Stamp::on(2018, 1, 1, 0, 0);
    check(
        "increments_classic.txt",
        &render_increments("lmutil", &now, Layout::Classic, &classic),
    );
    let modern = [
        row("FEATURE_NAME_2_38_05", "1.1", "1", "12-jun-2020", "VENDOR"),
        row(
            "feature_name_9",
            "15.0",
            "2",
            "permanent(no expiration date)",
            "vendor",
        ),
    ];
    check(
        "increments_modern.txt",
        &render_increments("lmutil", &now, Layout::Modern, &modern),
    );
}

/// No capture shows several vendor daemons under one lmgrd; this fixture
/// is our own layout (each vendor daemon line followed by its features),
/// documented in docs/compatibility.md.
#[test]
fn several_vendor_daemons_ours() {
    let srv = ("lic1", "27000");
    let mut f1 = block(
        "f1",
        "1.0",
        "demo",
        vec![
            u("joe", "ws1", "/dev/pts/1", "1.0", srv, 1).using(start(SUN, 11, 22, 20, 50), 1),
            u("ann", "ws2", ":0", "1.0", srv, 2).using(start(SUN, 11, 22, 20, 51), 2),
        ],
    );
    f1.expiry = Some("permanent(no expiration date)".into());
    let out = report(
        "lmutil - lm license manager v0.1.0",
        Stamp::on(2026, 11, 22, 20, 55),
        false,
        Layout::Modern,
        vec![section(S {
            label: "27000@lic1",
            files_host: "lic1",
            files: "/etc/lm/site.lic",
            servers: vec![up("lic1", true, "0.1.0")],
            on: "lic1",
            vendors: vec![
                vendor(
                    "demo",
                    "0.1.0",
                    vec![counted("f1", 4, 3, vec![f1]), counted("f2", 1, 0, vec![])],
                ),
                VendorBlock {
                    name: "acme".into(),
                    state: Err(failure(
                        -97,
                        121,
                        None,
                        "The desired vendor daemon is down.",
                    )),
                    usage: Some(Usage {
                        heading: UsageHeading::FeatureUsage,
                        features: vec![FeatureUsage {
                            name: "solver".into(),
                            totals: Totals::Error(failure(
                                -97,
                                121,
                                None,
                                "The desired vendor daemon is down.",
                            )),
                            blocks: vec![],
                        }],
                    }),
                },
                vendor(
                    "longvendorname",
                    "0.1.0",
                    vec![FeatureUsage {
                        name: "viewer".into(),
                        totals: Totals::Uncounted,
                        blocks: vec![],
                    }],
                ),
            ],
        })],
    );
    check("several_vendors_ours.txt", &out);
}

// ---- Triads, from what each member answered ----

fn spec(host: &str, port: u16) -> ServerSpec {
    ServerSpec {
        host: host.into(),
        port: Some(port),
    }
}

fn member(line: u32, host: &str, port: u16, up: bool, master: bool) -> TriadMember {
    TriadMember {
        line,
        host: host.into(),
        port,
        up,
        master,
        reason: String::new(),
    }
}

/// What one lmgrd answers to lmstat.
fn lmgrd_answer(
    host: &str,
    port: u16,
    version: &str,
    vendors: &[(&str, &str)],
    file: &str,
    triad: Vec<TriadMember>,
) -> StatusReply {
    StatusReply {
        next: 0,
        server: "lmgrd".into(),
        version: version.into(),
        host: host.into(),
        port,
        vendors: vendors
            .iter()
            .map(|(name, version)| VendorState {
                name: (*name).into(),
                up: true,
                port: 40000,
                version: (*version).into(),
            })
            .collect(),
        features: Vec::new(),
        license_files: vec![file.into()],
        triad,
    }
}

fn vendor_answer(name: &str, version: &str, features: Vec<FeatureStatus>) -> StatusReply {
    StatusReply {
        next: 0,
        server: name.into(),
        version: version.into(),
        host: String::new(),
        port: 40000,
        vendors: Vec::new(),
        features,
        license_files: Vec::new(),
        triad: Vec::new(),
    }
}

fn pool(
    name: &str,
    version: &str,
    issued: u32,
    in_use: u32,
    holders: Vec<Holder>,
) -> FeatureStatus {
    FeatureStatus {
        name: name.into(),
        version: version.into(),
        counted: true,
        issued,
        in_use,
        expiry: "permanent".into(),
        holders,
        hostids: String::new(),
        vendor_string: String::new(),
        reservations: Vec::new(),
        omitted: 0,
    }
}

/// A checkout of version `version` by `user` on `host` (display = host),
/// started at local time `started`.
fn holder(user: &str, host: &str, version: &str, handle: u64, started: u64) -> Holder {
    Holder {
        user: user.into(),
        host: host.into(),
        display: host.into(),
        version: version.into(),
        handle,
        started,
        count: 1,
        pid: 0,
        requested_version: version.into(),
        queued: false,
        borrow_until: 0,
        linger: 0,
    }
}

/// The Unix time this machine's clock shows as that local date and time.
fn local_unix(year: i32, month: u8, day: u8, hour: u8, minute: u8) -> u64 {
    let minutes = |s: Stamp| {
        grammar::Date::new(s.year, s.month, s.day)
            .expect("a date")
            .days_since_epoch()
            * 1440
            + i64::from(s.hour) * 60
            + i64::from(s.minute)
    };
    let want = minutes(Stamp::on(year, month, day, hour, minute));
    let mut t = want * 60;
    for _ in 0..3 {
        t += (want - minutes(Stamp::local(t as u64))) * 60;
    }
    t as u64
}

fn show(args: &[&str]) -> Show {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    match lmutil::lmstat::parse(&args) {
        Ok(Parsed::Run(a)) => a.show(),
        other => panic!("{args:?}: {other:?}"),
    }
}

/// The section the gatherer makes of these answers, and the members whose
/// vendor daemons it asked.
fn gathered(
    servers: Vec<ServerSpec>,
    answers: &[Result<StatusReply, LmFailure>],
    show: &Show,
    vendor: &StatusReply,
) -> (Section, Vec<usize>) {
    let target = Target {
        files: vec![servers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")],
        servers,
        features: Vec::new(),
    };
    let asked = RefCell::new(Vec::new());
    let section = gather::section_from(&target, answers, show, &mut |member, name| {
        asked.borrow_mut().push(member);
        assert_eq!(name, vendor.server);
        Ok(vendor.clone())
    });
    (section, asked.into_inner())
}

#[test]
fn triad_all_up_from_the_members_answers_classic() {
    let file = r"C:\License Servers\Autodesk\Autodesk.dat";
    let view = |master: &str| {
        ["SERVER001", "SERVER002", "SERVER003"]
            .iter()
            .enumerate()
            .map(|(i, h)| member(i as u32 + 1, h, 27005, true, *h == master))
            .collect::<Vec<_>>()
    };
    let answer = |host: &str| {
        Ok(lmgrd_answer(
            host,
            27005,
            "10.8",
            &[("adskflex", "10.8")],
            file,
            view("SERVER001"),
        ))
    };
    let mut rhodea = holder(
        "rhodea",
        "CAD8689D",
        "1.000",
        101,
        local_unix(2012, 4, 6, 15, 18),
    );
    rhodea.linger = 15429540;
    let vendor = vendor_answer(
        "adskflex",
        "10.8",
        vec![
            pool("42600ACD_2004_0F", "1.000", 473, 0, vec![]),
            pool(
                "48800ACD_2006_0F",
                "1.000",
                323,
                4,
                vec![
                    holder(
                        "ganger",
                        "CAD9201D",
                        "1.000",
                        2931,
                        local_unix(2012, 4, 12, 10, 40),
                    ),
                    holder(
                        "ghaeli",
                        "CAD8651D",
                        "1.000",
                        5318,
                        local_unix(2012, 4, 12, 7, 45),
                    ),
                    rhodea,
                    holder(
                        "stubbs",
                        "CAD8979D",
                        "1.000",
                        3618,
                        local_unix(2012, 4, 12, 10, 35),
                    ),
                ],
            ),
        ],
    );
    let (section, asked) = gathered(
        vec![
            spec("SERVER001", 27005),
            spec("SERVER002", 27005),
            spec("SERVER003", 27005),
        ],
        &[
            answer("SERVER001"),
            answer("SERVER002"),
            answer("SERVER003"),
        ],
        &show(&["-a"]),
        &vendor,
    );
    assert_eq!(asked, vec![0], "only the master's vendor daemon is asked");
    let out = report(
        "lmutil - Copyright (c) 1989-2006 Macrovision Europe Ltd. and/or Macrovision Corporation. All Rights Reserved.",
        Stamp::on(2012, 4, 12, 10, 43),
        true,
        Layout::Classic,
        vec![section],
    );
    check("borrowed_linger_classic.txt", &out);
}

/// The first member answers but is not master: `License file(s) on` is
/// still its (as in the capture), the usage is the master's.
fn member_down_answers() -> Vec<Result<StatusReply, LmFailure>> {
    let file = "/usr/local/flexlm/licenses/license.dat.app1";
    let mut view = vec![
        member(1, "host1", 28000, true, false),
        member(2, "host2", 28000, true, true),
        member(3, "host3", 28000, false, false),
    ];
    view[0].reason = "follows host2 (term 7)".into();
    view[1].reason = "leader of term 7, 2 of 3 members".into();
    view[2].reason = "no answer for 31 s".into();
    let answer = |host: &str| {
        lmgrd_answer(
            host,
            28000,
            "11.13.0",
            &[("daemon", "11.13.1")],
            file,
            view.clone(),
        )
    };
    vec![
        Ok(answer("host1")),
        Ok(answer("host2")),
        Err(cantconnect(570, 115, "Operation now in progress")),
    ]
}

#[test]
fn triad_member_down_from_the_members_answers_modern() {
    let vendor = vendor_answer("daemon", "11.13.1", vec![pool("f1", "1.0", 1, 0, vec![])]);
    let (section, asked) = gathered(
        vec![
            spec("host1", 28000),
            spec("host2", 28000),
            spec("host3", 28000),
        ],
        &member_down_answers(),
        &show(&["-a"]),
        &vendor,
    );
    assert_eq!(asked, vec![1], "only the master's vendor daemon is asked");
    let out = report(
        "lmutil - Copyright (c) 1989-2016 Flexera Software LLC. All Rights Reserved.",
        Stamp::on(2017, 11, 23, 15, 8),
        false,
        Layout::Modern,
        vec![section],
    );
    check("triad_member_down.txt", &out);
}

#[test]
fn triad_reasons_under_our_option() {
    let vendor = vendor_answer("daemon", "11.13.1", vec![pool("f1", "1.0", 1, 0, vec![])]);
    let servers = || {
        vec![
            spec("host1", 28000),
            spec("host2", 28000),
            spec("host3", 28000),
        ]
    };
    let (plain, _) = gathered(servers(), &member_down_answers(), &show(&["-a"]), &vendor);
    let (ours, _) = gathered(
        servers(),
        &member_down_answers(),
        &show(&["-a", "-triad"]),
        &vendor,
    );
    let render_one = |s: Section| {
        report(
            "lmutil - lm license manager",
            Stamp::on(2017, 11, 23, 15, 8),
            false,
            Layout::Modern,
            vec![s],
        )
    };
    let (plain, ours) = (render_one(plain), render_one(ours));
    assert!(!plain.contains("Triad"), "{plain}");
    check("triad_reasons_ours.txt", &ours);
}

/// The capture of `node_locked_blocks_and_reservations_modern`, made from
/// what the servers answer: the RESERVE line comes from the vendor
/// daemon's status and is printed under its line's block, even with
/// nobody using that line. (The capture's anonymised `ID=XXXXXX` is no
/// hostid, so the lock lines here are the floating ones.)
#[test]
fn reservations_from_the_vendor_daemons_answer_modern() {
    let lmgrd = lmgrd_answer(
        "SERVER1",
        1713,
        "11.19.7",
        &[("MLM", "11.19.7")],
        "/opt/licenses/FlexLM/VENDORS/MLM/DATA/license.dat",
        Vec::new(),
    );
    let mut v12 = pool("MATLAB", "12", 20, 0, vec![]);
    v12.expiry = "01-jan-0000".into();
    v12.hostids = "ID=XXXXXX".into();
    v12.reservations = vec![wire::ReservationStatus {
        count: 1,
        kind: "GROUP".into(),
        name: "DED".into(),
    }];
    let mut v53 = pool(
        "MATLAB",
        "53",
        400,
        60,
        vec![holder(
            "USER1",
            "F1UXXXX",
            "44",
            104,
            local_unix(2026, 3, 16, 8, 13),
        )],
    );
    v53.expiry = "01-jan-2099".into();
    v53.hostids = "ID=XXXXXX".into();
    v53.vendor_string = "vi=0:at=276:ae=1:lu=300:lo=NNU:ei=XXXXXX:lr=1:ep=15:".into();
    let vendor = vendor_answer("MLM", "11.19.7", vec![v12, v53]);
    let (section, _) = gathered(
        vec![spec("SERVER1", 1713)],
        &[Ok(lmgrd)],
        &show(&["-a"]),
        &vendor,
    );
    let out = report(
        "lmutil - Copyright (c) 1989-2022 Flexera. All Rights Reserved.",
        Stamp::on(2026, 3, 16, 12, 16),
        true,
        Layout::Modern,
        vec![section],
    );
    let capture = fixture("app6_nodelocked_fragments.txt");
    let reservation = capture
        .lines()
        .find(|l| l.contains("RESERVATION"))
        .expect("the capture's reservation line");
    let v12 = "\"MATLAB\" v12, vendor: MLM, expiry: 01-jan-0000\n  floating license\n\n";
    assert!(
        out.contains(&format!("{v12}{reservation}\n\n\n\"MATLAB\" v53")),
        "{out}"
    );
    assert_eq!(out.matches("RESERVATION").count(), 1, "{out}");
    let user = capture.lines().find(|l| l.contains("USER1")).unwrap();
    assert!(out.contains(user), "{out}");
}
