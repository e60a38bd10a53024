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
    segments: Segments,
    /// Whether `text` is all ASCII, so that columns are byte counts.
    ascii: bool,
}

/// The pieces of a logical line. Nearly every line has one to three, kept
/// in place: a `Vec` for each line was an allocation per line.
#[derive(Debug, Clone)]
enum Segments {
    Few { len: u8, list: [Segment; FEW] },
    Many(Vec<Segment>),
}

const FEW: usize = 3;

impl Segments {
    fn as_slice(&self) -> &[Segment] {
        match self {
            Segments::Few { len, list } => &list[..usize::from(*len)],
            Segments::Many(list) => list,
        }
    }
}

/// Where a stretch of the joined text came from.
#[derive(Debug, Clone, Copy, Default)]
struct Segment {
    /// Offset in `LogicalLine::text` where this piece starts.
    text_start: usize,
    /// 1-based physical line number.
    line: u32,
}

impl LogicalLine {
    /// 1-based number of the first physical line.
    pub fn first_line(&self) -> u32 {
        self.segments.as_slice().first().map_or(0, |s| s.line)
    }

    /// 1-based number of the last physical line.
    pub fn last_line(&self) -> u32 {
        self.segments.as_slice().last().map_or(0, |s| s.line)
    }

    /// Whether the text is all ASCII (no look-alike punctuation, and
    /// columns are byte counts).
    pub fn is_ascii(&self) -> bool {
        self.ascii
    }

    /// Maps a byte offset in `text` to a 1-based (line, column) pair in the
    /// original file. Columns count characters, as editors do.
    pub fn position(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let segments = self.segments.as_slice();
        let idx = match segments.binary_search_by(|s| s.text_start.cmp(&offset)) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let seg = segments.get(idx).copied().unwrap_or_default();
        if self.ascii && offset >= seg.text_start {
            return (seg.line, (offset - seg.text_start) as u32 + 1);
        }
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
    logical_lines_in(src, 0..src.len(), 0)
}

/// The logical lines of `src[range]`, which must start at the start of a
/// logical line and end at the end of `src` or just after a newline that
/// ends one (see [`cut_points`]); `lines_before` is the number of physical
/// lines before `range.start`. Joining the results for consecutive ranges
/// gives [`logical_lines`] of the whole text.
pub(crate) fn logical_lines_in(
    src: &str,
    range: Range<usize>,
    lines_before: u32,
) -> Vec<LogicalLine> {
    let part = &src[range.clone()];
    let mut out = Vec::with_capacity(part.len() / 128 + 16);
    // The pieces of the logical line being read, and their line numbers.
    let mut pieces: Vec<(&str, u32)> = Vec::new();
    let mut source = 0..0;
    let mut offset = range.start;
    for (idx, raw) in part.split('\n').enumerate() {
        let line_no = lines_before + idx as u32 + 1;
        let start = offset;
        offset += raw.len() + 1;
        let body = raw.strip_suffix('\r').unwrap_or(raw);
        let end = start + body.len();
        let (content, continues) = if pieces.is_empty() && body.trim_start().starts_with('#') {
            // A comment starts a logical line of its own and never continues.
            (body, false)
        } else {
            split_continuation(body)
        };
        if pieces.is_empty() {
            source.start = start;
        }
        source.end = end;
        pieces.push((content, line_no));
        if !continues {
            out.push(join(&mut pieces, source.clone(), false));
        }
    }
    if !pieces.is_empty() {
        out.push(join(&mut pieces, source, true));
    }
    if range.end < src.len() {
        // The empty piece after the final newline belongs to the next range.
        out.pop();
    } else if let Some(last) = out.last() {
        // A trailing newline leaves an empty last piece; drop it (unless it
        // is all the file has: earlier stretches always have lines).
        let more = out.len() > 1 || range.start > 0;
        if last.text.is_empty() && last.source_range.is_empty() && more {
            out.pop();
        }
    }
    out
}

/// Up to `parts - 1` byte offsets, in order, where `src` can be cut into
/// stretches that [`logical_lines_in`] reads independently: each is the
/// start of a physical line whose predecessor does not end in a
/// continuation, so a logical line starts there.
pub(crate) fn cut_points(src: &str, parts: usize) -> Vec<usize> {
    let b = src.as_bytes();
    let mut cuts: Vec<usize> = Vec::new();
    for k in 1..parts {
        let mut at = (src.len() * k / parts).max(cuts.last().map_or(0, |c| c + 1));
        while let Some(nl) = b.get(at..).and_then(|r| r.iter().position(|&c| c == b'\n')) {
            let nl = at + nl;
            let line_start = b[..nl]
                .iter()
                .rposition(|&c| c == b'\n')
                .map_or(0, |p| p + 1);
            let body = &src[line_start..nl];
            let body = body.strip_suffix('\r').unwrap_or(body);
            if !split_continuation(body).1 {
                if nl + 1 < src.len() {
                    cuts.push(nl + 1);
                }
                break;
            }
            at = nl + 1;
        }
    }
    cuts
}

/// Joins the pieces of one logical line with a space in place of each
/// continuation (after the last piece too when it was continued), and
/// empties `pieces`.
fn join(pieces: &mut Vec<(&str, u32)>, source_range: Range<usize>, continued: bool) -> LogicalLine {
    let spaces = pieces.len() - usize::from(!continued);
    let len = pieces.iter().map(|(p, _)| p.len()).sum::<usize>() + spaces;
    let mut text = String::with_capacity(len);
    let mut list = [Segment::default(); FEW];
    let mut many = Vec::new();
    for (i, (content, line)) in pieces.iter().enumerate() {
        let segment = Segment {
            text_start: text.len(),
            line: *line,
        };
        match list.get_mut(i) {
            Some(slot) if pieces.len() <= FEW => *slot = segment,
            _ => many.push(segment),
        }
        text.push_str(content);
        if continued || i + 1 < pieces.len() {
            text.push(' ');
        }
    }
    let segments = if pieces.len() <= FEW {
        Segments::Few {
            len: pieces.len() as u8,
            list,
        }
    } else {
        Segments::Many(many)
    };
    pieces.clear();
    LogicalLine {
        ascii: text.is_ascii(),
        text,
        source_range,
        segments,
    }
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
    fn stretches_join_to_the_whole_file() {
        let texts = [
            "a\nb\nc",
            "a\nb\nc\n",
            "a \\\nb \\\n\nc\n\n\n# x \\\ny \\ \r\nz\r\n",
            "\n\n\n\n",
            "x \\\n\\\n\\\n\\\n\\\n\\",
            "é\nü \\\nö\n#\\\n\\\nñ",
        ];
        for text in texts {
            let whole = logical_lines(text);
            for parts in 2..12 {
                let cuts = cut_points(text, parts);
                let mut joined = Vec::new();
                let (mut start, mut before) = (0, 0);
                for end in cuts.iter().copied().chain([text.len()]) {
                    joined.extend(logical_lines_in(text, start..end, before));
                    before += text[start..end].matches('\n').count() as u32;
                    start = end;
                }
                assert_eq!(
                    format!("{whole:?}"),
                    format!("{joined:?}"),
                    "{text:?} in {parts}"
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn stretches_join_on_any_text(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec!["a", "bc", " ", "\t", "\\", "\n", "\r", "#", "é"]),
                0..200,
            ),
            parts in 2usize..9,
        ) {
            let text = pieces.concat();
            let whole = logical_lines(&text);
            let mut joined = Vec::new();
            let (mut start, mut before) = (0, 0);
            for end in cut_points(&text, parts).into_iter().chain([text.len()]) {
                joined.extend(logical_lines_in(&text, start..end, before));
                before += text[start..end].matches('\n').count() as u32;
                start = end;
            }
            proptest::prop_assert_eq!(format!("{:?}", whole), format!("{:?}", joined));
        }
    }

    #[test]
    fn source_ranges_cover_physical_lines() {
        let src = "a \\\nb\nc";
        let lines = logical_lines(src);
        assert_eq!(&src[lines[0].source_range.clone()], "a \\\nb");
        assert_eq!(&src[lines[1].source_range.clone()], "c");
    }
}
