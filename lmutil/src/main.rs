//! lmutil: the administrator's tools in one binary (see the library).

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    std::process::exit(lmutil::dispatch(&argv));
}
