//! Characters that look like license-file punctuation but are not: the
//! curly quotes, dashes and special spaces that word processors, mail
//! programs and web pages put in place of what the publisher typed.
//!
//! A license line is ASCII where it matters. Such a character, read as
//! part of a value, would silently change it (`SIGN=”AB12”` becomes a
//! signature that starts with `”`), so the line is refused with a message
//! that names the character and what to type instead.

/// One look-alike character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lookalike {
    pub ch: char,
    /// Its name, as an administrator would recognise it.
    pub name: &'static str,
    /// What to type in its place.
    pub instead: &'static str,
}

const fn entry(ch: char, name: &'static str, instead: &'static str) -> Lookalike {
    Lookalike { ch, name, instead }
}

/// The characters refused, with their plain ASCII counterparts.
pub const LOOKALIKES: [Lookalike; 24] = [
    entry('\u{2018}', "left single quotation mark", "'"),
    entry('\u{2019}', "right single quotation mark", "'"),
    entry('\u{201A}', "single low quotation mark", "'"),
    entry('\u{201B}', "single high-reversed quotation mark", "'"),
    entry('\u{2032}', "prime", "'"),
    entry('\u{FF07}', "fullwidth apostrophe", "'"),
    entry('\u{201C}', "left double quotation mark", "\""),
    entry('\u{201D}', "right double quotation mark", "\""),
    entry('\u{201E}', "double low quotation mark", "\""),
    entry('\u{201F}', "double high-reversed quotation mark", "\""),
    entry('\u{2033}', "double prime", "\""),
    entry(
        '\u{00AB}',
        "left-pointing double angle quotation mark",
        "\"",
    ),
    entry(
        '\u{00BB}',
        "right-pointing double angle quotation mark",
        "\"",
    ),
    entry('\u{FF02}', "fullwidth quotation mark", "\""),
    entry('\u{2010}', "hyphen", "-"),
    entry('\u{2011}', "non-breaking hyphen", "-"),
    entry('\u{2012}', "figure dash", "-"),
    entry('\u{2013}', "en dash", "-"),
    entry('\u{2014}', "em dash", "-"),
    entry('\u{2212}', "minus sign", "-"),
    entry('\u{2026}', "horizontal ellipsis", "..."),
    entry('\u{00A0}', "no-break space", " "),
    entry('\u{202F}', "narrow no-break space", " "),
    entry('\u{200B}', "zero-width space", "nothing"),
];

/// The look-alike `c` is, if it is one.
pub fn lookup(c: char) -> Option<&'static Lookalike> {
    if c.is_ascii() {
        return None;
    }
    LOOKALIKES.iter().find(|l| l.ch == c)
}

/// Every look-alike in `text`, with its byte offset.
pub fn find(text: &str) -> impl Iterator<Item = (usize, &'static Lookalike)> + '_ {
    // Every look-alike is outside ASCII: a pure-ASCII line costs one pass
    // of `is_ascii` and is not decoded character by character.
    let scan = if text.is_ascii() { "" } else { text };
    scan.char_indices()
        .filter_map(|(i, c)| lookup(c).map(|l| (i, l)))
}

/// The message for one look-alike.
pub fn message(l: &Lookalike) -> String {
    let instead = match l.instead {
        "nothing" => "delete it".to_string(),
        " " => "type an ordinary space instead".to_string(),
        plain => format!("type a plain `{plain}` instead"),
    };
    format!(
        "{} `{}` (U+{:04X}) is not license-file punctuation (a word processor or mail program \
         may have put it there): {instead}",
        l.name, l.ch, l.ch as u32
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_with_its_offset() {
        let text = "SIGN=\u{201D}AB\u{2019}CD\u{201D} x";
        let found: Vec<(usize, char)> = find(text).map(|(i, l)| (i, l.ch)).collect();
        assert_eq!(
            found,
            vec![(5, '\u{201D}'), (10, '\u{2019}'), (15, '\u{201D}')]
        );
        assert_eq!(find("plain \"ASCII\" 'text'").count(), 0);
        assert_eq!(find("Müller é").count(), 0, "letters are not look-alikes");
    }

    #[test]
    fn messages_say_what_to_type() {
        let m = message(lookup('\u{201C}').unwrap());
        assert_eq!(
            m,
            "left double quotation mark `\u{201C}` (U+201C) is not license-file punctuation \
             (a word processor or mail program may have put it there): type a plain `\"` instead"
        );
        assert!(message(lookup('\u{2018}').unwrap()).ends_with("type a plain `'` instead"));
        assert!(message(lookup('\u{2013}').unwrap()).ends_with("type a plain `-` instead"));
        assert!(message(lookup('\u{A0}').unwrap()).ends_with("type an ordinary space instead"));
        assert!(message(lookup('\u{200B}').unwrap()).ends_with("delete it"));
    }

    #[test]
    fn table_has_no_duplicates_and_no_ascii() {
        for (i, l) in LOOKALIKES.iter().enumerate() {
            assert!(!l.ch.is_ascii());
            assert!(LOOKALIKES[i + 1..].iter().all(|o| o.ch != l.ch), "{l:?}");
        }
    }
}
