//! The license search path: where an application looks for its licenses.
//!
//! In order: `<VENDOR>_LICENSE_FILE`, `LM_LICENSE_FILE`, then the same two
//! names in `~/.flexlmrc`; when none of them says anything,
//! `/usr/local/flexlm/licenses/license.dat`. Each value is a `:`-separated
//! list of entries: a license file, a directory (its `*.lic` files in name
//! order), `port@host`, `@host` (ports 27000-27009), or a comma-joined triad
//! `p1@h1,p2@h2,p3@h3`, which is one entry.
//!
//! Everything here but [`from_process_env`] and [`expand_directory`] is a
//! pure function of its arguments.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where FLEXlm looks when nothing else is set.
pub const DEFAULT_LICENSE_FILE: &str = "/usr/local/flexlm/licenses/license.dat";

/// The ports an `@host` entry (or a SERVER line without a port) tries.
pub const DEFAULT_PORTS: std::ops::RangeInclusive<u16> = 27000..=27009;

/// One license server address: `port@host`, or `@host` without a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerSpec {
    pub host: String,
    pub port: Option<u16>,
}

impl ServerSpec {
    /// The ports to try, in order: the one given, else 27000-27009.
    pub fn ports(&self) -> Vec<u16> {
        match self.port {
            Some(p) => vec![p],
            None => DEFAULT_PORTS.collect(),
        }
    }

    /// The host to connect to: `this_host` and `localhost` mean this
    /// machine, reached at 127.0.0.1.
    pub fn connect_host(&self) -> &str {
        if self.host.eq_ignore_ascii_case("this_host")
            || self.host.eq_ignore_ascii_case("localhost")
        {
            "127.0.0.1"
        } else {
            &self.host
        }
    }

    fn parse(text: &str) -> Result<ServerSpec, String> {
        let (port, host) = text
            .split_once('@')
            .ok_or_else(|| format!("`{text}` is not port@host"))?;
        if host.is_empty() {
            return Err(format!("`{text}` names no host"));
        }
        let port = match port {
            "" => None,
            p => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("`{p}` in `{text}` is not a port number"))?,
            ),
        };
        Ok(ServerSpec {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for ServerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{p}@{}", self.host),
            None => write!(f, "@{}", self.host),
        }
    }
}

/// One entry of the search path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathEntry {
    /// A license file, or a directory of `*.lic` files.
    File(PathBuf),
    /// `port@host` or `@host`.
    Server(ServerSpec),
    /// `p1@h1,p2@h2,p3@h3`: a redundant triad, tried in order.
    Triad(Vec<ServerSpec>),
    /// Something that cannot be an entry (e.g. `abc@host`).
    Invalid { text: String, reason: String },
}

impl PathEntry {
    /// Parses one entry (no `:` inside).
    pub fn parse(text: &str) -> PathEntry {
        let invalid = |reason: String| PathEntry::Invalid {
            text: text.to_string(),
            reason,
        };
        if !text.contains('@') {
            return PathEntry::File(PathBuf::from(text));
        }
        if text.contains(',') {
            let specs: Result<Vec<ServerSpec>, String> = text
                .split(',')
                .map(str::trim)
                .map(ServerSpec::parse)
                .collect();
            return match specs {
                Ok(mut s) if s.len() == 1 => PathEntry::Server(s.remove(0)),
                Ok(s) => PathEntry::Triad(s),
                Err(e) => invalid(e),
            };
        }
        match ServerSpec::parse(text) {
            Ok(s) => PathEntry::Server(s),
            Err(e) => invalid(e),
        }
    }

    /// The servers to try for this entry, in order (none for a file).
    pub fn servers(&self) -> &[ServerSpec] {
        match self {
            PathEntry::Server(s) => std::slice::from_ref(s),
            PathEntry::Triad(v) => v,
            _ => &[],
        }
    }
}

impl fmt::Display for PathEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathEntry::File(p) => write!(f, "{}", p.display()),
            PathEntry::Server(s) => s.fmt(f),
            PathEntry::Triad(v) => {
                let parts: Vec<String> = v.iter().map(ToString::to_string).collect();
                f.write_str(&parts.join(","))
            }
            PathEntry::Invalid { text, .. } => f.write_str(text),
        }
    }
}

/// Splits a `:`-separated path list into entries; empty parts are skipped.
pub fn parse_list(text: &str) -> Vec<PathEntry> {
    text.split(':')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(PathEntry::parse)
        .collect()
}

/// The whole search path of an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicensePath {
    /// Entries in the order they are tried, each once.
    pub entries: Vec<PathEntry>,
    /// Nothing was set: this is the built-in default.
    pub is_default: bool,
}

impl LicensePath {
    /// A path given explicitly (as `lmutil -c` or an application would).
    pub fn explicit(list: &str) -> LicensePath {
        let mut path = LicensePath {
            entries: Vec::new(),
            is_default: false,
        };
        path.extend(parse_list(list));
        path
    }

    fn extend(&mut self, entries: Vec<PathEntry>) {
        for e in entries {
            if !self.entries.contains(&e) {
                self.entries.push(e);
            }
        }
    }
}

impl fmt::Display for LicensePath {
    /// As FLEXlm prints it after `License path:`: every entry from a
    /// variable followed by `:`; the default file alone.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.entries.iter().enumerate() {
            if self.is_default {
                if i > 0 {
                    f.write_str(":")?;
                }
                write!(f, "{e}")?;
            } else {
                write!(f, "{e}:")?;
            }
        }
        Ok(())
    }
}

/// The per-vendor variable: `DEMO_LICENSE_FILE` for vendor `demo`.
pub fn vendor_variable(vendor: &str) -> String {
    format!("{}_LICENSE_FILE", vendor.to_ascii_uppercase())
}

/// The value of `name` in the text of a `.flexlmrc` file
/// (`NAME=value` lines; `#` starts a comment line; the last one wins).
pub fn flexlmrc_value(text: &str, name: &str) -> Option<String> {
    let mut found = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            if key.trim() == name {
                let v = value.trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|s| s.strip_suffix('"'))
                    .unwrap_or(v);
                found = Some(v.to_string());
            }
        }
    }
    found
}

/// The search path of `vendor`, from an environment (`env(name)` gives a
/// variable's value) and the text of `~/.flexlmrc`, if there is one.
pub fn search_path(
    vendor: &str,
    env: impl Fn(&str) -> Option<String>,
    flexlmrc: Option<&str>,
) -> LicensePath {
    let vendor_var = vendor_variable(vendor);
    let mut path = LicensePath {
        entries: Vec::new(),
        is_default: false,
    };
    for name in [vendor_var.as_str(), "LM_LICENSE_FILE"] {
        if let Some(v) = env(name) {
            path.extend(parse_list(&v));
        }
    }
    if let Some(rc) = flexlmrc {
        for name in [vendor_var.as_str(), "LM_LICENSE_FILE"] {
            if let Some(v) = flexlmrc_value(rc, name) {
                path.extend(parse_list(&v));
            }
        }
    }
    if path.entries.is_empty() {
        path.entries
            .push(PathEntry::File(PathBuf::from(DEFAULT_LICENSE_FILE)));
        path.is_default = true;
    }
    path
}

/// The search path from this process's environment and `$HOME/.flexlmrc`.
pub fn from_process_env(vendor: &str) -> LicensePath {
    let rc = std::env::var_os("HOME")
        .map(|h| Path::new(&h).join(".flexlmrc"))
        .and_then(|p| std::fs::read_to_string(p).ok());
    search_path(vendor, |name| std::env::var(name).ok(), rc.as_deref())
}

/// The `*.lic` files of a directory, in name order.
pub fn expand_directory(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "lic") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn server(port: Option<u16>, host: &str) -> ServerSpec {
        ServerSpec {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn parses_every_kind_of_entry() {
        assert_eq!(
            parse_list("/opt/lic/a.lic:27000@srv:@other:1700@a,1701@b,1702@c:/opt/lic"),
            vec![
                PathEntry::File("/opt/lic/a.lic".into()),
                PathEntry::Server(server(Some(27000), "srv")),
                PathEntry::Server(server(None, "other")),
                PathEntry::Triad(vec![
                    server(Some(1700), "a"),
                    server(Some(1701), "b"),
                    server(Some(1702), "c"),
                ]),
                PathEntry::File("/opt/lic".into()),
            ]
        );
        assert!(parse_list("::").is_empty());
        assert!(matches!(
            PathEntry::parse("abc@host"),
            PathEntry::Invalid { .. }
        ));
        assert!(matches!(
            PathEntry::parse("27000@"),
            PathEntry::Invalid { .. }
        ));
        assert!(matches!(PathEntry::parse("0@h"), PathEntry::Invalid { .. }));
    }

    #[test]
    fn entries_print_as_written() {
        for text in ["27000@srv", "@srv", "1700@a,1701@b,1702@c", "/x/y.lic"] {
            assert_eq!(PathEntry::parse(text).to_string(), text);
        }
    }

    #[test]
    fn at_host_tries_the_ten_default_ports_in_order() {
        let PathEntry::Server(s) = PathEntry::parse("@srv") else {
            panic!("not a server entry");
        };
        assert_eq!(s.ports(), (27000..=27009).collect::<Vec<u16>>());
        assert_eq!(server(Some(1700), "x").ports(), vec![1700]);
        assert_eq!(server(None, "this_host").connect_host(), "127.0.0.1");
        assert_eq!(server(None, "LOCALHOST").connect_host(), "127.0.0.1");
        assert_eq!(server(None, "srv").connect_host(), "srv");
    }

    #[test]
    fn vendor_variable_then_lm_license_file_then_flexlmrc() {
        let rc =
            "# written by lmpath\nLM_LICENSE_FILE=/rc/lm.lic\nDEMO_LICENSE_FILE=\"27005@rc\"\n";
        let path = search_path(
            "demo",
            env(&[
                ("LM_LICENSE_FILE", "/env/lm.lic:27000@a"),
                ("DEMO_LICENSE_FILE", "27001@b"),
                ("OTHER_LICENSE_FILE", "/never.lic"),
            ]),
            Some(rc),
        );
        assert_eq!(
            path.entries,
            vec![
                PathEntry::Server(server(Some(27001), "b")),
                PathEntry::File("/env/lm.lic".into()),
                PathEntry::Server(server(Some(27000), "a")),
                PathEntry::Server(server(Some(27005), "rc")),
                PathEntry::File("/rc/lm.lic".into()),
            ]
        );
        assert!(!path.is_default);
        assert_eq!(
            path.to_string(),
            "27001@b:/env/lm.lic:27000@a:27005@rc:/rc/lm.lic:"
        );
    }

    #[test]
    fn default_only_when_nothing_is_set_and_duplicates_go() {
        let path = search_path("demo", env(&[]), None);
        assert_eq!(
            path.entries,
            vec![PathEntry::File(DEFAULT_LICENSE_FILE.into())]
        );
        assert!(path.is_default);
        assert_eq!(path.to_string(), DEFAULT_LICENSE_FILE);

        let path = search_path(
            "demo",
            env(&[("LM_LICENSE_FILE", ""), ("DEMO_LICENSE_FILE", "")]),
            Some("# nothing\n"),
        );
        assert!(path.is_default);

        let path = search_path(
            "demo",
            env(&[
                ("LM_LICENSE_FILE", "27000@a:27000@a"),
                ("DEMO_LICENSE_FILE", "27000@a"),
            ]),
            None,
        );
        assert_eq!(path.entries.len(), 1);
        assert_eq!(path.to_string(), "27000@a:");
    }

    #[test]
    fn flexlmrc_values() {
        let rc =
            "LM_LICENSE_FILE=/a\n  # LM_LICENSE_FILE=/commented\nLM_LICENSE_FILE = /b:/c \nX=1";
        assert_eq!(
            flexlmrc_value(rc, "LM_LICENSE_FILE").as_deref(),
            Some("/b:/c")
        );
        assert_eq!(flexlmrc_value(rc, "DEMO_LICENSE_FILE"), None);
        assert_eq!(vendor_variable("demo"), "DEMO_LICENSE_FILE");
    }

    #[test]
    fn directories_give_their_lic_files_in_name_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in ["b.lic", "a.lic", "c.txt", "z.lic"] {
            std::fs::write(dir.path().join(name), "").expect("write");
        }
        std::fs::create_dir(dir.path().join("d.lic")).expect("mkdir");
        let files = expand_directory(dir.path()).expect("read dir");
        let names: Vec<String> = files
            .iter()
            .map(|p| {
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(names, ["a.lic", "b.lic", "z.lic"]);
    }
}
