//! `include/lmclient.h` is what cbindgen makes of this crate plus
//! `trailer.h` (with the demo publisher's keys and FLEXlm's error numbers
//! filled in from their single sources). Set `LMCLIENT_BLESS=1` to rewrite
//! it after changing the ABI.

use std::path::Path;

/// A C string literal of `text`, one source line per line of text.
fn c_literal(text: &str) -> String {
    let lines: Vec<String> = text
        .lines()
        .map(|l| format!("\"{}\\n\"", l.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    lines.join(" \\\n    ")
}

fn trailer(template: &str) -> String {
    let errors: Vec<String> = wire::lmerr::TABLE
        .iter()
        .map(|e| format!("#define {} ({})", e.name, e.code))
        .collect();
    template
        .replace("@DEMO_VENDOR@", grammar::publisher::DEMO_VENDOR)
        .replace(
            "@DEMO_PUBLIC_KEY@",
            &c_literal(grammar::publisher::DEMO_PUBLIC_KEYS),
        )
        .replace(
            "@DEMO_SEAL_KEY@",
            &c_literal(grammar::publisher::DEMO_SEAL_PUBLIC_KEY),
        )
        .replace("@ERRORS@", &errors.join("\n"))
}

fn generate() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let template = std::fs::read_to_string(dir.join("trailer.h")).expect("trailer.h");
    config.trailer = Some(trailer(&template));
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen")
        .write(&mut out);
    String::from_utf8(out).expect("UTF-8 header")
}

#[test]
fn the_checked_in_header_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/lmclient.h");
    let fresh = generate();
    if std::env::var_os("LMCLIENT_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("write header");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == fresh,
        "{} is stale: run `LMCLIENT_BLESS=1 cargo test -p lmclient --test header` and commit it",
        path.display()
    );
}

#[test]
fn the_header_carries_the_demo_keys_and_every_error_number() {
    let header = generate();
    let first_key_line = grammar::publisher::DEMO_PUBLIC_KEYS
        .lines()
        .nth(1)
        .expect("a PEM body line");
    assert!(header.contains(first_key_line));
    assert!(header.contains("#define LM_MAXUSERS (-4)"));
    assert!(header.contains("error \"lmclient.h: no publisher key."));
}
