//! License file lists, served as FLEXlm serves them: `-c a.lic:b.lic`
//! and directories (every `*.lic` in them, in alphabetical order). Files
//! whose SERVER lines agree are combined into one server; each vendor
//! daemon reads the files that hold its lines, merged into one.

use grammar::{EntryKind, LicenseFile};
use std::io;
use std::path::{Path, PathBuf};

/// Why a license list names nothing lmgrd can read.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("`{0}` names a license server, not a license file")]
    Server(String),
    #[error("cannot read directory \"{path}\": {source}")]
    Directory {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("no license file in \"{0}\"")]
    Empty(String),
}

/// The files of `list`: each `:`-separated entry is a file, or a
/// directory standing for its `*.lic` files in name order.
pub fn expand(list: &str) -> Result<Vec<PathBuf>, ListError> {
    let mut out = Vec::new();
    for entry in list.split(':').filter(|e| !e.is_empty()) {
        if entry.contains('@') {
            return Err(ListError::Server(entry.to_string()));
        }
        let path = PathBuf::from(entry);
        if !path.is_dir() {
            out.push(path);
            continue;
        }
        let read = std::fs::read_dir(&path).map_err(|source| ListError::Directory {
            path: path.clone(),
            source,
        })?;
        let mut lics: Vec<PathBuf> = read
            .filter_map(|d| d.ok().map(|d| d.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "lic") && p.is_file())
            .collect();
        lics.sort();
        out.extend(lics);
    }
    if out.is_empty() {
        return Err(ListError::Empty(list.to_string()));
    }
    Ok(out)
}

/// What must be equal for two files to be served by one lmgrd: the SERVER
/// lines' hosts (case aside), hostids and ports, in order.
fn servers_of(file: &LicenseFile) -> Vec<(String, String, Option<u16>)> {
    file.servers()
        .map(|(_, s)| {
            (
                s.host.to_ascii_lowercase(),
                grammar::hostid::display_list(&s.hostids),
                s.port,
            )
        })
        .collect()
}

/// The SERVER lines of `file` as one line of text, for messages.
pub fn servers_text(file: &LicenseFile) -> String {
    let lines: Vec<String> = file
        .servers()
        .map(|(_, s)| {
            let port = s.port.map_or_else(String::new, |p| format!(" {p}"));
            format!(
                "SERVER {} {}{port}",
                s.host,
                grammar::hostid::display_list(&s.hostids)
            )
        })
        .collect();
    lines.join("; ")
}

/// A file of the list that this server does not serve, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// A license file read, with its path.
pub type Named = (PathBuf, LicenseFile);

/// The files of a list that one lmgrd serves, and those it does not.
#[derive(Debug)]
pub struct Combined {
    pub served: Vec<Named>,
    pub skipped: Vec<Skipped>,
}

/// The files one lmgrd serves: those whose SERVER lines agree with the
/// first file that has any; the others are skipped with the reason.
pub fn combine(files: Vec<Named>) -> Combined {
    let mut served: Vec<Named> = Vec::new();
    let mut skipped = Vec::new();
    for (path, file) in files {
        let mine = servers_of(&file);
        let reason = match served.first() {
            _ if mine.is_empty() => {
                Some("it has no SERVER line (its licenses are used without a server)".to_string())
            }
            None => None,
            Some((first_path, first)) if servers_of(first) != mine => Some(format!(
                "its SERVER lines ({}) differ from those of {} ({}); serve it with another lmgrd \
                 or give it the same SERVER lines",
                servers_text(&file),
                first_path.display(),
                servers_text(first)
            )),
            Some(_) => None,
        };
        match reason {
            Some(reason) => skipped.push(Skipped { path, reason }),
            None => served.push((path, file)),
        }
    }
    Combined { served, skipped }
}

/// Whether `file` has anything for `vendor`: its VENDOR line or lines.
pub fn mentions(file: &LicenseFile, vendor: &str) -> bool {
    file.entries.iter().any(|e| match &e.kind {
        EntryKind::Vendor(v) => v.name == vendor,
        _ => grammar::signature::entry_vendor(e) == Some(vendor),
    })
}

/// Several files (agreeing SERVER lines) as one: the first whole, then the
/// lines of the others but their SERVER lines and VENDOR lines already
/// seen. Diagnostics keep their own file names.
pub fn merge(files: Vec<LicenseFile>) -> LicenseFile {
    let mut files = files.into_iter();
    let Some(mut out) = files.next() else {
        return grammar::parse_license("", "");
    };
    for file in files {
        out.name = format!("{}:{}", out.name, file.name);
        for entry in file.entries {
            let repeated = match &entry.kind {
                EntryKind::Server(_) => true,
                EntryKind::Vendor(v) => out.vendors().any(|(_, seen)| seen.name == v.name),
                _ => false,
            };
            if !repeated {
                out.entries.push(entry);
            }
        }
        out.diagnostics.extend(file.diagnostics);
    }
    out
}

/// Reads a vendor daemon's `-c`: one file, or a `:`-separated list that
/// lmgrd combined, merged into one.
pub fn read_merged(list: &Path) -> io::Result<LicenseFile> {
    let text = list.to_string_lossy();
    if !text.contains(':') {
        return grammar::read_license(list);
    }
    let files = text
        .split(':')
        .filter(|p| !p.is_empty())
        .map(|p| grammar::read_license(Path::new(p)))
        .collect::<io::Result<Vec<_>>>()?;
    Ok(merge(files))
}

/// The first file of a `:`-separated list (the one whose directory
/// relative OPTIONS= paths and key files are taken from).
pub fn first(list: &Path) -> PathBuf {
    let text = list.to_string_lossy();
    match text.split(':').find(|p| !p.is_empty()) {
        Some(first) if text.contains(':') => PathBuf::from(first),
        _ => list.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> (PathBuf, LicenseFile) {
        (PathBuf::from(name), grammar::parse_license(name, text))
    }

    #[test]
    fn agreeing_files_combine_and_others_are_named() {
        let Combined { served, skipped } = combine(vec![
            file("a.lic", "SERVER srv ANY 27000\nVENDOR demo\n"),
            file("b.lic", "SERVER SRV ANY 27000\nVENDOR other\n"),
            file("c.lic", "SERVER srv ANY 27001\nVENDOR third\n"),
            file(
                "d.lic",
                "FEATURE f demo 1.0 permanent uncounted HOSTID=ANY SIGN=0\n",
            ),
        ]);
        let names: Vec<_> = served.iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(names, vec![PathBuf::from("a.lic"), PathBuf::from("b.lic")]);
        assert_eq!(skipped.len(), 2);
        assert_eq!(skipped[0].path, PathBuf::from("c.lic"));
        assert!(
            skipped[0].reason.contains("SERVER srv ANY 27001")
                && skipped[0].reason.contains("a.lic (SERVER srv ANY 27000)"),
            "{}",
            skipped[0].reason
        );
        assert!(skipped[1].reason.contains("no SERVER line"));
    }

    #[test]
    fn merge_keeps_one_server_and_every_vendor_line() {
        let a = grammar::parse_license(
            "a",
            "SERVER s ANY\nVENDOR demo\nFEATURE f1 demo 1.0 permanent 1 SIGN=0\n",
        );
        let b = grammar::parse_license(
            "b",
            "SERVER s ANY\nVENDOR demo\nVENDOR other\nFEATURE f2 demo 1.0 permanent 1 SIGN=0\n",
        );
        let m = merge(vec![a, b]);
        assert_eq!(m.name, "a:b");
        assert_eq!(m.servers().count(), 1);
        let vendors: Vec<_> = m.vendors().map(|(_, v)| v.name.as_str()).collect();
        assert_eq!(vendors, vec!["demo", "other"]);
        assert_eq!(m.features().count(), 2);
        assert!(mentions(&m, "other") && !mentions(&m, "nobody"));
    }

    #[test]
    fn directories_give_their_lic_files_in_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.lic", "a.lic", "notes.txt"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let list = format!("{}:/x/one.dat", dir.path().display());
        let files = expand(&list).unwrap();
        assert_eq!(
            files,
            vec![
                dir.path().join("a.lic"),
                dir.path().join("b.lic"),
                PathBuf::from("/x/one.dat")
            ]
        );
        assert!(matches!(expand("27000@h"), Err(ListError::Server(_))));
        assert!(matches!(expand(":"), Err(ListError::Empty(_))));
        assert_eq!(
            first(Path::new("/a/x.lic:/b/y.lic")),
            PathBuf::from("/a/x.lic")
        );
        assert_eq!(first(Path::new("/a/x.lic")), PathBuf::from("/a/x.lic"));
    }
}
