//! Which license servers and license files a tool works on: `-c list`, else
//! `LM_LICENSE_FILE` and the `<VENDOR>_LICENSE_FILE` variables, else the
//! same in `~/.flexlmrc`, else FLEXlm's default file. Each entry of the
//! list is a license file (whose SERVER lines name the servers), a
//! directory of `*.lic` files, `port@host`, `@host` or a triad.

use crate::common::LmFailure;
use client::error::minor;
use client::search::{self, LicensePath, PathEntry, ServerSpec};
use grammar::{EntryKind, Feature, LicenseFile};
use std::path::{Path, PathBuf};
use wire::lmerr;

/// The license path of a tool run with `-c c`.
pub fn license_path(c: Option<&str>) -> LicensePath {
    if let Some(list) = c {
        return LicensePath::explicit(list);
    }
    let mut vars: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.ends_with("_LICENSE_FILE") && k != "LM_LICENSE_FILE")
        .collect();
    vars.sort();
    let rc = std::env::var_os("HOME")
        .map(|h| Path::new(&h).join(".flexlmrc"))
        .and_then(|p| std::fs::read_to_string(p).ok());
    path_from(
        std::env::var("LM_LICENSE_FILE").ok().as_deref(),
        &vars,
        rc.as_deref(),
    )
}

/// The license path from `LM_LICENSE_FILE`, the vendor variables and the
/// text of `~/.flexlmrc` (pure).
pub fn path_from(
    lm_license_file: Option<&str>,
    vendor_vars: &[(String, String)],
    flexlmrc: Option<&str>,
) -> LicensePath {
    let mut list: Vec<String> = Vec::new();
    list.extend(lm_license_file.map(str::to_string));
    list.extend(vendor_vars.iter().map(|(_, v)| v.clone()));
    if let Some(rc) = flexlmrc {
        list.extend(search::flexlmrc_value(rc, "LM_LICENSE_FILE"));
        let mut names: Vec<&str> = rc
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
            .filter(|k| k.ends_with("_LICENSE_FILE") && *k != "LM_LICENSE_FILE")
            .collect();
        names.sort_unstable();
        names.dedup();
        for n in names {
            list.extend(search::flexlmrc_value(rc, n));
        }
    }
    let joined = list.join(":");
    let mut path = LicensePath::explicit(&joined);
    if path.entries.is_empty() {
        path = LicensePath::explicit(search::DEFAULT_LICENSE_FILE);
        path.is_default = true;
    }
    path
}

/// A license file that was read.
#[derive(Debug, Clone)]
pub struct ReadFile {
    pub path: PathBuf,
    pub file: LicenseFile,
}

impl ReadFile {
    /// Its SERVER lines, as addresses.
    pub fn servers(&self) -> Vec<ServerSpec> {
        self.file
            .entries
            .iter()
            .filter_map(|e| match &e.kind {
                EntryKind::Server(s) => Some(ServerSpec {
                    host: s.host.clone(),
                    port: s.port,
                }),
                _ => None,
            })
            .collect()
    }

    /// Its FEATURE, INCREMENT and UPGRADE lines.
    pub fn features(&self) -> impl Iterator<Item = &Feature> {
        self.file.entries.iter().filter_map(|e| match &e.kind {
            EntryKind::Feature(f) => Some(f),
            _ => None,
        })
    }
}

/// One entry of the path, read.
#[derive(Debug, Clone)]
pub enum Source {
    /// License files (one, or a directory's).
    Files { entry: String, files: Vec<ReadFile> },
    /// `port@host`, `@host` or a triad.
    Servers {
        entry: String,
        servers: Vec<ServerSpec>,
    },
    /// An entry that cannot be used.
    Failed { entry: String, failure: LmFailure },
}

/// Reads every entry of the path: license files are parsed, directories
/// give their `*.lic` files.
pub fn read_sources(path: &LicensePath) -> Vec<Source> {
    path.entries.iter().map(read_entry).collect()
}

fn read_entry(entry: &PathEntry) -> Source {
    let text = entry.to_string();
    match entry {
        PathEntry::File(p) if p.is_dir() => match search::expand_directory(p) {
            Ok(paths) if !paths.is_empty() => {
                let mut files = Vec::new();
                for f in paths {
                    match read_one(&f) {
                        Ok(r) => files.push(r),
                        Err(failure) => {
                            return Source::Failed {
                                entry: f.display().to_string(),
                                failure,
                            }
                        }
                    }
                }
                Source::Files { entry: text, files }
            }
            Ok(_) => Source::Failed {
                entry: text,
                failure: LmFailure::new(lmerr::LM_NOCONFFILE, minor::NO_LICENSE_FILE)
                    .with_errno(libc::ENOENT),
            },
            Err(e) => Source::Failed {
                entry: text,
                failure: no_file(&e),
            },
        },
        PathEntry::File(p) => match read_one(p) {
            Ok(r) => Source::Files {
                entry: text,
                files: vec![r],
            },
            Err(failure) => Source::Failed {
                entry: text,
                failure,
            },
        },
        PathEntry::Server(_) | PathEntry::Triad(_) => Source::Servers {
            entry: text,
            servers: entry.servers().to_vec(),
        },
        PathEntry::Invalid { .. } => Source::Failed {
            entry: text,
            failure: LmFailure::new(lmerr::LM_BADPARAM, minor::BAD_PARAM),
        },
    }
}

fn read_one(p: &Path) -> Result<ReadFile, LmFailure> {
    match grammar::read_license(p) {
        Ok(file) => Ok(ReadFile {
            path: p.to_path_buf(),
            file,
        }),
        Err(e) => Err(no_file(&e)),
    }
}

fn no_file(e: &std::io::Error) -> LmFailure {
    let f = LmFailure::new(lmerr::LM_NOCONFFILE, minor::NO_LICENSE_FILE);
    match e.raw_os_error() {
        Some(n) => f.with_errno(n),
        None => f,
    }
}

/// A license server (one, or a triad) to ask, with what the path says
/// about it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The servers, in the order to try them.
    pub servers: Vec<ServerSpec>,
    /// What FLEXlm prints after `License file(s) on host:`: the license
    /// files that name these servers, or the path entry as written.
    pub files: Vec<String>,
    /// The FEATURE/INCREMENT lines of those files (none for `port@host`).
    pub features: Vec<Feature>,
}

/// A target, or an entry that gave none.
#[derive(Debug, Clone)]
pub enum Resolved {
    Target(Target),
    Failed { entry: String, failure: LmFailure },
}

/// The servers of the path, each once, in path order. License files
/// without SERVER lines name no server and are left out.
pub fn targets(sources: &[Source]) -> Vec<Resolved> {
    let mut out: Vec<Resolved> = Vec::new();
    for s in sources {
        match s {
            Source::Files { files, .. } => {
                for f in files {
                    let servers = f.servers();
                    if !servers.is_empty() {
                        add_target(
                            &mut out,
                            servers,
                            f.path.display().to_string(),
                            f.features().cloned().collect(),
                        );
                    }
                }
            }
            Source::Servers { entry, servers } => {
                add_target(&mut out, servers.clone(), entry.clone(), Vec::new());
            }
            Source::Failed { entry, failure } => out.push(Resolved::Failed {
                entry: entry.clone(),
                failure: failure.clone(),
            }),
        }
    }
    out
}

fn add_target(
    out: &mut Vec<Resolved>,
    servers: Vec<ServerSpec>,
    file: String,
    features: Vec<Feature>,
) {
    for r in out.iter_mut() {
        if let Resolved::Target(t) = r {
            if t.servers == servers {
                if !t.files.contains(&file) {
                    t.files.push(file);
                    t.features.extend(features);
                }
                return;
            }
        }
    }
    out.push(Resolved::Target(Target {
        servers,
        files: vec![file],
        features,
    }));
}

/// Every FEATURE/INCREMENT/UPGRADE line of the path's license files.
pub fn file_features(sources: &[Source]) -> Vec<Feature> {
    sources
        .iter()
        .filter_map(|s| match s {
            Source::Files { files, .. } => Some(files),
            _ => None,
        })
        .flatten()
        .flat_map(|f| f.features().cloned().collect::<Vec<_>>())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_wins_then_variables_then_flexlmrc_then_default() {
        let p = path_from(
            Some("27000@a"),
            &[("DEMO_LICENSE_FILE".into(), "/d.lic".into())],
            Some("LM_LICENSE_FILE=27001@rc\nDEMO_LICENSE_FILE=27002@rc\n# X_LICENSE_FILE=/no\n"),
        );
        assert_eq!(p.to_string(), "27000@a:/d.lic:27001@rc:27002@rc:");
        let p = path_from(None, &[], None);
        assert!(p.is_default);
        assert_eq!(p.to_string(), search::DEFAULT_LICENSE_FILE);
    }

    #[test]
    fn files_give_their_servers_and_duplicates_merge() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.lic");
        let b = dir.path().join("b.lic");
        let text =
            "SERVER srv ANY 27005\nVENDOR demo\nFEATURE f1 demo 1.0 permanent 4 SIGN=\"x\"\n";
        std::fs::write(&a, text).unwrap();
        std::fs::write(&b, text.replace("f1", "f2")).unwrap();
        std::fs::write(
            dir.path().join("u.lic"),
            "FEATURE u demo 1.0 permanent uncounted HOSTID=ANY SIGN=\"x\"\n",
        )
        .unwrap();
        let list = format!(
            "{}:27005@srv:{}:/no/such/file:27000@other",
            a.display(),
            dir.path().display()
        );
        let sources = read_sources(&LicensePath::explicit(&list));
        let t = targets(&sources);
        assert_eq!(t.len(), 3, "{t:?}");
        let Resolved::Target(first) = &t[0] else {
            panic!("{t:?}")
        };
        assert_eq!(
            first.servers,
            vec![ServerSpec {
                host: "srv".into(),
                port: Some(27005)
            }]
        );
        assert_eq!(first.files[0], a.display().to_string());
        assert!(first.files.contains(&"27005@srv".to_string()));
        assert!(first.files.contains(&b.display().to_string()));
        let names: Vec<&str> = first.features.iter().map(|f| f.name.as_str()).collect();
        assert!(names.contains(&"f1") && names.contains(&"f2"), "{names:?}");
        let Resolved::Failed { failure, .. } = &t[1] else {
            panic!("{t:?}")
        };
        assert_eq!(failure.code, lmerr::LM_NOCONFFILE);
        assert!(matches!(&t[2], Resolved::Target(o) if o.files == ["27000@other"]));
        assert_eq!(file_features(&sources).len(), 4);
    }
}
