//! The license manager's version, embedded in every binary that speaks the
//! protocol so that `lmutil lmver` can read it from the file.

/// `lm-version:<version>` followed by a NUL: `lmver` scans binaries for the
/// prefix.
pub static VERSION_MARKER: &str = concat!("lm-version:", env!("CARGO_PKG_VERSION"), "\0");

/// This build's version. Reading the marker through `black_box` keeps it
/// in the binary even in optimised builds.
pub fn version() -> &'static str {
    let marker: &'static str = std::hint::black_box(VERSION_MARKER);
    marker
        .split_once(':')
        .map_or(marker, |(_, v)| v)
        .trim_end_matches('\0')
}

/// FLEXlm's name for the platform this was built for (`x64_lsb`), as
/// clients report it and the servers' banners print it.
pub fn platform() -> &'static str {
    match (std::env::consts::ARCH, std::env::consts::OS) {
        ("x86_64", "linux") => "x64_lsb",
        ("x86", "linux") => "i86_lsb",
        ("aarch64", "linux") => "a64_lsb",
        ("x86_64", "macos") => "x64_mac",
        ("aarch64", "macos") => "a64_mac",
        _ => std::env::consts::ARCH,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_comes_from_the_marker() {
        assert_eq!(super::version(), env!("CARGO_PKG_VERSION"));
    }
}
