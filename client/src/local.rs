//! What a license file says about one checkout: grant an uncounted line on
//! this machine, ask the servers of its SERVER lines, or fail.
//!
//! [`plan`] is a pure function of the parsed file, the publisher's keys,
//! this machine's identity and the date; [`plan_file`] reads the file
//! first.

use crate::error::{minor, LmError, Step};
use crate::search::ServerSpec;
use crate::terms::LineTerms;
use grammar::check::check;
use grammar::signature::{KeyRing, SignatureStatus};
use grammar::{hostid, Date, HostIdentity, LicenseFile, Version};
use std::path::Path;
use wire::lmerr;

/// What is asked for.
#[derive(Debug, Clone)]
pub struct Request {
    pub vendor: String,
    pub feature: String,
    /// Minimum version.
    pub version: Version,
    pub count: u32,
}

/// An uncounted line that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalGrant {
    pub feature: String,
    /// The line's version, as written.
    pub version: String,
    pub expiry: String,
    /// The line's first physical line in the file.
    pub line: u32,
    /// VENDOR_STRING, NOTICE, ISSUER and SN of the line.
    pub terms: LineTerms,
}

/// What to do with one license file.
#[derive(Debug, Clone)]
pub enum FilePlan {
    /// Use this uncounted line; no server needed.
    Local(LocalGrant),
    /// Ask the servers of the SERVER lines (one, or a triad). `local_error`
    /// is why no uncounted line of the file could be used, if it had some.
    Servers {
        servers: Vec<ServerSpec>,
        local_error: Option<LmError>,
    },
    /// Nothing in this file can serve the request.
    Fail(LmError),
}

/// Reads `path`, then [`plan`]s with `keys` (the publisher's, built into
/// the application).
pub fn plan_file(
    path: &Path,
    keys: &KeyRing,
    req: &Request,
    who: &HostIdentity,
    today: Date,
) -> FilePlan {
    let file = match grammar::read_license(path) {
        Ok(f) => f,
        Err(e) => {
            let (code, step) = if e.kind() == std::io::ErrorKind::NotFound {
                (lmerr::LM_NOCONFFILE, Step::ReadFile)
            } else {
                (lmerr::LM_NOREADLIC, Step::ReadFile)
            };
            return FilePlan::Fail(
                LmError::new(
                    code,
                    minor::NO_LICENSE_FILE,
                    step,
                    format!("read {}: {}", path.display(), io_text(&e)),
                )
                .with_errno(e.raw_os_error()),
            );
        }
    };
    plan(&file, keys, req, who, today)
}

/// The text of an I/O error without Rust's ` (os error N)` suffix.
pub(crate) fn io_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Decides what `file` can do for `req`. Uncounted lines of the feature are
/// checked here, in file order: signature, FEATURESET, expiry, START,
/// version, hostid. The first that passes is granted; otherwise counted
/// lines (or USE_SERVER) send the request to the SERVER lines' servers.
/// When everything fails, the error of the line that got furthest is
/// reported.
pub fn plan(
    file: &LicenseFile,
    keys: &KeyRing,
    req: &Request,
    who: &HostIdentity,
    today: Date,
) -> FilePlan {
    let servers: Vec<ServerSpec> = file
        .servers()
        .map(|(_, s)| ServerSpec {
            host: s.host.clone(),
            port: s.port,
        })
        .collect();
    let no_server = || {
        LmError::new(
            lmerr::LM_NO_SERVER_IN_FILE,
            minor::NO_SERVER_LINE,
            Step::ReadFile,
            format!(
                "{}: the license needs a server but has no SERVER line",
                file.name
            ),
        )
    };
    if file.use_server() {
        return if servers.is_empty() {
            FilePlan::Fail(no_server())
        } else {
            FilePlan::Servers {
                servers,
                local_error: None,
            }
        };
    }

    let (report, _pools) = check(file, keys, today);
    let mut best: Option<(u8, LmError)> = None;
    let mut counted = false;
    for (entry, f) in file.features() {
        if f.name != req.feature || f.vendor != req.vendor {
            continue;
        }
        if f.is_counted() {
            counted = true;
            continue;
        }
        let Some(line) = report.lines.iter().find(|l| l.line == entry.line) else {
            continue;
        };
        if line.outcome == "superseded" {
            continue;
        }
        let what = format!(
            "local validation of {} line {} ({} {} {} {})",
            file.name,
            entry.line,
            f.kind.keyword(),
            f.name,
            f.vendor,
            f.version.as_written()
        );
        let fail = |progress: u8, code: i32, minor: i32, why: String| {
            (
                progress,
                LmError::new(code, minor, Step::LocalValidation, format!("{what}: {why}")),
            )
        };
        let outcome = match &line.signature {
            SignatureStatus::Missing => Err(fail(
                0,
                lmerr::LM_SIGN_REQ,
                minor::LOCAL_SIGNATURE,
                "the line has no SIGN= signature".into(),
            )),
            SignatureStatus::Unverifiable if !keys.has_vendor(&f.vendor) => Err(fail(
                0,
                lmerr::LM_BADCODE,
                minor::LOCAL_SIGNATURE,
                format!(
                    "no public key to verify the signature: {}",
                    keys.missing_key(&f.vendor)
                ),
            )),
            SignatureStatus::Unverifiable => Err(fail(
                0,
                lmerr::LM_BADCODE,
                minor::LOCAL_SIGNATURE,
                format!("the line is not signed by a key of vendor {}", f.vendor),
            )),
            SignatureStatus::Invalid => Err(fail(
                0,
                lmerr::LM_BADCODE,
                minor::LOCAL_SIGNATURE,
                "the signature does not match the line".into(),
            )),
            SignatureStatus::Valid if line.outcome == "not_served" => Err(fail(
                1,
                lmerr::LM_BADFEATSET,
                minor::LOCAL_SIGNATURE,
                line.reason.clone().unwrap_or_default(),
            )),
            SignatureStatus::Valid if f.expiry.is_expired(today) => Err(fail(
                2,
                lmerr::LM_LONGGONE,
                minor::LOCAL_EXPIRED,
                format!("expired on {}", f.expiry),
            )),
            SignatureStatus::Valid if f.start.is_some_and(|s| s > today) => Err(fail(
                3,
                lmerr::LM_TOOEARLY,
                minor::LOCAL_START,
                format!(
                    "not usable before START={}",
                    f.start.map(|s| s.to_string()).unwrap_or_default()
                ),
            )),
            SignatureStatus::Valid if f.version < req.version => Err(fail(
                4,
                lmerr::LM_OLDVER,
                minor::LOCAL_VERSION,
                format!(
                    "version {} asked, the line licenses up to {}",
                    req.version.as_written(),
                    f.version.as_written()
                ),
            )),
            SignatureStatus::Valid => match &f.hostids {
                Some(ids) if !hostid::any_matches(ids, who) => Err(fail(
                    5,
                    lmerr::LM_NOTTHISHOST,
                    minor::LOCAL_HOSTID,
                    format!(
                        "the license is locked to HOSTID=\"{}\"; this machine has \"{}\" \
                         (run `lmutil lmhostid` to see its hostids)",
                        hostid::display_list(ids),
                        who.describe()
                    ),
                )),
                _ => Ok(()),
            },
        };
        match outcome {
            Ok(()) => {
                return FilePlan::Local(LocalGrant {
                    feature: f.name.to_string(),
                    version: f.version.as_written().to_string(),
                    expiry: f.expiry.to_string(),
                    line: entry.line,
                    terms: LineTerms::of_feature(f),
                })
            }
            Err((progress, e)) => {
                if best.as_ref().is_none_or(|(p, _)| progress > *p) {
                    best = Some((progress, e));
                }
            }
        }
    }
    let local_error = best.map(|(_, e)| e);
    if counted {
        return if servers.is_empty() {
            FilePlan::Fail(local_error.unwrap_or_else(no_server))
        } else {
            FilePlan::Servers {
                servers,
                local_error,
            }
        };
    }
    FilePlan::Fail(local_error.unwrap_or_else(|| {
        if file.entries.is_empty() && file.has_errors() {
            LmError::new(
                lmerr::LM_BADFILE,
                minor::FEATURE_NOT_IN_FILE,
                Step::ReadFile,
                format!("{}: no usable line in the file", file.name),
            )
        } else {
            LmError::new(
                lmerr::LM_NOFEATURE,
                minor::FEATURE_NOT_IN_FILE,
                Step::ReadFile,
                format!(
                    "{}: no FEATURE or INCREMENT line for {} of vendor {}",
                    file.name, req.feature, req.vendor
                ),
            )
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use grammar::parse_license;
    use std::path::PathBuf;

    fn examples() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/licenses")
    }

    fn demo_keys() -> KeyRing {
        let (keys, problems) = KeyRing::load(["demo"], &[examples()]);
        assert!(problems.is_empty());
        keys
    }

    fn example(name: &str) -> LicenseFile {
        let path = examples().join(name);
        grammar::read_license(&path).expect("example license")
    }

    fn request(feature: &str, version: &str) -> Request {
        Request {
            vendor: "demo".into(),
            feature: feature.into(),
            version: Version::parse(version).expect("version"),
            count: 1,
        }
    }

    fn today() -> Date {
        Date::new(2026, 6, 1).expect("date")
    }

    fn machine(mac: u64) -> HostIdentity {
        HostIdentity {
            hex_ids: vec![mac],
            hostname: "ws1".into(),
            user: "joe".into(),
            ..HostIdentity::default()
        }
    }

    fn code(p: FilePlan) -> i32 {
        match p {
            FilePlan::Fail(e) => e.code,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn node_locked_line_matches_only_its_host() {
        let file = example("nodelocked.lic");
        let keys = demo_keys();
        let here = machine(0x0800_2000_05ac);
        match plan(&file, &keys, &request("f1", "1.0"), &here, today()) {
            FilePlan::Local(g) => {
                assert_eq!(g.feature, "f1");
                assert_eq!(g.version, "1.000");
                assert_eq!(g.expiry, "permanent");
            }
            other => panic!("{other:?}"),
        }
        let elsewhere = machine(0x1234);
        let FilePlan::Fail(e) = plan(&file, &keys, &request("f1", "1.0"), &elsewhere, today())
        else {
            panic!("should fail");
        };
        assert_eq!(e.code, lmerr::LM_NOTTHISHOST);
        assert_eq!(e.step, Step::LocalValidation);
        // Both sides of the mismatch, and how to see a machine's ids.
        assert!(
            e.detail.contains("locked to HOSTID=\"0800200005ac\"")
                && e.detail
                    .contains("this machine has \"00001234 HOSTNAME=ws1\"")
                && e.detail.contains("lmutil lmhostid"),
            "{}",
            e.detail
        );
        assert_eq!(
            code(plan(&file, &keys, &request("f1", "2.0"), &here, today())),
            lmerr::LM_OLDVER
        );
        assert_eq!(
            code(plan(
                &file,
                &keys,
                &request("nothing", "1.0"),
                &here,
                today()
            )),
            lmerr::LM_NOFEATURE
        );
    }

    #[test]
    fn evaluation_expires_and_needs_the_key() {
        let file = example("evaluation.lic");
        let who = machine(1);
        let req = request("evaluate", "1.0");
        assert!(matches!(
            plan(&file, &demo_keys(), &req, &who, today()),
            FilePlan::Local(_)
        ));
        let later = Date::new(2100, 1, 1).expect("date");
        assert_eq!(
            code(plan(&file, &demo_keys(), &req, &who, later)),
            lmerr::LM_LONGGONE
        );
        assert_eq!(
            code(plan(&file, &KeyRing::new(), &req, &who, today())),
            lmerr::LM_BADCODE
        );
    }

    #[test]
    fn changed_lines_fail_with_badcode() {
        let text = std::fs::read_to_string(examples().join("evaluation.lic")).expect("read");
        let tampered = text.replace("31-dec-2099", "31-dec-2199");
        let file = parse_license("tampered.lic", &tampered);
        let FilePlan::Fail(e) = plan(
            &file,
            &demo_keys(),
            &request("evaluate", "1.0"),
            &machine(1),
            today(),
        ) else {
            panic!("a tampered line must not be granted");
        };
        assert_eq!(e.code, lmerr::LM_BADCODE);
        assert_eq!(
            e.to_string(),
            "Invalid (inconsistent) license key or signature. (-8,544)"
        );
    }

    #[test]
    fn counted_lines_go_to_the_server_lines() {
        let file = example("demo.lic");
        let FilePlan::Servers { servers, .. } = plan(
            &file,
            &demo_keys(),
            &request("f1", "1.0"),
            &machine(1),
            today(),
        ) else {
            panic!("demo.lic is served");
        };
        assert_eq!(
            servers,
            vec![ServerSpec {
                host: "this_host".into(),
                port: Some(27000)
            }]
        );
        let triad = example("triad.lic");
        let first_feature = triad.features().next().map(|(_, f)| f.name.clone());
        let FilePlan::Servers { servers, .. } = plan(
            &triad,
            &demo_keys(),
            &request(&first_feature.unwrap_or_default(), "0"),
            &machine(1),
            today(),
        ) else {
            panic!("triad.lic is served");
        };
        assert_eq!(servers.len(), 3);

        let no_server = parse_license(
            "x.lic",
            "FEATURE f1 demo 1.0 permanent 4 SIGN=\"ED25519:00000000:00\"\n",
        );
        assert_eq!(
            code(plan(
                &no_server,
                &demo_keys(),
                &request("f1", "1.0"),
                &machine(1),
                today()
            )),
            lmerr::LM_NO_SERVER_IN_FILE
        );
    }

    #[test]
    fn missing_file_is_noconffile() {
        let p = plan_file(
            Path::new("/nonexistent/dir/x.lic"),
            &KeyRing::new(),
            &request("f1", "1.0"),
            &machine(1),
            today(),
        );
        let FilePlan::Fail(e) = p else {
            panic!("missing file");
        };
        assert_eq!(e.code, lmerr::LM_NOCONFFILE);
        assert_eq!(e.errno, Some(2));
        assert_eq!(e.to_string(), "Cannot find license file. (-1,359:2)");
    }
}
