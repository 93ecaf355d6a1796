//! Characters a person cannot see, refused where people review what a value says.
//!
//! A value reviewed on a screen must read as what a machine gets. Unicode's bidirectional
//! controls (UAX #9: the embeddings, overrides and isolates U+202A to U+202E and U+2066 to
//! U+2069) reorder what is shown without changing what is stored: the "Trojan Source" attack
//! (CVE-2021-42574). Zero-width and other default-ignorable characters (Unicode's
//! `Default_Ignorable_Code_Point`, DerivedCoreProperties.txt) show as nothing, so two values
//! that look the same differ.

/// Whether `c` is a bidirectional embedding, override or isolate (UAX #9, section 2).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Whether `c` shows as nothing or reorders what is shown: a bidirectional control, a
/// directional mark (U+200E, U+200F, U+061C), or a default-ignorable code point (zero-width
/// spaces and joiners, word joiners, the byte-order mark, soft hyphens, variation selectors,
/// Hangul fillers, tags).
pub fn is_hidden(c: char) -> bool {
    is_bidi_control(c)
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFF8}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// How a refused character is named in a message: its code point, for it cannot be shown.
pub fn describe(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_cannot_be_seen_is_found_and_what_can_is_not() {
        for c in [
            '\u{202E}',
            '\u{2066}',
            '\u{200B}',
            '\u{200D}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{E0041}',
            '\u{200F}',
        ] {
            assert!(is_hidden(c), "{}", describe(c));
        }
        for c in ['a', 'é', 'ｅ', '\u{0301}', 'ß', 'α', '中', ' ', '-'] {
            assert!(!is_hidden(c), "{}", describe(c));
        }
        assert!(is_bidi_control('\u{202E}') && !is_bidi_control('\u{200F}'));
        assert_eq!(describe('\u{202E}'), "U+202E");
    }
}
