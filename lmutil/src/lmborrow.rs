//! `lmborrow`: the user's side of borrowing, run on the machine that
//! borrows.
//!
//! ```text
//! lmborrow {vendor|all} dd-mmm-yyyy[:hh:mm]   borrow from now on, until then
//! lmborrow -status                            what is borrowed here (offline)
//! lmborrow -clear                             stop borrowing (borrows stay)
//! lmborrow -purge                             forget borrows that are over
//! lmborrow -return [-c list] [-d display] [-vendor name] feature
//! ```
//!
//! The first form writes `LM_BORROW=<today>:<vendor>:<end>` into
//! `$HOME/.flexlmrc`; the applications' next checkouts of that vendor then
//! borrow (see `client::borrow`). `-status` reads the local borrow store
//! and needs no server. `-return` asks the server that lent the license to
//! take it back early and forgets it here; when `LM_BORROW` in `.flexlmrc`
//! names that vendor (not `all`), it is cleared too, or the next checkout
//! would borrow again.

use crate::common::{self, Common, CommonOpts, Cursor};
use crate::lmpath::rc_set;
use crate::Invocation;
use client::borrow::{
    self, BorrowEnd, BorrowRecord, BorrowStore, LmBorrowSetting, SettingOrigin, LM_BORROW,
};
use client::{Job, JobConfig};
use grammar::Date;
use std::path::Path;

pub const USAGE: &str = "\
usage: lmborrow {vendor|all} dd-mmm-yyyy[:hh:mm]
       lmborrow -status
       lmborrow -clear
       lmborrow -purge
       lmborrow -return [-c license_file_list] [-d display] [-vendor name] feature
  (the end date is local time, 23:59 when no time is given; the setting is
   kept in $HOME/.flexlmrc as LM_BORROW, the borrows in $HOME/.flexlmborrow)
";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Borrow licenses of `vendor` (or `all`) until `end`.
    Set {
        vendor: String,
        end: BorrowEnd,
    },
    Status,
    Clear,
    Purge,
    Return {
        common: CommonOpts,
        display: Option<String>,
        vendor: Option<String>,
        feature: String,
    },
}

pub type Parsed = common::Parsed<Action>;

pub fn parse(args: &[String]) -> Result<Parsed, String> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["-help" | "-h" | "--help"] => return Ok(Parsed::Help),
        ["-v" | "-version" | "--version"] => return Ok(Parsed::Version),
        ["-status"] => return Ok(Parsed::Run(Action::Status)),
        ["-clear"] => return Ok(Parsed::Run(Action::Clear)),
        ["-purge"] => return Ok(Parsed::Run(Action::Purge)),
        ["-return", ..] => return parse_return(&args[1..]),
        [] => return Err("give {vendor|all} and an end date, -status, -clear or -return".into()),
        _ => {}
    }
    // `vendor date[:hh:mm]`, or FLEXlm's older `vendor date hh:mm`.
    let (vendor, end) = match words.as_slice() {
        [vendor, end] => (*vendor, end.to_string()),
        [vendor, date, time] if !time.starts_with('-') => (*vendor, format!("{date}:{time}")),
        [first, ..] if first.starts_with('-') => return Err(format!("unknown option `{first}`")),
        _ => return Err("give {vendor|all} and an end date, dd-mmm-yyyy[:hh:mm]".into()),
    };
    if vendor.is_empty()
        || !vendor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(format!("`{vendor}` is not a vendor name (or `all`)"));
    }
    let end = BorrowEnd::parse(&end).map_err(|e| e.to_string())?;
    Ok(Parsed::Run(Action::Set {
        vendor: vendor.to_string(),
        end,
    }))
}

fn parse_return(args: &[String]) -> Result<Parsed, String> {
    let mut common = CommonOpts::default();
    let mut display = None;
    let mut vendor = None;
    let mut feature = None;
    let mut c = Cursor::new(args);
    while let Some(arg) = c.next_arg() {
        match arg {
            "-d" => display = Some(c.value("-d")?.to_string()),
            "-vendor" => vendor = Some(c.value("-vendor")?.to_string()),
            // We name hosts as the system does; there is nothing to switch.
            "-fqdn" => {}
            _ => match c.common(arg, &mut common)? {
                Common::Taken => {}
                Common::Help => return Ok(Parsed::Help),
                Common::Version => return Ok(Parsed::Version),
                Common::Other if arg.starts_with('-') => {
                    return Err(format!("unknown option `{arg}`"))
                }
                Common::Other if feature.is_some() => {
                    return Err(format!("unexpected argument `{arg}`"))
                }
                Common::Other => feature = Some(arg.to_string()),
            },
        }
    }
    let feature = feature.ok_or("-return needs the feature to return")?;
    Ok(Parsed::Run(Action::Return {
        common,
        display,
        vendor,
        feature,
    }))
}

/// The setting `lmborrow vendor end` writes, asked for on `today` at Unix
/// time `now`; refused when the end is not in the future.
pub fn setting_for(
    vendor: &str,
    end: BorrowEnd,
    today: Date,
    now: u64,
    to_unix: impl Fn(Date, u8, u8) -> Option<u64>,
) -> Result<LmBorrowSetting, String> {
    let setting = LmBorrowSetting {
        start: today,
        vendor: vendor.to_string(),
        end,
    };
    match end.unix(to_unix) {
        Some(t) if t > now => Ok(setting),
        _ => Err(format!("the end {end} is not in the future")),
    }
}

/// What `lmborrow -status` prints: the setting in force, then one line
/// per borrow (`format` turns Unix time into local time).
pub fn status_text(
    setting: Option<(&str, &SettingOrigin)>,
    records: &[BorrowRecord],
    now: u64,
    format: impl Fn(u64) -> String,
) -> String {
    let mut out = match setting {
        Some((value, origin)) => format!("{origin}: {value}\n\n"),
        None => format!("{LM_BORROW} is not set: checkouts do not borrow.\n\n"),
    };
    if records.is_empty() {
        out.push_str("No licenses are borrowed on this machine.\n");
        return out;
    }
    let width = records
        .iter()
        .map(|r| r.feature.len())
        .max()
        .unwrap_or(0)
        .max("Feature".len());
    let vwidth = records
        .iter()
        .map(|r| r.vendor.len())
        .max()
        .unwrap_or(0)
        .max("Vendor".len());
    out.push_str(&format!(
        "{:<vwidth$}  {:<width$}  {:<8}  {:>5}  {:<17}  Server\n",
        "Vendor", "Feature", "Version", "Count", "Borrowed until"
    ));
    for r in records {
        let until = if r.is_expired(now) {
            format!("{} (over)", format(r.until))
        } else {
            format(r.until)
        };
        out.push_str(&format!(
            "{:<vwidth$}  {:<width$}  {:<8}  {:>5}  {:<17}  {}\n",
            r.vendor, r.feature, r.version, r.count, until, r.server
        ));
    }
    out
}

/// The rc text after a successful `-return` for `vendor`: `LM_BORROW`
/// removed when it names exactly that vendor.
pub fn rc_after_return(text: &str, vendor: &str) -> Option<String> {
    let value = client::search::flexlmrc_value(text, LM_BORROW)?;
    let setting = LmBorrowSetting::parse(&value).ok()?;
    setting
        .vendor
        .eq_ignore_ascii_case(vendor)
        .then(|| rc_set(text, LM_BORROW, None))
}

fn read_rc(path: &Path) -> Result<String, String> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(format!(
            "cannot read {}: {}",
            path.display(),
            common::io_text(&e)
        )),
    }
}

/// Replaces the rc file in one rename, keeping its permissions.
fn write_rc(path: &Path, text: &str) -> Result<(), String> {
    let tmp = path.with_extension("lmborrow-tmp");
    let written = std::fs::write(&tmp, text).and_then(|()| {
        if let Ok(meta) = std::fs::metadata(path) {
            let _ = std::fs::set_permissions(&tmp, meta.permissions());
        }
        std::fs::rename(&tmp, path)
    });
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}: {}", path.display(), common::io_text(&e))
    })
}

fn store() -> Result<BorrowStore, String> {
    BorrowStore::from_env().map_err(|e| e.to_string())
}

fn today() -> Date {
    let s = common::Stamp::now();
    Date::new(s.year, s.month, s.day)
        .unwrap_or_else(|| Date::from_days_since_epoch((borrow::now_unix() / 86_400) as i64))
}

pub fn run(inv: &Invocation) -> i32 {
    let action = match common::begin(inv, "lmborrow", USAGE, parse(&inv.args)) {
        Ok(a) => a,
        Err(code) => return code,
    };
    common::write_out(&format!("{}\n", common::banner(&inv.program)));
    match act(action) {
        Ok(text) => {
            common::write_out(&text);
            0
        }
        Err(e) => {
            common::write_err(&format!("lmborrow: {e}\n"));
            1
        }
    }
}

/// Carries an action out; the text to print, or why it failed.
fn act(action: Action) -> Result<String, String> {
    let now = borrow::now_unix();
    let rc = || borrow::flexlmrc_path().ok_or_else(|| "HOME is not set".to_string());
    let env_note = || {
        std::env::var(LM_BORROW)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| {
                format!(
                    "Note: {LM_BORROW}={v} is set in the environment; it is used instead of {LM_BORROW} in .flexlmrc.\n"
                )
            })
            .unwrap_or_default()
    };
    match action {
        Action::Set { vendor, end } => {
            let setting = setting_for(&vendor, end, today(), now, borrow::local_unix)?;
            let path = rc()?;
            let text = rc_set(&read_rc(&path)?, LM_BORROW, Some(&setting.to_string()));
            write_rc(&path, &text)?;
            Ok(format!(
                "{LM_BORROW}={setting} set in {}\n{}",
                path.display(),
                env_note()
            ))
        }
        Action::Clear => {
            let path = rc()?;
            let old = read_rc(&path)?;
            if client::search::flexlmrc_value(&old, LM_BORROW).is_none() {
                return Ok(format!("{LM_BORROW} is not set in {}\n", path.display()));
            }
            write_rc(&path, &rc_set(&old, LM_BORROW, None))?;
            Ok(format!(
                "{LM_BORROW} removed from {}; licenses already borrowed stay borrowed.\n{}",
                path.display(),
                env_note()
            ))
        }
        Action::Status => {
            let listing = store()?.read().map_err(|e| e.to_string())?;
            let setting = borrow::setting_text_from_process_env();
            let mut text = status_text(
                setting.as_ref().map(|(v, o)| (v.as_str(), o)),
                &listing.records,
                now,
                borrow::format_local,
            );
            // Records that do not read are never honoured; say so.
            for d in &listing.damaged {
                text.push_str(&format!("Warning: {d}\n"));
            }
            Ok(text)
        }
        Action::Purge => {
            let n = store()?.purge_expired(now).map_err(|e| e.to_string())?;
            Ok(format!("{n} expired borrow record(s) removed.\n"))
        }
        Action::Return {
            common,
            display,
            vendor,
            feature,
        } => return_borrow(common, display, vendor, &feature),
    }
}

fn return_borrow(
    common: CommonOpts,
    display: Option<String>,
    vendor: Option<String>,
    feature: &str,
) -> Result<String, String> {
    let store = store()?;
    let vendor = match vendor {
        Some(v) => v,
        None => {
            let records = store.list().map_err(|e| e.to_string())?;
            let mut vendors: Vec<String> = records
                .into_iter()
                .filter(|r| r.feature == feature)
                .map(|r| r.vendor)
                .collect();
            vendors.dedup();
            match vendors.as_slice() {
                [one] => one.clone(),
                [] => {
                    return Err(format!(
                        "no borrow of {feature} is recorded on this machine; give -vendor"
                    ))
                }
                _ => {
                    return Err(format!(
                        "{feature} is borrowed from several vendors ({}); give -vendor",
                        vendors.join(", ")
                    ))
                }
            }
        }
    };
    let t = common.timeouts();
    let job = Job::for_inspection(
        &vendor,
        JobConfig {
            license_path: common.license,
            connect_timeout: t.connect,
            io_timeout: t.io,
            display,
            borrow_store: Some(store.path().to_path_buf()),
            ..JobConfig::default()
        },
    );
    job.return_borrow(feature)
        .map_err(|e| e.long_form().trim_end().to_string())?;
    let mut out = format!("{feature} returned.\n");
    if let Some(path) = borrow::flexlmrc_path() {
        if let Ok(old) = read_rc(&path) {
            if let Some(text) = rc_after_return(&old, &vendor) {
                write_rc(&path, &text)?;
                out.push_str(&format!(
                    "{LM_BORROW} for {vendor} removed from {}.\n",
                    path.display()
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use client::borrow::utc_unix;

    fn p(a: &[&str]) -> Result<Parsed, String> {
        parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn d(y: i32, m: u8, day: u8) -> Date {
        Date::new(y, m, day).expect("date")
    }

    #[test]
    fn options() {
        assert_eq!(p(&["-status"]), Ok(Parsed::Run(Action::Status)));
        assert_eq!(p(&["-clear"]), Ok(Parsed::Run(Action::Clear)));
        assert_eq!(p(&["-purge"]), Ok(Parsed::Run(Action::Purge)));
        assert_eq!(p(&["-help"]), Ok(Parsed::Help));
        let end = BorrowEnd::parse("24-may-2026:18:30").expect("end");
        let set = Ok(Parsed::Run(Action::Set {
            vendor: "demo".into(),
            end,
        }));
        assert_eq!(p(&["demo", "24-may-2026:18:30"]), set);
        assert_eq!(p(&["demo", "24-may-2026", "18:30"]), set);
        assert!(matches!(
            p(&["all", "24-may-2026"]),
            Ok(Parsed::Run(Action::Set { ref vendor, end })) if vendor == "all" && end.time.is_none()
        ));
        assert_eq!(
            p(&["-return", "-c", "27000@h", "-d", "ws:0", "-fqdn", "-vendor", "demo", "f1"]),
            Ok(Parsed::Run(Action::Return {
                common: CommonOpts {
                    license: Some("27000@h".into()),
                    ..CommonOpts::default()
                },
                display: Some("ws:0".into()),
                vendor: Some("demo".into()),
                feature: "f1".into(),
            }))
        );
        assert!(p(&[]).is_err());
        assert!(p(&["-return"]).is_err());
        assert!(p(&["-return", "f1", "f2"]).is_err());
        assert!(p(&["-return", "-x", "f1"]).is_err());
        assert!(p(&["-bogus"]).is_err());
        assert!(p(&["de-mo", "24-may-2026"]).is_err());
        assert!(p(&["demo"]).is_err());
        let e = p(&["demo", "24-may-2026:25:00"]).expect_err("bad time");
        assert!(e.contains("`25:00`"), "{e}");
        let e = p(&["demo", "31-feb-2026"]).expect_err("bad date");
        assert!(e.contains("31"), "{e}");
    }

    #[test]
    fn the_setting_starts_today_and_must_end_later() {
        let today = d(2026, 5, 17);
        let now = utc_unix(today, 10, 0).expect("unix");
        let end = BorrowEnd::parse("24-may-2026").expect("end");
        let s = setting_for("demo", end, today, now, utc_unix).expect("setting");
        assert_eq!(s.to_string(), "17-may-2026:demo:24-may-2026");
        // Today until 23:59 is still ahead at 10:00.
        let end = BorrowEnd::parse("17-may-2026").expect("end");
        assert!(setting_for("all", end, today, now, utc_unix).is_ok());
        let end = BorrowEnd::parse("17-may-2026:09:00").expect("end");
        let e = setting_for("all", end, today, now, utc_unix).expect_err("past");
        assert!(e.contains("17-may-2026:09:00"), "{e}");
    }

    #[test]
    fn setting_and_clearing_keep_the_other_lines() {
        let rc = "# mine\nLM_LICENSE_FILE=27000@h\nLM_BORROW=1-jan-2026:demo:2-jan-2026\nDEMO_LICENSE_FILE=/x.lic\n";
        let set = rc_set(rc, LM_BORROW, Some("17-may-2026:all:24-may-2026"));
        assert_eq!(
            set,
            "# mine\nLM_LICENSE_FILE=27000@h\nLM_BORROW=17-may-2026:all:24-may-2026\nDEMO_LICENSE_FILE=/x.lic\n"
        );
        assert_eq!(
            rc_set(rc, LM_BORROW, None),
            "# mine\nLM_LICENSE_FILE=27000@h\nDEMO_LICENSE_FILE=/x.lic\n"
        );
        assert_eq!(
            rc_set("", LM_BORROW, Some("17-may-2026:demo:24-may-2026")),
            "LM_BORROW=17-may-2026:demo:24-may-2026\n"
        );
        // After a return, LM_BORROW goes only when it names that vendor.
        assert_eq!(
            rc_after_return(rc, "demo").as_deref(),
            Some("# mine\nLM_LICENSE_FILE=27000@h\nDEMO_LICENSE_FILE=/x.lic\n")
        );
        assert_eq!(rc_after_return(rc, "acme"), None);
        assert_eq!(rc_after_return(&set, "demo"), None, "`all` stays");
        assert_eq!(rc_after_return("LM_LICENSE_FILE=x\n", "demo"), None);
    }

    #[test]
    fn status_lists_the_borrows() {
        let r = |feature: &str, until: u64| BorrowRecord {
            vendor: "demo".into(),
            feature: feature.into(),
            version: "1.0".into(),
            count: 1,
            expiry: "permanent".into(),
            borrowed_at: 0,
            until,
            server: "27000@srv".into(),
            handle: 1,
            seal: Vec::new(),
            secret: Vec::new(),
        };
        let fmt = |t: u64| format!("T{t}");
        assert_eq!(
            status_text(None, &[], 0, fmt),
            "LM_BORROW is not set: checkouts do not borrow.\n\n\
             No licenses are borrowed on this machine.\n"
        );
        let origin = SettingOrigin::Environment;
        let text = status_text(
            Some(("17-may-2026:demo:24-may-2026", &origin)),
            &[r("f1", 500), r("longfeature", 100)],
            200,
            fmt,
        );
        assert_eq!(
            text,
            "LM_BORROW in the environment: 17-may-2026:demo:24-may-2026\n\n\
             Vendor  Feature      Version   Count  Borrowed until     Server\n\
             demo    f1           1.0           1  T500               27000@srv\n\
             demo    longfeature  1.0           1  T100 (over)        27000@srv\n"
        );
    }
}
