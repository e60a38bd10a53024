//! Prints the parsed entries and diagnostics of a license file (debug aid).
fn main() {
    for path in std::env::args().skip(1) {
        match grammar::read_license(std::path::Path::new(&path)) {
            Ok(file) => {
                for e in &file.entries {
                    println!("{}-{}: {:?}", e.line, e.end_line, e.kind);
                }
                for d in &file.diagnostics {
                    println!("{d}");
                }
            }
            Err(e) => eprintln!("{path}: {e}"),
        }
    }
}
