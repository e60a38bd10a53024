//! `lmstat`'s text, from a [`Report`]: a pure function, line for line
//! FLEXlm's format (see `docs/compatibility.md`, "lmutil").

use super::model::*;
use std::fmt::Write as _;

/// The whole report.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    header(&mut out, &r.banner, r);
    if r.detecting {
        out.push_str("[Detecting lmgrd processes...]\n");
    }
    for s in &r.sections {
        match s {
            Section::Failed(e) => {
                let _ = writeln!(out, "Error getting status: {e}");
            }
            Section::Server(s) => server_section(&mut out, s, r.layout),
        }
    }
    out
}

fn header(out: &mut String, banner: &str, r: &Report) {
    let _ = writeln!(out, "{banner}");
    let _ = writeln!(
        out,
        "Flexible License Manager status on {}\n",
        r.time.long()
    );
}

fn server_section(out: &mut String, s: &ServerSection, layout: Layout) {
    let _ = writeln!(out, "License server status: {}", s.label);
    let _ = writeln!(
        out,
        "    License file(s) on {}: {}:\n",
        s.files_host, s.files
    );
    match &s.lmgrd {
        LmgrdState::NotRunning(e) => {
            let _ = writeln!(out, "lmgrd is not running: {e}");
            return;
        }
        LmgrdState::Servers(lines) => {
            for l in lines {
                match &l.state {
                    Ok(up) => {
                        let master = if up.master { " (MASTER)" } else { "" };
                        let _ =
                            writeln!(out, "{}: license server UP{master} v{}", l.host, up.version);
                    }
                    Err(e) => {
                        let _ = writeln!(out, "{}: {e}", l.host);
                    }
                }
            }
            out.push('\n');
            if let Some(t) = &s.triad {
                out.push_str(&triad_view(t));
                out.push('\n');
            }
        }
    }
    let Some(v) = &s.vendors else {
        return;
    };
    let _ = writeln!(out, "Vendor daemon status (on {}):\n", v.on);
    for (i, vendor) in v.vendors.iter().enumerate() {
        if i > 0 && !out.ends_with("\n\n") {
            out.push('\n');
        }
        match &vendor.state {
            Ok(version) => {
                let _ = writeln!(out, "{:>10}: UP v{version}", vendor.name);
            }
            Err(e) => {
                let _ = writeln!(out, "{:>10}: {e}", vendor.name);
            }
        }
        if layout == Layout::Classic {
            out.push('\n');
        }
        if let Some(u) = &vendor.usage {
            usage(out, u, layout);
        }
    }
}

fn usage(out: &mut String, u: &Usage, layout: Layout) {
    match &u.heading {
        UsageHeading::FeatureUsage => out.push_str("Feature usage info:\n\n"),
        UsageHeading::ServedBy(v) => {
            let _ = writeln!(out, "Users of features served by {v}:\n");
        }
    }
    for f in &u.features {
        feature(out, f, layout);
    }
}

/// Ours (`lmstat -triad`, and lmdiag): why each member of a triad is
/// master or not, as one member sees it. FLEXlm prints nothing like it, so
/// it is only printed when asked for.
///
/// ```text
/// Triad as SERVER001 sees it:
///   primary   27005@SERVER001: UP (MASTER): leader of term 3
///   secondary 27005@SERVER002: UP: follows SERVER001
///   tertiary  27005@SERVER003: DOWN: no answer for 12 s
/// ```
pub fn triad_view(v: &TriadView) -> String {
    let mut out = format!("Triad as {} sees it:\n", v.seen_by);
    for m in &v.members {
        let role = match m.line {
            1 => "primary".to_string(),
            2 => "secondary".to_string(),
            3 => "tertiary".to_string(),
            n => format!("member {n}"),
        };
        let state = match (m.up, m.master) {
            (true, true) => "UP (MASTER)",
            (true, false) => "UP",
            (false, true) => "DOWN (MASTER)",
            (false, false) => "DOWN",
        };
        let _ = write!(out, "  {role:<9} {}@{}: {state}", m.port, m.host);
        if !m.reason.is_empty() {
            let _ = write!(out, ": {}", m.reason);
        }
        out.push('\n');
    }
    out
}

/// `license` or `licenses`, as FLEXlm counts.
fn licenses(n: u32) -> &'static str {
    if n == 1 {
        "license"
    } else {
        "licenses"
    }
}

fn feature(out: &mut String, f: &FeatureUsage, layout: Layout) {
    let name = &f.name;
    match &f.totals {
        Totals::Counted { issued, in_use } => {
            let _ = writeln!(
                out,
                "Users of {name}:  (Total of {issued} {} issued;  Total of {in_use} {} in use)\n",
                licenses(*issued),
                licenses(*in_use)
            );
        }
        Totals::Uncounted => {
            let _ = writeln!(out, "Users of {name}:  (Uncounted, node-locked)\n");
        }
        Totals::Unsupported { count } => {
            let _ = writeln!(
                out,
                "Users of {name}:  (Error: {count} licenses, unsupported by licensed server)\n"
            );
        }
        Totals::Error(e) => {
            let _ = writeln!(out, "Users of {name}: Cannot get users of {name}: {e}");
        }
    }
    for b in &f.blocks {
        block(out, b, layout);
    }
}

fn block(out: &mut String, b: &LineBlock, layout: Layout) {
    let indent = match layout {
        Layout::Modern => {
            out.push('\n');
            ""
        }
        Layout::Classic => "  ",
    };
    let _ = write!(
        out,
        "{indent}\"{}\" v{}, vendor: {}",
        b.feature, b.version, b.vendor
    );
    if let (Layout::Modern, Some(e)) = (layout, &b.expiry) {
        let _ = write!(out, ", expiry: {e}");
    }
    out.push('\n');
    if let Some(vs) = &b.vendor_string {
        let _ = writeln!(out, "  vendor_string: {vs}");
    }
    let _ = writeln!(out, "  {}\n", b.lock);
    let res_indent = match layout {
        Layout::Modern => "        ",
        Layout::Classic => "\t",
    };
    for r in &b.reservations {
        let s = if r.count == 1 { "" } else { "s" };
        let _ = writeln!(
            out,
            "{res_indent}{} RESERVATION{s} for {} {} ({})",
            r.count, r.kind, r.name, r.server
        );
    }
    for u in &b.users {
        let _ = writeln!(out, "{}", user_line(u));
    }
    if b.omitted > 0 {
        // Not FLEXlm's: its lmstat has no such limit to report.
        let _ = writeln!(
            out,
            "    ({} more {} not shown: the vendor daemon lists at most half a message of \
             waiting users, and lmstat reads at most 4096 pages of users)",
            b.omitted,
            if b.omitted == 1 { "user" } else { "users" }
        );
    }
    out.push('\n');
}

/// One checkout line, with its four-space indent.
pub fn user_line(u: &UserLine) -> String {
    let mut s = format!("    {} {}", u.user, u.host);
    if !u.display.is_empty() {
        let _ = write!(s, " {}", u.display);
    }
    if let Some(x) = &u.extra {
        let _ = write!(s, " {x}");
    }
    let _ = write!(
        s,
        " (v{}) ({}/{} {})",
        u.version, u.server_host, u.server_port, u.handle
    );
    match &u.state {
        UserState::Using {
            start,
            count,
            linger,
            pid,
        } => {
            let _ = write!(s, ", start {}", start.short());
            if *count > 1 {
                let _ = write!(s, ", {count} licenses");
            }
            match linger {
                Some((secs, None)) => {
                    let _ = write!(s, " (linger: {secs})");
                }
                Some((secs, Some(total))) => {
                    let _ = write!(s, "  (linger: {secs} / {total})");
                }
                None => {}
            }
            if let Some(pid) = pid {
                let _ = write!(s, ", PID: {pid}");
            }
        }
        UserState::Queued { count } => {
            let _ = write!(s, " queued for {count} {}", licenses(*count));
        }
    }
    s
}

/// `lmstat -i`: the note, then one row per license line.
pub fn render_increments(
    banner: &str,
    time: &crate::common::Stamp,
    layout: Layout,
    rows: &[IncrementRow],
) -> String {
    render_increments_with(banner, time, layout, rows, &[])
}

/// [`render_increments`] with our notes after FLEXlm's: which `port@host`
/// entries were asked (they have no file to read here), and why one
/// could not be. FLEXlm prints an empty table for them.
pub fn render_increments_with(
    banner: &str,
    time: &crate::common::Stamp,
    layout: Layout,
    rows: &[IncrementRow],
    notes: &[String],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{banner}");
    let _ = writeln!(out, "Flexible License Manager status on {}\n", time.long());
    out.push_str(
        "NOTE: lmstat -i does not give information from the server,\n      \
         but only reads the license file.  For this reason,\n      \
         lmstat -a is recommended instead.\n\n",
    );
    for note in notes {
        let _ = writeln!(out, "{note}");
    }
    if !notes.is_empty() {
        out.push('\n');
    }
    out.push_str(&increment_table(layout, rows));
    out
}

/// The table of `lmstat -i`, in the layout's column order.
pub fn increment_table(layout: Layout, rows: &[IncrementRow]) -> String {
    let mut out = String::new();
    match layout {
        Layout::Modern => {
            let _ = writeln!(
                out,
                "{:<32}{:<12}{:<13}{:<14}Expires",
                "Feature", "Version", "#licenses", "Vendor"
            );
            let _ = writeln!(
                out,
                "{:<32}{:<12}{:<13}{:<14}________",
                "_______", "_________", "_________", "______"
            );
            for r in rows {
                let _ = writeln!(
                    out,
                    "{:<32} {:<12} {:<11} {:<12} {}",
                    r.feature, r.version, r.count, r.vendor, r.expires
                );
            }
        }
        Layout::Classic => {
            let _ = writeln!(
                out,
                "{:<32}{:<12}{:<13}{:<13}Vendor",
                "Feature", "Version", "#licenses", "Expires"
            );
            let _ = writeln!(
                out,
                "{:<32}{:<12}{:<13}{:<13}______",
                "_______", "_________", "_________", "__________"
            );
            for r in rows {
                let _ = writeln!(
                    out,
                    "{:<32}{:<13}{:<12}{:<13}{}",
                    r.feature, r.version, r.count, r.expires, r.vendor
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::Stamp;

    fn user(count: u32) -> UserLine {
        UserLine {
            user: "joe".into(),
            host: "ws1".into(),
            display: "/dev/pts/1".into(),
            extra: None,
            version: "1.0".into(),
            server_host: "srv".into(),
            server_port: "27000".into(),
            handle: 7,
            state: UserState::Using {
                start: Stamp::on(2020, 11, 22, 20, 50),
                count,
                linger: None,
                pid: None,
            },
        }
    }

    #[test]
    fn singular_and_plural() {
        assert_eq!(
            user_line(&user(1)),
            "    joe ws1 /dev/pts/1 (v1.0) (srv/27000 7), start Sun 11/22 20:50"
        );
        assert_eq!(
            user_line(&user(3)),
            "    joe ws1 /dev/pts/1 (v1.0) (srv/27000 7), start Sun 11/22 20:50, 3 licenses"
        );
        let mut out = String::new();
        feature(
            &mut out,
            &FeatureUsage {
                name: "f1".into(),
                totals: Totals::Counted {
                    issued: 1,
                    in_use: 0,
                },
                blocks: vec![],
            },
            Layout::Modern,
        );
        assert_eq!(
            out,
            "Users of f1:  (Total of 1 license issued;  Total of 0 licenses in use)\n\n"
        );
        let mut q = user(1);
        q.state = UserState::Queued { count: 2 };
        q.display.clear();
        assert_eq!(
            user_line(&q),
            "    joe ws1 (v1.0) (srv/27000 7) queued for 2 licenses"
        );
    }
}
