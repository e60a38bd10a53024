//! The lmutil binary without servers: dispatch by argument and by link
//! name, usage texts, lmpath on a temporary HOME, lmhostid and lmver.

mod support;

use support::*;

const TOOLS: [&str; 13] = [
    "lmcksum",
    "lmcrypt",
    "lmdiag",
    "lmdown",
    "lmhostid",
    "lmnewlog",
    "lmpath",
    "lmremove",
    "lmreread",
    "lmstat",
    "lmswitch",
    "lmswitchr",
    "lmver",
];

#[test]
fn every_tool_answers_help_by_argument_and_by_link() {
    let home = home("help");
    let out = lmutil(&["-help"], &home);
    assert!(out.status.success());
    for tool in TOOLS {
        assert!(
            stdout(&out).contains(&format!("lmutil {tool} ")),
            "{tool} not in usage"
        );
        let out = lmutil(&[tool, "-help"], &home);
        assert!(out.status.success(), "{tool} -help: {}", stderr(&out));
        assert!(stdout(&out).contains("usage: "), "{tool}: {}", stdout(&out));
        let link = home.join(tool);
        std::os::unix::fs::symlink(bin_lmutil(), &link).unwrap();
        let out = run_as(&link, &["-help"], &home, None);
        assert!(out.status.success(), "{tool} via link: {}", stderr(&out));
        assert!(stdout(&out).contains("usage: "), "{tool} via link");
    }
    let out = lmutil(&["lmnothing"], &home);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unknown tool `lmnothing`"));
    let out = lmutil(&["lmstat", "-bogus"], &home);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("lmstat: unknown option `-bogus`\nusage: lmstat\n\t[-a]"));
    let out = lmutil(&["lmstat", "-v"], &home);
    assert!(stdout(&out).contains(&format!("\nlmstat v{} build 0 ", env!("CARGO_PKG_VERSION"))));
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn lmpath_keeps_the_path_in_flexlmrc() {
    let home = home("lmpath");
    let rc = home.join(".flexlmrc");
    std::fs::write(&rc, "# my settings\nOTHER=1\n").unwrap();
    let out = lmutil(&["lmpath", "-add", "demo", "/a.lic"], &home);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = lmutil(&["lmpath", "-add", "demo", "27000@lic1:/a.lic"], &home);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = lmutil(&["lmpath", "-override", "all", "/etc/lm/site.lic"], &home);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&rc).unwrap(),
        "# my settings\nOTHER=1\nDEMO_LICENSE_FILE=27000@lic1:/a.lic\nLM_LICENSE_FILE=/etc/lm/site.lic\n"
    );
    let out = lmutil(&["lmpath", "-status"], &home);
    assert_eq!(
        stdout(&out),
        format!(
            "lmutil - lm license manager v{}\n\
             Known Vendors:\n_____________\n\ndemo: 27000@lic1:/a.lic:/etc/lm/site.lic\n_____________\n\n\
             Other Vendors:\n______________\n\n/etc/lm/site.lic\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    // What the environment sets comes first, and is reported.
    let out = std::process::Command::new(bin_lmutil())
        .args(["lmpath", "-status"])
        .env_clear()
        .env("HOME", &home)
        .env("LM_LICENSE_FILE", "27000@envhost")
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("\ndemo: 27000@envhost:27000@lic1:/a.lic:/etc/lm/site.lic\n"),
        "{text}"
    );
    assert!(
        text.contains("Other Vendors:\n______________\n\n27000@envhost:/etc/lm/site.lic\n"),
        "{text}"
    );
    assert!(
        text.contains("Note: LM_LICENSE_FILE is set in the environment"),
        "{text}"
    );
    let out = lmutil(&["lmpath", "-override", "demo", ""], &home);
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(&rc).unwrap(),
        "# my settings\nOTHER=1\nLM_LICENSE_FILE=/etc/lm/site.lic\n"
    );
    let out = lmutil(&["lmpath", "-add", "not a vendor", "/x"], &home);
    assert_eq!(out.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn lmhostid_prints_this_machines_ids() {
    let home = home("lmhostid");
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap();
    let out = lmutil(&["lmhostid", "-hostname"], &home);
    assert_eq!(
        stdout(&out),
        format!(
            "lmutil - lm license manager v{}\nThe lm host ID of this machine is \"HOSTNAME={hostname}\"\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    let out = lmutil(&["lmhostid", "hostname", "-n"], &home);
    assert_eq!(stdout(&out), format!("HOSTNAME={hostname}\n"));
    let link = home.join("lmhostid");
    std::os::unix::fs::symlink(bin_lmutil(), &link).unwrap();
    let out = run_as(&link, &["-user"], &home, None);
    assert!(
        stdout(&out).starts_with("lmhostid - lm license manager v"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("host ID of this machine is \"USER="));
    // The default lists every interface's Ethernet address (when there is one).
    let out = lmutil(&["lmhostid"], &home);
    if out.status.success() {
        let text = stdout(&out);
        let line = text.lines().nth(1).unwrap();
        assert!(
            line.starts_with("The lm host ID of this machine is \""),
            "{text}"
        );
        let several = line.contains(' ') && line.ends_with("\"\"");
        assert_eq!(
            several,
            text.contains("\nOnly use ONE from the list of hostids.\n"),
            "{text}"
        );
    }
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn lmver_knows_our_binaries_only() {
    let home = home("lmver");
    let me = bin_lmutil().display().to_string();
    let out = lmutil(&["lmver", &me], &home);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).ends_with(&format!(
            "\n{me}: lm license manager v{}\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{}",
        stdout(&out)
    );
    let other = home.join("other-program");
    std::fs::write(&other, b"\x7fELF not one of ours, lm-version: none").unwrap();
    let out = lmutil(&["lmver", &other.display().to_string()], &home);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("not an lm license manager binary (no version marker found)"));
    let out = lmutil(&["lmver", "/no/such/file"], &home);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot read \"/no/such/file\""));
    let _ = std::fs::remove_dir_all(&home);
}
