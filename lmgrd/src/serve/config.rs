//! What lmgrd serves, taken from the license file: its own SERVER line and
//! port, one vendor daemon per VENDOR/DAEMON line, and with three SERVER
//! lines, the triad it is a member of.

use super::server_line::is_local_name;
pub use super::server_line::ConfigError;
use super::triad::{self, TriadPlan};
use grammar::hostid::{any_matches, HostIdentity};
use grammar::LicenseFile;
use hostenv::license_list::{self, Combined, ListError, Named, Skipped};
use std::path::{Path, PathBuf};

/// FLEXlm's default port range, tried in order when the SERVER line has none.
pub const DEFAULT_PORTS: std::ops::RangeInclusive<u16> = 27000..=27009;

/// One vendor daemon to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorSpec {
    pub name: String,
    pub program: PathBuf,
    /// PORT= from the VENDOR line.
    pub port: Option<u16>,
    /// The license files that hold its lines (its `-c`); empty until
    /// [`from_files`] fills them.
    pub licenses: Vec<PathBuf>,
}

/// The program for a VENDOR line without a path, as FLEXlm finds it: a
/// program named after the vendor in lmgrd's directory if there is one
/// (a publisher's own daemon), else our `vendord` there.
pub fn vendor_program(lmgrd_dir: &Path, vendor: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let own = lmgrd_dir.join(vendor);
    let runnable =
        std::fs::metadata(&own).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if runnable && !vendor.contains('/') {
        own
    } else {
        lmgrd_dir.join("vendord")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// The SERVER line's host, as written.
    pub server_host: String,
    /// The SERVER line's port, if it gives one.
    pub port: Option<u16>,
    pub vendors: Vec<VendorSpec>,
    /// Set when the SERVER host name does not look like this machine.
    pub host_warning: Option<String>,
    /// Three SERVER lines: the triad this lmgrd is a member of.
    pub triad: Option<TriadPlan>,
}

/// Builds the serving configuration. `lmgrd_dir` is where the generic
/// `vendord` is looked for when a VENDOR line gives no path; `server_line`
/// is `-server-line N`, which names this lmgrd's line of a triad.
pub fn from_license(
    file: &LicenseFile,
    me: &HostIdentity,
    lmgrd_dir: &Path,
    server_line: Option<u32>,
) -> Result<ServeConfig, ConfigError> {
    let servers: Vec<_> = file.servers().collect();
    if servers.is_empty() {
        return Err(ConfigError::NoServer(file.name.clone()));
    }
    if servers.len() != 1 && servers.len() != 3 {
        return Err(ConfigError::ServerCount {
            file: file.name.clone(),
            count: servers.len(),
        });
    }
    let mut triad = None;
    let (entry, server) = if servers.len() == 3 {
        let list: Vec<_> = servers.iter().map(|(e, s)| (e.line, *s)).collect();
        let mine = triad::my_line(&file.name, &list, me, server_line)?;
        triad = Some(triad::plan(&file.name, &list, mine)?);
        servers[mine]
    } else {
        // A single line is ours regardless of its host name, which is only
        // an alias an administrator may edit.
        servers[0]
    };
    if !any_matches(&server.hostids, me) {
        return Err(ConfigError::WrongHostid {
            file: file.name.clone(),
            line: entry.line,
            hostid: grammar::hostid::display_list(&server.hostids),
        });
    }
    let host_warning = (!is_local_name(&server.host, me)).then(|| {
        format!(
            "SERVER line host \"{}\" does not name this machine ({}); serving anyway",
            server.host, me.hostname
        )
    });
    let vendors: Vec<VendorSpec> = file
        .vendors()
        .map(|(_, v)| VendorSpec {
            name: v.name.clone(),
            program: v
                .path
                .as_ref()
                .map_or_else(|| vendor_program(lmgrd_dir, &v.name), PathBuf::from),
            port: v.port,
            licenses: Vec::new(),
        })
        .collect();
    if vendors.is_empty() {
        return Err(ConfigError::NoVendor(file.name.clone()));
    }
    Ok(ServeConfig {
        server_host: server.host.clone(),
        port: server.port,
        vendors,
        host_warning,
        triad,
    })
}

/// The configuration for license files whose SERVER lines agree (see
/// `hostenv::license_list::combine`): the SERVER line of the first, every
/// file's VENDOR lines, and for each vendor daemon the files that hold
/// its lines.
pub fn from_files(
    files: &[Named],
    me: &HostIdentity,
    lmgrd_dir: &Path,
    server_line: Option<u32>,
) -> Result<ServeConfig, ConfigError> {
    let merged = license_list::merge(files.iter().map(|(_, f)| f.clone()).collect());
    let mut config = from_license(&merged, me, lmgrd_dir, server_line)?;
    for spec in &mut config.vendors {
        spec.licenses = files
            .iter()
            .filter(|(_, f)| license_list::mentions(f, &spec.name))
            .map(|(p, _)| p.clone())
            .collect();
    }
    Ok(config)
}

/// Why a license list gives lmgrd nothing to serve.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The list names no file, or a directory that cannot be read.
    #[error(transparent)]
    List(#[from] ListError),
    #[error("Cannot read license file \"{}\": {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Every file was skipped; each says why.
    #[error("No license file to serve in \"{list}\": {}", reasons(.skipped))]
    NothingServed { list: String, skipped: Vec<Skipped> },
}

fn reasons(skipped: &[Skipped]) -> String {
    let why: Vec<String> = skipped
        .iter()
        .map(|s| format!("{}: {}", s.path.display(), s.reason))
        .collect();
    why.join("; ")
}

/// The license files of `list` that one lmgrd serves, read and combined
/// (files whose SERVER lines disagree with the first are returned apart,
/// with the reason); an error when nothing can be read.
pub fn read_list(list: &str) -> Result<Combined, ReadError> {
    // Clients' `port@host` entries may share the list; lmgrd skips them.
    let files_only: Vec<&str> = list.split(':').filter(|e| !e.contains('@')).collect();
    let paths = license_list::expand(&files_only.join(":"))?;
    let mut files = Vec::new();
    for path in paths {
        let file = grammar::read_license(&path).map_err(|source| ReadError::File {
            path: path.clone(),
            source,
        })?;
        files.push((path, file));
    }
    let combined = license_list::combine(files);
    if combined.served.is_empty() {
        return Err(ReadError::NothingServed {
            list: list.to_string(),
            skipped: combined.skipped,
        });
    }
    Ok(combined)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> HostIdentity {
        HostIdentity {
            hex_ids: vec![0x0800_2000_05ac],
            hostname: "build7.example.com".into(),
            ..Default::default()
        }
    }

    #[test]
    fn single_server_line() {
        let f = grammar::parse_license(
            "l",
            "SERVER this_host ANY 27100\nVENDOR demo\nVENDOR other /opt/o/otherd PORT=2080\n",
        );
        let c = from_license(&f, &me(), Path::new("/usr/bin"), None).unwrap();
        assert_eq!(c.port, Some(27100));
        assert_eq!(c.host_warning, None);
        assert_eq!(
            c.vendors[0],
            VendorSpec {
                name: "demo".into(),
                program: "/usr/bin/vendord".into(),
                port: None,
                licenses: vec![],
            }
        );
        assert_eq!(c.vendors[1].program, PathBuf::from("/opt/o/otherd"));
        assert_eq!(c.vendors[1].port, Some(2080));
    }

    #[test]
    fn hostid_must_match_and_names_are_aliases() {
        let f = grammar::parse_license("l", "SERVER build7 0800200005AC\nVENDOR demo\n");
        assert!(from_license(&f, &me(), Path::new("/"), None)
            .unwrap()
            .host_warning
            .is_none());
        let f = grammar::parse_license("l", "SERVER elsewhere 0800200005AC\nVENDOR demo\n");
        assert!(from_license(&f, &me(), Path::new("/"), None)
            .unwrap()
            .host_warning
            .is_some());
        let f = grammar::parse_license("l", "SERVER build7 12345678\nVENDOR demo\n");
        assert!(matches!(
            from_license(&f, &me(), Path::new("/"), None),
            Err(ConfigError::WrongHostid { line: 1, .. })
        ));
    }

    #[test]
    fn a_program_named_after_the_vendor_is_preferred() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            vendor_program(dir.path(), "acme"),
            dir.path().join("vendord")
        );
        let own = dir.path().join("acme");
        std::fs::write(&own, "").unwrap();
        assert_eq!(
            vendor_program(dir.path(), "acme"),
            dir.path().join("vendord"),
            "not executable"
        );
        std::fs::set_permissions(&own, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(vendor_program(dir.path(), "acme"), own);
    }

    #[test]
    fn files_combined_give_each_vendor_its_files() {
        let files = vec![
            (
                PathBuf::from("a.lic"),
                grammar::parse_license(
                    "a.lic",
                    "SERVER this_host ANY 27000
VENDOR demo
",
                ),
            ),
            (
                PathBuf::from("b.lic"),
                grammar::parse_license(
                    "b.lic",
                    "SERVER this_host ANY 27000
VENDOR other /opt/otherd
VENDOR demo
                     FEATURE f demo 1.0 permanent 1 SIGN=0
",
                ),
            ),
        ];
        let c = from_files(&files, &me(), Path::new("/usr/bin"), None).unwrap();
        let got: Vec<(&str, Vec<PathBuf>)> = c
            .vendors
            .iter()
            .map(|v| (v.name.as_str(), v.licenses.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("demo", vec![PathBuf::from("a.lic"), PathBuf::from("b.lic")]),
                ("other", vec![PathBuf::from("b.lic")]),
            ]
        );
    }

    #[test]
    fn a_list_with_nothing_to_serve_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.lic");
        let list = missing.display().to_string();
        let e = read_list(&list).unwrap_err();
        assert!(matches!(e, ReadError::File { ref path, .. } if *path == missing));
        assert!(e
            .to_string()
            .starts_with(&format!("Cannot read license file \"{list}\": ")));
        let e = read_list("27000@elsewhere").unwrap_err();
        assert!(matches!(e, ReadError::List(_)), "{e}");
        let good = dir.path().join("a.lic");
        std::fs::write(&good, "SERVER this_host ANY 27000\nVENDOR demo\n").unwrap();
        let served = read_list(&format!("27000@elsewhere:{}", good.display())).unwrap();
        assert_eq!(served.served.len(), 1, "port@host entries are skipped");
    }

    #[test]
    fn needs_server_and_vendor() {
        let f = grammar::parse_license("l", "VENDOR demo\n");
        assert!(matches!(
            from_license(&f, &me(), Path::new("/"), None),
            Err(ConfigError::NoServer(_))
        ));
        let f = grammar::parse_license("l", "SERVER this_host ANY\n");
        assert!(matches!(
            from_license(&f, &me(), Path::new("/"), None),
            Err(ConfigError::NoVendor(_))
        ));
    }
}
