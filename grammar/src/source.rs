//! Splitting license-file text into logical lines.
//!
//! A license line may be continued onto the next physical line with a
//! backslash at its end, anywhere: between fields or inside a quoted string.
//! We join continued lines before parsing, replacing each backslash-newline
//! with one space, and remember where every piece came from so that any
//! offset in the joined text maps back to a physical line and column.
//!
//! A physical line that starts (after white space) with `#` is a comment and
//! is never continued, so a commented-out line ending in `\` cannot swallow
//! the line after it.

use std::ops::Range;

/// One logical line: physical lines joined at backslash continuations.
#[derive(Debug, Clone)]
pub struct LogicalLine {
    /// The joined text, continuations replaced by a single space.
    pub text: String,
    /// Byte range in the original source, from the start of the first
    /// physical line to the end of the last one (newline excluded).
    pub source_range: Range<usize>,
    segments: Vec<Segment>,
}

/// Where a stretch of the joined text came from.
#[derive(Debug, Clone, Copy)]
struct Segment {
    /// Offset in `LogicalLine::text` where this piece starts.
    text_start: usize,
    /// 1-based physical line number.
    line: u32,
}

impl LogicalLine {
    /// 1-based number of the first physical line.
    pub fn first_line(&self) -> u32 {
        self.segments[0].line
    }

    /// 1-based number of the last physical line.
    pub fn last_line(&self) -> u32 {
        self.segments[self.segments.len() - 1].line
    }

    /// Maps a byte offset in `text` to a 1-based (line, column) pair in the
    /// original file. Columns count characters, as editors do.
    pub fn position(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let idx = match self
            .segments
            .binary_search_by(|s| s.text_start.cmp(&offset))
        {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let seg = self.segments[idx];
        let prefix = self.text.get(seg.text_start..offset).unwrap_or("");
        (seg.line, prefix.chars().count() as u32 + 1)
    }

    /// True when the first word of the line makes it a comment.
    pub fn is_comment(&self) -> bool {
        let t = self.text.trim_start();
        t.is_empty() || t.starts_with('#')
    }
}

/// Splits `src` into logical lines. Never fails: every byte of the input
/// belongs to exactly one logical line.
pub fn logical_lines(src: &str) -> Vec<LogicalLine> {
    let mut out = Vec::new();
    let mut current: Option<LogicalLine> = None;
    let mut offset = 0usize;
    for (idx, raw) in src.split('\n').enumerate() {
        let line_no = idx as u32 + 1;
        let start = offset;
        offset += raw.len() + 1;
        let body = raw.strip_suffix('\r').unwrap_or(raw);
        let end = start + body.len();
        let (content, continues) = match current {
            // A comment starts a logical line of its own and never continues.
            None if body.trim_start().starts_with('#') => (body, false),
            _ => split_continuation(body),
        };
        let line = current.get_or_insert_with(|| LogicalLine {
            text: String::new(),
            source_range: start..end,
            segments: Vec::new(),
        });
        line.segments.push(Segment {
            text_start: line.text.len(),
            line: line_no,
        });
        line.text.push_str(content);
        line.source_range.end = end;
        if continues {
            line.text.push(' ');
        } else {
            out.push(current.take().expect("line was just inserted"));
        }
    }
    if let Some(line) = current.take() {
        out.push(line);
    }
    // A trailing newline leaves an empty last piece; drop it.
    if let Some(last) = out.last() {
        if last.text.is_empty() && last.source_range.is_empty() && out.len() > 1 {
            out.pop();
        }
    }
    out
}

/// Returns the line without its continuation mark, and whether it had one.
/// A backslash followed only by white space still continues the line: such
/// trailing blanks are invisible in an editor and common after copy-paste.
fn split_continuation(body: &str) -> (&str, bool) {
    let trimmed = body.trim_end_matches([' ', '\t']);
    match trimmed.strip_suffix('\\') {
        Some(rest) => (rest, true),
        None => (body, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_continuations_with_a_space() {
        let lines = logical_lines("FEATURE f1 demo 1.0 \\\n  permanent 4\nVENDOR demo\n");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].text, "FEATURE f1 demo 1.0    permanent 4");
        assert_eq!(lines[0].first_line(), 1);
        assert_eq!(lines[0].last_line(), 2);
        assert_eq!(lines[1].text, "VENDOR demo");
        assert_eq!(lines[1].first_line(), 3);
    }

    #[test]
    fn positions_map_back_to_physical_lines() {
        let lines = logical_lines("A b \\\r\n\tcd ef\n");
        let l = &lines[0];
        let at = l.text.find("ef").unwrap();
        assert_eq!(l.position(at), (2, 5));
        assert_eq!(l.position(0), (1, 1));
    }

    #[test]
    fn continuation_inside_quotes_and_trailing_blanks() {
        let lines = logical_lines("X NOTICE=\"Licensed to \\  \nSample corp\"\n");
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].text, "X NOTICE=\"Licensed to  Sample corp\"");
    }

    #[test]
    fn comments_do_not_continue() {
        let lines = logical_lines("# note \\\nSERVER h ANY\n");
        assert_eq!(lines.len(), 2);
        assert!(lines[0].is_comment());
        assert_eq!(lines[1].text, "SERVER h ANY");
    }

    #[test]
    fn source_ranges_cover_physical_lines() {
        let src = "a \\\nb\nc";
        let lines = logical_lines(src);
        assert_eq!(&src[lines[0].source_range.clone()], "a \\\nb");
        assert_eq!(&src[lines[1].source_range.clone()], "c");
    }
}
