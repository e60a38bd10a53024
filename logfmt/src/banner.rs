//! The debug log's fixed sentences: what lmgrd and a vendor daemon write
//! when they start, restart, reread and shut down, worded as FLEXlm words
//! them, so that usage analysers that read FLEXlm's log read ours.
//!
//! Where FLEXlm names itself (`FlexNet Licensing`, `FlexNet`), these take a
//! [`Product`], so the same functions print our name and version and, fed
//! FLEXlm's, reproduce the real lines byte for byte (the golden tests
//! below do exactly that).

use crate::LocalTime;

/// Who is speaking: a product's name, the word it uses for itself in
/// sentences, and its version as the banners print it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// `FlexNet Licensing`; ours: `lm license manager`.
    pub name: String,
    /// `FlexNet`; ours: `lm`.
    pub brand: String,
    /// `11.16.2.1`.
    pub version: String,
    /// `244538`; ours is always 0.
    pub build: u32,
    /// FLEXlm's platform name: `x64_lsb`.
    pub platform: String,
}

impl Product {
    /// This program: our name, `version` (the crate's), build 0.
    pub fn ours(version: &str, platform: &str) -> Product {
        Product {
            name: "lm license manager".into(),
            brand: "lm".into(),
            version: version.into(),
            build: 0,
            platform: platform.into(),
        }
    }

    /// `v11.16.2.1 build 244538 x64_lsb`
    fn full_version(&self) -> String {
        format!("v{} build {} {}", self.version, self.build, self.platform)
    }
}

/// A local time with what the start-up banner adds to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZonedTime {
    pub local: LocalTime,
    /// 0 = Sunday.
    pub weekday: u8,
    /// The zone's abbreviation (`KST`, `CEST`), as the C library names it.
    pub zone: String,
}

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Server's System Date and Time: Sat Nov 06 2021 21:53:14 KST`
pub fn system_date_time(t: &ZonedTime) -> String {
    let l = &t.local;
    format!(
        "Server's System Date and Time: {} {} {:02} {} {:02}:{:02}:{:02} {}",
        WEEKDAYS[usize::from(t.weekday % 7)],
        MONTHS[usize::from(l.month.clamp(1, 12) - 1)],
        l.day,
        l.year,
        l.hour,
        l.minute,
        l.second,
        t.zone
    )
}

/// lmgrd's dated start-up line, which analysers take the log's date from:
/// `FlexNet Licensing (v11.16.2.1 build 244538 x64_lsb) started on life1 (linux) (11/6/2021)`
pub fn lmgrd_started(p: &Product, host: &str, os: &str, today: &LocalTime) -> String {
    format!(
        "{} ({}) started on {host} ({os}) ({})",
        p.name,
        p.full_version(),
        crate::date_mdy(today)
    )
}

/// The line after it, where FLEXlm prints its copyright.
pub fn copyright(p: &Product) -> String {
    format!("Copyright (c) the {} authors. All Rights Reserved.", p.name)
}

/// A vendor daemon's first line:
/// `FlexNet Licensing version v11.16.2.1 build 244538 x64_lsb`
pub fn vendor_version(p: &Product) -> String {
    format!("{} version {}", p.name, p.full_version())
}

/// What a vendor daemon says after its feature list when it has no
/// external checkout filters (ours never has).
pub const EXTERNAL_FILTERS_OFF: &str = "EXTERNAL FILTERS are OFF";

/// lmgrd, once a vendor daemon listens:
/// `Started MLM (internet tcp_port 42249 pid 10861)`, or `REStarted ...`
/// after a restart.
pub fn vendor_started(vendor: &str, port: u16, pid: i32, restarted: bool) -> String {
    let verb = if restarted { "REStarted" } else { "Started" };
    format!("{verb} {vendor} (internet tcp_port {port} pid {pid})")
}

/// lmgrd: `MLM using TCP-port 42249`
pub fn vendor_using_port(vendor: &str, port: u16) -> String {
    format!("{vendor} using TCP-port {port}")
}

/// lmgrd, after a vendor daemon died by itself; two lines, as FLEXlm
/// wraps them.
pub const WILL_RESTART: &str = "Since this is an unknown status, license server\n\
                                manager (lmgrd) will attempt to re-start the vendor daemon.";

/// lmgrd: `Rereading license file... Requested from upm@flexlm02`
pub fn reread_requested(user: &str, host: &str) -> String {
    format!("Rereading license file... Requested from {user}@{host}")
}

/// lmgrd, when a reread is over: two lines, as FLEXlm writes them.
pub const DONE_REREADING: [&str; 2] = ["Done rereading", "...Finished rereading"];

/// A vendor daemon told to reread.
pub const VENDOR_REREADING: &str = "Rereading license file...";

/// lmgrd: `SHUTDOWN request from upm at node flexlm01`
pub fn shutdown_request(user: &str, host: &str) -> String {
    format!("SHUTDOWN request from {user} at node {host}")
}

/// lmgrd, before it stops its vendor daemons.
pub const WILL_SHUT_DOWN: &str = "lmgrd will now shut down all the vendor daemons";

/// lmgrd: `Shutting down MLM pid=496 because of signal 15`
pub fn shutting_down_vendor(vendor: &str, pid: i32, signal: i32) -> String {
    format!("Shutting down {vendor} pid={pid} because of signal {signal}")
}

/// lmgrd, after an lmdown.
pub const SHUTDOWN_REQUESTED: &str = "daemon shutdown requested - shutting down";

/// A vendor daemon told to stop.
pub const VENDOR_SHUTDOWN_REQUESTED: &str = "Shutdown requested.";

/// The unprefixed line a vendor daemon writes as it stops:
/// `Shut down FlexNet MLM license server system on machine flexlm01`
pub fn vendor_shut_down(p: &Product, vendor: &str, host: &str) -> String {
    format!(
        "Shut down {} {vendor} license server system on machine {host}",
        p.brand
    )
}

/// lmgrd's last line: `EXITING DUE TO SIGNAL 15`
pub fn exiting(signal: i32) -> String {
    format!("EXITING DUE TO SIGNAL {signal}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FLEXlm's own product, as the spec's captures name it.
    fn flexnet(version: &str, build: u32, platform: &str) -> Product {
        Product {
            name: "FlexNet Licensing".into(),
            brand: "FlexNet".into(),
            version: version.into(),
            build,
            platform: platform.into(),
        }
    }

    fn at(year: i32, month: u8, day: u8, hms: (u8, u8, u8)) -> LocalTime {
        LocalTime {
            year,
            month,
            day,
            hour: hms.0,
            minute: hms.1,
            second: hms.2,
        }
    }

    // The spec's real start-up blocks (FLEXLM-FACTS.md §2.2), message parts.

    #[test]
    fn system_date_and_time_as_captured() {
        let t = ZonedTime {
            local: at(2021, 11, 6, (21, 53, 14)),
            weekday: 6,
            zone: "KST".into(),
        };
        assert_eq!(
            system_date_time(&t),
            "Server's System Date and Time: Sat Nov 06 2021 21:53:14 KST"
        );
        let t = ZonedTime {
            local: at(2022, 5, 5, (8, 42, 20)),
            weekday: 4,
            zone: "Hora de verano romance".into(),
        };
        assert_eq!(
            system_date_time(&t),
            "Server's System Date and Time: Thu May 05 2022 08:42:20 Hora de verano romance"
        );
    }

    #[test]
    fn started_line_as_captured() {
        let p = flexnet("11.16.2.1", 244538, "x64_lsb");
        assert_eq!(
            lmgrd_started(&p, "life1", "linux", &at(2021, 11, 6, (21, 53, 14))),
            "FlexNet Licensing (v11.16.2.1 build 244538 x64_lsb) started on life1 (linux) (11/6/2021)"
        );
        let p = flexnet("11.18.0.0", 275847, "x64_n6");
        assert_eq!(
            lmgrd_started(&p, "flexlm02", "IBM PC", &at(2022, 5, 5, (8, 42, 23))),
            "FlexNet Licensing (v11.18.0.0 build 275847 x64_n6) started on flexlm02 (IBM PC) (5/5/2022)"
        );
        let ours = Product::ours("0.1.0", "x64_lsb");
        assert_eq!(
            lmgrd_started(&ours, "vm", "linux", &at(2026, 3, 9, (0, 0, 0))),
            "lm license manager (v0.1.0 build 0 x64_lsb) started on vm (linux) (3/9/2026)"
        );
    }

    #[test]
    fn vendor_daemon_lines_as_captured() {
        let p = flexnet("11.16.2.1", 244538, "x64_lsb");
        assert_eq!(
            vendor_version(&p),
            "FlexNet Licensing version v11.16.2.1 build 244538 x64_lsb"
        );
        assert_eq!(
            vendor_started("MLM", 42249, 10861, false),
            "Started MLM (internet tcp_port 42249 pid 10861)"
        );
        assert_eq!(
            vendor_started("covlicd", 43652, 22155, true),
            "REStarted covlicd (internet tcp_port 43652 pid 22155)"
        );
        assert_eq!(vendor_using_port("MLM", 42249), "MLM using TCP-port 42249");
        assert_eq!(
            WILL_RESTART.split('\n').collect::<Vec<_>>(),
            [
                "Since this is an unknown status, license server",
                "manager (lmgrd) will attempt to re-start the vendor daemon."
            ]
        );
    }

    #[test]
    fn reread_lines_as_captured() {
        assert_eq!(
            reread_requested("upm", "flexlm02"),
            "Rereading license file... Requested from upm@flexlm02"
        );
        assert_eq!(DONE_REREADING, ["Done rereading", "...Finished rereading"]);
        assert_eq!(VENDOR_REREADING, "Rereading license file...");
    }

    #[test]
    fn shutdown_lines_as_captured() {
        assert_eq!(
            shutdown_request("upm", "flexlm01"),
            "SHUTDOWN request from upm at node flexlm01"
        );
        assert_eq!(
            WILL_SHUT_DOWN,
            "lmgrd will now shut down all the vendor daemons"
        );
        assert_eq!(
            shutting_down_vendor("MLM", 496, 15),
            "Shutting down MLM pid=496 because of signal 15"
        );
        assert_eq!(
            SHUTDOWN_REQUESTED,
            "daemon shutdown requested - shutting down"
        );
        assert_eq!(VENDOR_SHUTDOWN_REQUESTED, "Shutdown requested.");
        assert_eq!(
            vendor_shut_down(&flexnet("11.18.1", 0, "x64_n6"), "MLM", "flexlm01"),
            "Shut down FlexNet MLM license server system on machine flexlm01"
        );
        assert_eq!(exiting(15), "EXITING DUE TO SIGNAL 15");
    }
}
