//! Random edits of a license file, for property tests.

use proptest::prelude::*;

/// One edit of a file.
#[derive(Debug, Clone)]
pub enum Mutation {
    Insert(usize, String),
    Delete(usize, usize),
    Replace(usize, char),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    DropLine(usize),
}

/// An edit whose inserted text comes from `token`.
pub fn mutation(token: impl Strategy<Value = String>) -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), token).prop_map(|(i, s)| Mutation::Insert(i, s)),
        2 => (any::<usize>(), 1usize..12).prop_map(|(i, n)| Mutation::Delete(i, n)),
        2 => (any::<usize>(), any::<char>()).prop_map(|(i, c)| Mutation::Replace(i, c)),
        1 => any::<usize>().prop_map(Mutation::DuplicateLine),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        1 => any::<usize>().prop_map(Mutation::DropLine),
    ]
}

/// Applies one edit to `src`.
pub fn apply(src: &str, m: &Mutation) -> String {
    let mut chars: Vec<char> = src.chars().collect();
    let mut lines: Vec<String> = src.split('\n').map(str::to_string).collect();
    let n = lines.len();
    match m {
        Mutation::Insert(i, s) => {
            let at = i % (chars.len() + 1);
            chars.splice(at..at, s.chars());
        }
        Mutation::Delete(i, len) => {
            if !chars.is_empty() {
                let at = i % chars.len();
                let end = (at + len).min(chars.len());
                chars.drain(at..end);
            }
        }
        Mutation::Replace(i, c) => {
            if !chars.is_empty() {
                let at = i % chars.len();
                chars[at] = *c;
            }
        }
        Mutation::DuplicateLine(i) => {
            let l = lines[i % n].clone();
            lines.insert(i % n, l);
            return lines.join("\n");
        }
        Mutation::SwapLines(a, b) => {
            lines.swap(a % n, b % n);
            return lines.join("\n");
        }
        Mutation::DropLine(i) => {
            lines.remove(i % n);
            return lines.join("\n");
        }
    }
    chars.into_iter().collect()
}
