//! `lmpath`: the license search path kept in `$HOME/.flexlmrc`
//! (`LM_LICENSE_FILE=` for `all`, `<VENDOR>_LICENSE_FILE=` for one vendor),
//! which the client library and every tool read after the environment.
//!
//! ```text
//! lmpath -status
//! lmpath -add {vendor|all} license_file_list      (prepended, duplicates removed)
//! lmpath -override {vendor|all} license_file_list (replaced; "" deletes)
//! ```

use crate::common;
use crate::Invocation;
use client::search;
use std::path::{Path, PathBuf};

pub const USAGE: &str = "\
usage: lmpath -status
       lmpath -add {vendor|all} license_file_list
       lmpath -override {vendor|all} license_file_list
  (kept in $HOME/.flexlmrc; `all` is LM_LICENSE_FILE, a vendor VENDOR_LICENSE_FILE;
   -override with \"\" deletes the setting)
";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Status,
    Add { name: String, list: String },
    Override { name: String, list: String },
}

pub type Parsed = common::Parsed<Action>;

pub fn parse(args: &[String]) -> Result<Parsed, String> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["-status"] => Ok(Parsed::Run(Action::Status)),
        ["-add", who, list] => Ok(Parsed::Run(Action::Add {
            name: variable(who)?,
            list: list.to_string(),
        })),
        ["-override", who, list] => Ok(Parsed::Run(Action::Override {
            name: variable(who)?,
            list: list.to_string(),
        })),
        ["-help" | "-h" | "--help"] => Ok(Parsed::Help),
        ["-v"] => Ok(Parsed::Version),
        [] => Err("give -status, -add or -override".into()),
        [first, ..] => Err(format!("unexpected `{first}`")),
    }
}

/// The variable for `all` or a vendor name.
pub fn variable(who: &str) -> Result<String, String> {
    if who.eq_ignore_ascii_case("all") {
        return Ok("LM_LICENSE_FILE".into());
    }
    if who.is_empty() || !who.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!("`{who}` is not a vendor name"));
    }
    Ok(search::vendor_variable(who))
}

/// `list` in front of `old`, each entry once.
pub fn added(old: Option<&str>, list: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for e in list.split(':').chain(old.unwrap_or("").split(':')) {
        let e = e.trim();
        if !e.is_empty() && !out.contains(&e) {
            out.push(e);
        }
    }
    out.join(":")
}

/// The rc text with `name` set to `value` (`None`: removed). Other lines,
/// comments included, stay as they were; a new setting goes at the end.
pub fn rc_set(text: &str, name: &str, value: Option<&str>) -> String {
    let is_setting = |line: &str| {
        let l = line.trim_start();
        !l.starts_with('#') && l.split_once('=').is_some_and(|(k, _)| k.trim() == name)
    };
    let mut out = String::new();
    let mut written = false;
    for line in text.lines() {
        if is_setting(line) {
            if let (Some(v), false) = (value, written) {
                out.push_str(&format!("{name}={v}\n"));
                written = true;
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if let (Some(v), false) = (value, written) {
        out.push_str(&format!("{name}={v}\n"));
    }
    out
}

/// Every `NAME=value` setting of the rc text, last one per name, in order
/// of first appearance.
pub fn rc_settings(text: &str) -> Vec<(String, String)> {
    let mut names: Vec<String> = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('#') {
            continue;
        }
        if let Some((k, _)) = l.split_once('=') {
            let k = k.trim().to_string();
            if k.ends_with("_LICENSE_FILE") && !names.contains(&k) {
                names.push(k);
            }
        }
    }
    names
        .into_iter()
        .filter_map(|n| search::flexlmrc_value(text, &n).map(|v| (n, v)))
        .collect()
}

/// What `lmpath -status` prints: for each vendor with a variable of its
/// own, and for all others, the search path the client library uses, in
/// its order (the environment's `env` variables, then the rc text's), or
/// the default file when nothing is set.
pub fn status(text: &str, env: &[(String, String)]) -> String {
    let env_value = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let path_of = |vendor: &str| {
        let path = search::search_path(vendor, env_value, Some(text));
        let list: Vec<String> = path.entries.iter().map(ToString::to_string).collect();
        match path.is_default {
            true => format!("{} (the default: no license path is set)", list.join(":")),
            false => list.join(":"),
        }
    };
    let mut vendors: Vec<String> = rc_settings(text)
        .into_iter()
        .map(|(name, _)| name)
        .chain(env.iter().map(|(name, _)| name.clone()))
        .filter(|name| name != "LM_LICENSE_FILE")
        .filter_map(|name| {
            name.strip_suffix("_LICENSE_FILE")
                .map(str::to_ascii_lowercase)
        })
        .collect();
    vendors.sort();
    vendors.dedup();
    let mut out = String::from("Known Vendors:\n_____________\n\n");
    for vendor in &vendors {
        out.push_str(&format!("{vendor}: {}\n", path_of(vendor)));
    }
    out.push_str("_____________\n\nOther Vendors:\n______________\n\n");
    // A vendor name no variable can have: only LM_LICENSE_FILE applies.
    out.push_str(&format!("{}\n", path_of("")));
    for (var, _) in env {
        out.push_str(&format!(
            "\nNote: {var} is set in the environment; it is searched before $HOME/.flexlmrc.\n"
        ));
    }
    out
}

fn rc_path() -> Result<PathBuf, String> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| Path::new(&h).join(".flexlmrc"))
        .ok_or_else(|| "HOME is not set".to_string())
}

fn write_rc(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("lmpath-tmp");
    std::fs::write(&tmp, text)?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, path)
}

pub fn run(inv: &Invocation) -> i32 {
    let action = match common::begin(inv, "lmpath", USAGE, parse(&inv.args)) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let path = match rc_path() {
        Ok(p) => p,
        Err(e) => {
            common::write_err(&format!("lmpath: {e}\n"));
            return 1;
        }
    };
    let old = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            common::write_err(&format!(
                "lmpath: cannot read {}: {}\n",
                path.display(),
                common::io_text(&e)
            ));
            return 1;
        }
    };
    let text = match &action {
        Action::Status => old,
        Action::Add { name, list } => {
            let value = added(search::flexlmrc_value(&old, name).as_deref(), list);
            rc_set(&old, name, (!value.is_empty()).then_some(value.as_str()))
        }
        Action::Override { name, list } => {
            let value = added(None, list);
            rc_set(&old, name, (!value.is_empty()).then_some(value.as_str()))
        }
    };
    if action != Action::Status {
        if let Err(e) = write_rc(&path, &text) {
            common::write_err(&format!(
                "lmpath: cannot write {}: {}\n",
                path.display(),
                common::io_text(&e)
            ));
            return 1;
        }
    }
    let mut env_set: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.ends_with("_LICENSE_FILE"))
        .collect();
    env_set.sort();
    common::write_out(&format!(
        "{}\n{}",
        common::banner(&inv.program),
        status(&text, &env_set)
    ));
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let p = |a: &[&str]| parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(p(&["-status"]), Ok(Parsed::Run(Action::Status)));
        assert_eq!(
            p(&["-add", "demo", "/a.lic"]),
            Ok(Parsed::Run(Action::Add {
                name: "DEMO_LICENSE_FILE".into(),
                list: "/a.lic".into()
            }))
        );
        assert_eq!(
            p(&["-override", "ALL", ""]),
            Ok(Parsed::Run(Action::Override {
                name: "LM_LICENSE_FILE".into(),
                list: String::new()
            }))
        );
        assert!(p(&["-add", "de mo", "/a"]).is_err());
        assert!(p(&["-add", "demo"]).is_err());
        assert!(p(&[]).is_err());
    }

    #[test]
    fn add_prepends_once() {
        assert_eq!(added(Some("/b:/c"), "/a:/c"), "/a:/c:/b");
        assert_eq!(added(None, "27000@h::/x"), "27000@h:/x");
        assert_eq!(added(Some("/a"), ""), "/a");
    }

    #[test]
    fn rc_editing_keeps_the_rest() {
        let rc = "# mine\nLM_LICENSE_FILE=/old\nX=1\nLM_LICENSE_FILE=/older\n";
        assert_eq!(
            rc_set(rc, "LM_LICENSE_FILE", Some("/new")),
            "# mine\nLM_LICENSE_FILE=/new\nX=1\n"
        );
        assert_eq!(rc_set(rc, "LM_LICENSE_FILE", None), "# mine\nX=1\n");
        assert_eq!(
            rc_set("", "DEMO_LICENSE_FILE", Some("27000@h")),
            "DEMO_LICENSE_FILE=27000@h\n"
        );
    }

    #[test]
    fn status_lists_vendors_then_the_rest() {
        let rc = "DEMO_LICENSE_FILE=27000@h\nLM_LICENSE_FILE=/etc/lm.lic\n";
        assert_eq!(
            status(rc, &[]),
            "Known Vendors:\n_____________\n\ndemo: 27000@h:/etc/lm.lic\n_____________\n\n\
             Other Vendors:\n______________\n\n/etc/lm.lic\n"
        );
    }

    #[test]
    fn status_reports_what_the_environment_sets() {
        // LM_LICENSE_FILE set in the environment only: it is what every
        // vendor uses, not "(not set)".
        let env = vec![(
            "LM_LICENSE_FILE".to_string(),
            "27000@srv:/opt/a.lic".to_string(),
        )];
        assert_eq!(
            status("", &env),
            "Known Vendors:\n_____________\n\n_____________\n\n\
             Other Vendors:\n______________\n\n27000@srv:/opt/a.lic\n\n\
             Note: LM_LICENSE_FILE is set in the environment; it is searched before $HOME/.flexlmrc.\n"
        );
        // Environment first, then the rc file; a vendor variable first of all.
        let env = vec![
            ("DEMO_LICENSE_FILE".to_string(), "1700@d".to_string()),
            ("LM_LICENSE_FILE".to_string(), "27000@srv".to_string()),
        ];
        let text = status("LM_LICENSE_FILE=/etc/lm.lic\n", &env);
        assert!(
            text.contains("\ndemo: 1700@d:27000@srv:/etc/lm.lic\n"),
            "{text}"
        );
        assert!(text.contains("\n\n27000@srv:/etc/lm.lic\n"), "{text}");
        // Nothing anywhere: the default file, said to be the default.
        assert!(status("", &[]).contains(
            "\n/usr/local/flexlm/licenses/license.dat (the default: no license path is set)\n"
        ));
    }
}
