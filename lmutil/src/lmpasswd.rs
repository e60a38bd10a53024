//! `lmpasswd` (ours): sets the password that guards lmgrd's HTTP admin
//! actions, and creates or revokes tokens for scripts. Only hashes are
//! kept, in the state directory lmgrd uses (see [`crate::secrets`]).
//! It also makes admin tokens for the admin protocol (`-admin-token`):
//! those let lmdown, lmreread, lmremove and the log switches run from
//! another machine under `-2 -p` (the daemons keep their keys).
//!
//! On a terminal the password is asked for twice without echo; otherwise
//! it is the first line of standard input.

use crate::common::{self, write_err, write_out};
use crate::secrets::{self, Secrets};
use crate::Invocation;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

pub const USAGE: &str = "\
usage: lmpasswd [-state-dir dir]                 set the admin password
       lmpasswd [-state-dir dir] -token name     create a token, print it once
       lmpasswd [-state-dir dir] -revoke name    revoke a token
       lmpasswd [-state-dir dir] -admin-token name
                                                 create an admin token for lmdown,
                                                 lmreread, lmremove, lmswitch... from
                                                 another machine (LM_ADMIN_TOKEN_FILE)
       lmpasswd [-state-dir dir] -revoke-admin-token name
       lmpasswd [-state-dir dir] -list           list the tokens' names
       lmpasswd [-state-dir dir] -off            forget password and tokens
  (state directory: -state-dir, else $LM_STATE_DIR, else /var/lib/lm)
";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    SetPassword,
    Token(String),
    Revoke(String),
    AdminToken(String),
    RevokeAdminToken(String),
    List,
    Off,
}

fn parse(args: &[String]) -> Result<(Option<PathBuf>, Action), String> {
    let mut dir = None;
    let mut action = Action::SetPassword;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match arg.as_str() {
            "-state-dir" => dir = Some(PathBuf::from(value("-state-dir")?)),
            "-token" => action = Action::Token(value("-token")?),
            "-revoke" => action = Action::Revoke(value("-revoke")?),
            "-admin-token" => action = Action::AdminToken(value("-admin-token")?),
            "-revoke-admin-token" => {
                action = Action::RevokeAdminToken(value("-revoke-admin-token")?)
            }
            "-list" => action = Action::List,
            "-off" => action = Action::Off,
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    if let Action::Token(name)
    | Action::Revoke(name)
    | Action::AdminToken(name)
    | Action::RevokeAdminToken(name) = &action
    {
        if !secrets::is_token_name(name) {
            return Err(format!(
                "`{name}` is not a token name (1 to 32 letters, digits, - or _)"
            ));
        }
    }
    Ok((dir, action))
}

pub fn run(inv: &Invocation) -> i32 {
    if inv
        .args
        .iter()
        .any(|a| matches!(a.as_str(), "-help" | "-h"))
    {
        write_out(USAGE);
        return 0;
    }
    let (dir, action) = match parse(&inv.args) {
        Ok(p) => p,
        Err(e) => return common::usage_error("lmpasswd", &e, USAGE),
    };
    let dir = hostenv::state_dir::choose(dir.as_deref());
    match act(&dir, action) {
        Ok(message) => {
            write_out(&message);
            0
        }
        Err(e) => {
            write_err(&format!("lmpasswd: {e}\n"));
            1
        }
    }
}

/// Does `action` on the secrets in `dir`; returns what to print.
fn act(dir: &std::path::Path, action: Action) -> Result<String, String> {
    let mut s = Secrets::load(dir).map_err(|e| e.to_string())?;
    let message = match action {
        Action::SetPassword => {
            let password = read_password()?;
            secrets::check_rules(&password).map_err(|e| e.to_string())?;
            s.password = Some(secrets::hash(&password).map_err(|e| e.to_string())?);
            "HTTP admin password set.\n".to_string()
        }
        Action::Token(name) => {
            let (token, hashed) = secrets::new_token(&name).map_err(|e| e.to_string())?;
            s.tokens.insert(name, hashed);
            format!("{token}\n")
        }
        Action::Revoke(name) => {
            if s.tokens.remove(&name).is_none() {
                return Err(format!("no token named `{name}`"));
            }
            format!("Token {name} revoked.\n")
        }
        Action::AdminToken(name) => {
            let (token, key) = secrets::new_admin_key(&name);
            s.admin_keys.insert(name, key);
            format!("{token}\n")
        }
        Action::RevokeAdminToken(name) => {
            if s.admin_keys.remove(&name).is_none() {
                return Err(format!("no admin token named `{name}`"));
            }
            format!("Admin token {name} revoked.\n")
        }
        Action::List => {
            let http = s.tokens.keys().map(|k| format!("{k}\n"));
            let admin = s.admin_keys.keys().map(|k| format!("{k} (admin token)\n"));
            return Ok(http.chain(admin).collect());
        }
        Action::Off => {
            s = Secrets::default();
            "HTTP admin is off: no password, no token.\n".to_string()
        }
    };
    s.save(dir).map_err(|e| e.to_string())?;
    Ok(message)
}

/// The new password: twice without echo on a terminal, else one line.
fn read_password() -> Result<String, String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password: {e}"))?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    let first = prompt_hidden("New HTTP admin password: ")?;
    let second = prompt_hidden("Again: ")?;
    if first != second {
        return Err("the passwords differ".to_string());
    }
    Ok(first)
}

/// Reads a line from the terminal with echo off.
#[allow(unsafe_code)]
fn prompt_hidden(prompt: &str) -> Result<String, String> {
    write_err(prompt);
    let fd = libc::STDIN_FILENO;
    // SAFETY: an all-zero termios is valid for tcgetattr to fill.
    let mut old: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `old` is a live local for the whole call.
    let have = unsafe { libc::tcgetattr(fd, &mut old) } == 0;
    if have {
        let mut quiet = old;
        quiet.c_lflag &= !libc::ECHO;
        // SAFETY: `quiet` is a valid termios copied from the terminal's.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    }
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if have {
        // SAFETY: restores the settings read above.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &old) };
    }
    write_err("\n");
    read.map_err(|e| format!("cannot read the password: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn options_are_understood_and_bad_names_refused() {
        assert_eq!(
            parse(&args(&["-state-dir", "/s", "-token", "ci"])),
            Ok((Some(PathBuf::from("/s")), Action::Token("ci".into())))
        );
        assert!(parse(&args(&["-token", "a b"])).is_err());
        assert!(parse(&args(&["-token"])).is_err());
        assert!(parse(&args(&["-bogus"])).is_err());
    }

    #[test]
    fn tokens_are_created_listed_and_revoked() {
        let dir = tempfile::tempdir().expect("temp dir");
        let token = act(dir.path(), Action::Token("ci".into())).expect("token");
        let s = Secrets::load(dir.path()).expect("load");
        assert_eq!(s.check_token(token.trim()).as_deref(), Some("ci"));
        assert_eq!(act(dir.path(), Action::List), Ok("ci\n".to_string()));
        act(dir.path(), Action::Revoke("ci".into())).expect("revoke");
        assert!(!Secrets::load(dir.path()).expect("load").is_set());
        assert!(act(dir.path(), Action::Revoke("ci".into())).is_err());
    }
}
