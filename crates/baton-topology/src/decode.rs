//! From the bytes of a file to its text: UTF-8 only, with the place of the first byte that
//! is not, and a plain word for files saved as UTF-16 or UTF-32.

use crate::error::{Problem, ProblemKind};
use crate::source::Source;

/// Byte order marks of the encodings a topology file is sometimes saved in by mistake,
/// longest first (the UTF-32 LE mark starts with the UTF-16 LE one).
const MARKS: [(&[u8], &str); 4] = [
    (&[0xFF, 0xFE, 0x00, 0x00], "UTF-32 (little-endian)"),
    (&[0x00, 0x00, 0xFE, 0xFF], "UTF-32 (big-endian)"),
    (&[0xFF, 0xFE], "UTF-16 (little-endian)"),
    (&[0xFE, 0xFF], "UTF-16 (big-endian)"),
];

/// The text of `bytes`, or the problem that stops it being read as UTF-8 (`file` names it).
pub(crate) fn decode(file: &str, bytes: Vec<u8>) -> Result<String, Problem> {
    if let Some((_, encoding)) = MARKS.iter().find(|(mark, _)| bytes.starts_with(mark)) {
        return Err(
            Source::new(file, "").problem_at_top(ProblemKind::WrongEncoding {
                encoding: (*encoding).to_owned(),
            }),
        );
    }
    if let Some(encoding) = unmarked_utf16(&bytes) {
        return Err(
            Source::new(file, "").problem_at_top(ProblemKind::WrongEncoding {
                encoding: encoding.to_owned(),
            }),
        );
    }
    String::from_utf8(bytes).map_err(|error| {
        let valid = error.utf8_error().valid_up_to();
        let bytes = error.into_bytes();
        let byte = bytes[valid];
        // The bytes before `valid` are UTF-8: the position of the bad byte is the end of them.
        let before = String::from_utf8_lossy(&bytes[..valid]);
        Source::new(file, before.as_ref()).problem(&(valid..valid), ProblemKind::NotUtf8 { byte })
    })
}

/// The UTF-16 variant `bytes` look like without a byte order mark: TOML text starts with an
/// ASCII character (or a NUL-free UTF-8 one), so a zero byte beside a non-zero one at the
/// start is the other half of a 16-bit code unit.
fn unmarked_utf16(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0, second, ..] if *second != 0 => Some("UTF-16 (big-endian)"),
        [first, 0, ..] if *first != 0 => Some("UTF-16 (little-endian)"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(bytes: &[u8]) -> String {
        decode("t.toml", bytes.to_vec()).unwrap_err().to_string()
    }

    #[test]
    fn utf8_passes_through() {
        assert_eq!(
            decode("t.toml", b"a = \"\xC3\xA9\"\n".to_vec()).unwrap(),
            "a = \"é\"\n"
        );
        assert_eq!(decode("t.toml", Vec::new()).unwrap(), "");
    }

    #[test]
    fn the_first_invalid_byte_is_located() {
        assert_eq!(
            problem(b"a = 1\nname = \"\xC3\xA9\xFF\"\n"),
            "t.toml:2:10: byte 0xFF is not UTF-8: save the file as UTF-8"
        );
        assert_eq!(
            problem(b"\xE9t\xE9 = 1"),
            "t.toml:1:1: byte 0xE9 is not UTF-8: save the file as UTF-8"
        );
    }

    #[test]
    fn utf16_and_utf32_are_recognised() {
        assert_eq!(
            problem(b"\xFF\xFEa\x00"),
            "t.toml:1:1: the file is encoded as UTF-16 (little-endian): save it as UTF-8"
        );
        assert_eq!(
            problem(b"\xFE\xFF\x00a"),
            "t.toml:1:1: the file is encoded as UTF-16 (big-endian): save it as UTF-8"
        );
        assert_eq!(
            problem(b"\xFF\xFE\x00\x00a\x00\x00\x00"),
            "t.toml:1:1: the file is encoded as UTF-32 (little-endian): save it as UTF-8"
        );
        assert_eq!(
            problem(b"\x00\x00\xFE\xFF\x00\x00\x00a"),
            "t.toml:1:1: the file is encoded as UTF-32 (big-endian): save it as UTF-8"
        );
        assert_eq!(
            problem(b"a\x00 \x00"),
            "t.toml:1:1: the file is encoded as UTF-16 (little-endian): save it as UTF-8"
        );
    }
}
