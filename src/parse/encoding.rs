//! Bytes → text. No single signal is trusted blindly: a forced encoding from the
//! configuration wins; then a byte-order mark; then the declarations (HTTP
//! `charset`, then the XML declaration or `<meta>`), each checked against the bytes;
//! then UTF-8 validity; then statistical detection (chardetng).

use std::borrow::Cow;

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{Encoding, REPLACEMENT, UTF_8, UTF_16BE, UTF_16LE, X_USER_DEFINED};

/// How far into the document a `<meta>` or XML declaration is looked for.
const PRESCAN: usize = 4096;

/// Decoded text and the encoding that produced it.
#[derive(Debug)]
pub struct Decoded<'a> {
    pub text: Cow<'a, str>,
    pub encoding: &'static Encoding,
}

/// Decodes a document. `forced` is a WHATWG label from the configuration;
/// `tld` (the host's lowercase top-level domain, e.g. `b"cn"`, `b"tw"`) steers
/// detection of undeclared legacy bytes; `None` lets the content alone decide.
pub fn decode<'a>(
    bytes: &'a [u8],
    forced: Option<&str>,
    content_type: Option<&str>,
    tld: Option<&[u8]>,
) -> Decoded<'a> {
    if let Some(encoding) = forced.and_then(|label| Encoding::for_label(label.trim().as_bytes())) {
        let (text, encoding, _) = encoding.decode(bytes);
        return Decoded { text, encoding };
    }
    if let Some((encoding, bom)) = Encoding::for_bom(bytes) {
        let (text, _) = encoding.decode_without_bom_handling(&bytes[bom..]);
        return Decoded { text, encoding };
    }
    let utf8 = is_utf8(bytes);
    let declared = [
        content_type.and_then(|ct| label_after(ct.as_bytes(), b"charset")),
        document_label(bytes),
    ];
    for label in declared.into_iter().flatten() {
        if let Some(encoding) = Encoding::for_label(label)
            && let Some(decoded) = check_declared(encoding, bytes, utf8, tld)
        {
            return decoded;
        }
    }
    let encoding = if utf8 { UTF_8 } else { detect(bytes, tld) };
    let (text, _) = encoding.decode_without_bom_handling(bytes);
    Decoded { text, encoding }
}

/// Decodes with a declared encoding if the bytes bear it out; `None` sends the
/// caller on to UTF-8 validation and detection.
fn check_declared<'a>(
    encoding: &'static Encoding,
    bytes: &'a [u8],
    utf8: bool,
    tld: Option<&[u8]>,
) -> Option<Decoded<'a>> {
    if encoding == UTF_8 {
        return utf8.then(|| Decoded {
            text: encoding.decode_without_bom_handling(bytes).0,
            encoding,
        });
    }
    // A UTF-16 label on ASCII-compatible bytes (no BOM) is always wrong, and the
    // replacement / x-user-defined encodings never describe a real page.
    if [UTF_16LE, UTF_16BE, REPLACEMENT, X_USER_DEFINED].contains(&encoding) {
        return None;
    }
    if bytes.is_ascii() {
        let (text, _) = encoding.decode_without_bom_handling(bytes);
        return Some(Decoded { text, encoding });
    }
    // Legacy multi-byte Chinese text is practically never valid UTF-8 by accident:
    // non-ASCII bytes that validate as UTF-8 are UTF-8, whatever the label says.
    if utf8 {
        return None;
    }
    let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
    if had_errors && too_many_errors(&text) {
        return None;
    }
    if encoding.is_single_byte() {
        // A single-byte label (often a template's default iso-8859-1) never fails to
        // decode; prefer detection when it finds a multi-byte encoding that fits.
        let detected = detect(bytes, tld);
        if !detected.is_single_byte()
            && detected
                .decode_without_bom_handling_and_without_replacement(bytes)
                .is_some()
        {
            return None;
        }
    }
    Some(Decoded { text, encoding })
}

/// Whether the bytes are UTF-8, allowing a few stray bytes (a character cut by a
/// CMS's truncation, one bad byte). Two tests, either suffices:
/// - at least 20 valid non-ASCII characters per invalid sequence: long text of any
///   script with the odd damaged character;
/// - at least 9 in 10 non-ASCII bytes inside valid three- or four-byte sequences:
///   short Chinese text with a few bad bytes (a feed of two items, one of them
///   "3人死亡", has too few characters for the first test). Chinese characters are
///   three bytes in UTF-8; legacy GBK/Big5 bytes form such a sequence only by
///   accident (a lead byte E0–EF, then two bytes 80–BF), and on corpus text cut to
///   5–40 characters never reached 9 in 10 once any byte was invalid (GBK at most
///   0.83, Big5 0.8).
///
/// Legacy GBK/Big5 text yields few valid non-ASCII UTF-8 characters, so it passes
/// neither.
fn is_utf8(bytes: &[u8]) -> bool {
    if std::str::from_utf8(bytes).is_ok() {
        return true;
    }
    let (mut non_ascii, mut errors) = (0usize, 0usize);
    let (mut wide_bytes, mut other_bytes) = (0usize, 0usize);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars().filter(|c| !c.is_ascii()) {
            non_ascii += 1;
            if c.len_utf8() >= 3 {
                wide_bytes += c.len_utf8();
            } else {
                other_bytes += c.len_utf8();
            }
        }
        errors += usize::from(!chunk.invalid().is_empty());
        other_bytes += chunk.invalid().len();
    }
    errors * 20 <= non_ascii || wide_bytes >= 9 * other_bytes
}

/// More than 1 in 50 non-ASCII characters came out as U+FFFD.
fn too_many_errors(text: &str) -> bool {
    let (mut non_ascii, mut errors) = (0usize, 0usize);
    for c in text.chars().filter(|c| !c.is_ascii()) {
        non_ascii += 1;
        errors += usize::from(c == '\u{FFFD}');
    }
    errors * 50 > non_ascii
}

/// How much of a document detection reads: thousands of Chinese characters, far
/// more than chardetng needs, while keeping its cost bounded on long pages.
const DETECT_WINDOW: usize = 8 * 1024;

/// chardetng's guess for legacy (non-UTF-8) bytes. A `cn` TLD makes it answer GBK
/// and a `tw`/`hk` TLD Big5 whatever the content; without a TLD the content
/// decides (which tells GBK from Big5 correctly). It reads [`DETECT_WINDOW`] bytes
/// from the first non-ASCII byte, so long ASCII heads (inline scripts, CSS) do not
/// crowd out the text.
pub fn detect(bytes: &[u8], tld: Option<&[u8]>) -> &'static Encoding {
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    let start = bytes.iter().position(|b| !b.is_ascii()).unwrap_or(0);
    let window = &bytes[start..bytes.len().min(start + DETECT_WINDOW)];
    detector.feed(window, start + window.len() == bytes.len());
    detector.guess(tld, Utf8Detection::Deny)
}

/// The encoding label declared inside the document: the XML declaration's
/// `encoding=`, or a `<meta charset>` / `<meta http-equiv content="…charset=…">`.
pub fn document_label(bytes: &[u8]) -> Option<&[u8]> {
    let head = &bytes[..bytes.len().min(PRESCAN)];
    let start = head.iter().position(|b| !b.is_ascii_whitespace())?;
    let head_trimmed = &head[start..];
    if head_trimmed.starts_with(b"<?xml") {
        let end = find(head_trimmed, b"?>").unwrap_or(head_trimmed.len());
        if let Some(label) = label_after(&head_trimmed[..end], b"encoding") {
            return Some(label);
        }
    }
    let mut rest = head;
    while let Some(at) = find_ci(rest, b"<meta") {
        let tag = &rest[at..];
        let end = tag.iter().position(|&b| b == b'>').unwrap_or(tag.len());
        if let Some(label) = label_after(&tag[..end], b"charset") {
            return Some(label);
        }
        rest = &tag[end..];
    }
    None
}

/// The value after `key` `=` (optionally quoted), e.g. `charset=gb2312` in a
/// Content-Type or `encoding="GBK"` in an XML declaration.
pub(super) fn label_after<'a>(hay: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let mut rest = hay;
    while let Some(at) = find_ci(rest, key) {
        let after = &rest[at + key.len()..];
        let after = trim_start(after);
        if let Some(value) = after.strip_prefix(b"=") {
            let value = trim_start(value);
            let value = value
                .strip_prefix(b"\"")
                .or_else(|| value.strip_prefix(b"'"))
                .unwrap_or(value);
            let len = value
                .iter()
                .position(|b| {
                    !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
                })
                .unwrap_or(value.len());
            if len > 0 {
                return Some(&value[..len]);
            }
        }
        rest = after;
    }
    None
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &b[n..]
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub(super) fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::{BIG5, GBK, WINDOWS_1252};

    const CHINESE: &str = "安丘市人民政府关于做好冬季供暖工作的通知：各镇街道、各有关部门要切实保障群众温暖过冬，发现问题及时处置。";
    const TRADITIONAL: &str =
        "臺灣地區颱風警報：中央氣象局發布海上陸上颱風警報，請民眾嚴加戒備，注意強風豪雨。";

    fn gbk(s: &str) -> Vec<u8> {
        GBK.encode(s).0.into_owned()
    }

    #[test]
    fn chooses_the_right_signal() {
        let body = |prefix: &str, text: &[u8]| [prefix.as_bytes(), text].concat();
        let gbk_text = gbk(CHINESE);
        let big5_text = BIG5.encode(TRADITIONAL).0.into_owned();
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(CHINESE.as_bytes());
        // (case, bytes, forced, content type, expected encoding, expected text)
        type Case<'a> = (
            &'a str,
            Vec<u8>,
            Option<&'a str>,
            Option<&'a str>,
            &'static Encoding,
            &'a str,
        );
        let cases: Vec<Case> = vec![
            (
                "utf-8 plain",
                CHINESE.as_bytes().to_vec(),
                None,
                None,
                UTF_8,
                CHINESE,
            ),
            (
                "utf-8 bom",
                bom,
                None,
                Some("text/html; charset=gbk"),
                UTF_8,
                CHINESE,
            ),
            (
                "gbk by http header only",
                gbk_text.clone(),
                None,
                Some("text/html; charset=GBK"),
                GBK,
                CHINESE,
            ),
            (
                "gbk by quoted http header",
                gbk_text.clone(),
                None,
                Some("text/xml;charset=\"gb2312\""),
                GBK,
                CHINESE,
            ),
            (
                "gbk undeclared",
                gbk_text.clone(),
                None,
                Some("text/html"),
                GBK,
                CHINESE,
            ),
            (
                "gbk declared utf-8",
                gbk_text.clone(),
                None,
                Some("text/html; charset=utf-8"),
                GBK,
                CHINESE,
            ),
            (
                "utf-8 declared gb2312",
                CHINESE.as_bytes().to_vec(),
                None,
                Some("text/html; charset=gb2312"),
                UTF_8,
                CHINESE,
            ),
            (
                "gbk declared iso-8859-1",
                gbk_text.clone(),
                None,
                Some("text/html; charset=iso-8859-1"),
                GBK,
                CHINESE,
            ),
            (
                "forced gbk beats a utf-8 header",
                gbk_text.clone(),
                Some("gbk"),
                Some("text/html; charset=utf-8"),
                GBK,
                CHINESE,
            ),
            (
                "big5 by header",
                big5_text.clone(),
                None,
                Some("text/html; charset=big5"),
                BIG5,
                TRADITIONAL,
            ),
            (
                "gbk meta only",
                body(
                    "<html><head><meta charset=\"gb2312\"></head><body>",
                    &gbk_text,
                ),
                None,
                None,
                GBK,
                "",
            ),
            (
                "gbk http-equiv meta",
                body(
                    "<html><head><META http-equiv=\"Content-Type\" content=\"text/html; charset=gbk\"></head><body>",
                    &gbk_text,
                ),
                None,
                None,
                GBK,
                "",
            ),
            (
                "gbk xml declaration only",
                body("<?xml version=\"1.0\" encoding='GB2312'?><rss>", &gbk_text),
                None,
                None,
                GBK,
                "",
            ),
            (
                "utf-8 with a cut character, declared utf-8",
                body(CHINESE, &CHINESE.as_bytes()[..4]),
                None,
                Some("text/html; charset=utf-8"),
                UTF_8,
                "",
            ),
            (
                "utf-8 with a stray byte, undeclared",
                body(CHINESE, b"\xFF"),
                None,
                None,
                UTF_8,
                "",
            ),
            (
                "utf-8 with a stray byte, declared gbk",
                body(CHINESE, b"\xFF"),
                None,
                Some("text/html; charset=gbk"),
                UTF_8,
                "",
            ),
            (
                "ascii with a latin-1 header",
                b"hello".to_vec(),
                None,
                Some("text/plain; charset=ISO-8859-1"),
                WINDOWS_1252,
                "hello",
            ),
        ];
        for (name, bytes, forced, ct, encoding, text) in cases {
            let decoded = decode(&bytes, forced, ct, None);
            assert_eq!(decoded.encoding, encoding, "case {name}");
            if text.is_empty() {
                assert!(
                    decoded.text.contains(CHINESE),
                    "case {name}: {}",
                    decoded.text
                );
            } else {
                assert_eq!(decoded.text, text, "case {name}");
            }
        }
    }

    #[test]
    fn a_short_utf8_feed_with_a_few_bad_bytes_stays_utf8() {
        let feed = |title: &str| {
            format!(
                "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>新闻</title>\
                 <item><title>{title}</title></item></channel></rss>"
            )
        };
        let good = feed("某镇工地坍塌致3人死亡");
        // Three stray bytes: a Latin-1 é, a lone continuation byte, a cut character.
        let bytes = good.replace("工地", "工\u{0}地").into_bytes();
        let bytes: Vec<u8> = bytes
            .iter()
            .flat_map(|&b| {
                if b == 0 {
                    vec![0xE9, 0x80, 0xE5, 0xB7]
                } else {
                    vec![b]
                }
            })
            .collect();
        for content_type in [None, Some("application/rss+xml; charset=utf-8")] {
            let decoded = decode(&bytes, None, content_type, None);
            assert_eq!(decoded.encoding, UTF_8, "{content_type:?}");
            assert!(decoded.text.contains("3人死亡"), "{}", decoded.text);
        }
        // The same short text in GBK with one bad byte is still read as GBK.
        let mut legacy = gbk(&feed("某镇工地坍塌致3人死亡"));
        legacy.push(0xFF);
        assert_eq!(decode(&legacy, None, None, Some(b"cn")).encoding, GBK);
    }

    #[test]
    fn detection_skips_a_long_ascii_head() {
        // Were the window taken from the start, detection would see only ASCII and
        // guess a Western encoding instead of reading the GBK text.
        let head = format!(
            "<html><head><script>{}</script></head><body>",
            "var x = 1;\n".repeat(2000)
        );
        let long_text = CHINESE.repeat(20);
        let bytes = [head.as_bytes(), &gbk(&long_text), b"</body></html>"].concat();
        let decoded = decode(&bytes, None, None, None);
        assert_eq!(decoded.encoding, GBK);
        assert!(decoded.text.contains(&long_text));
    }

    #[test]
    fn detection_table() {
        let gbk_text = gbk(CHINESE);
        let big5_text = BIG5.encode(TRADITIONAL).0.into_owned();
        // (case, bytes, tld, expected)
        type Case<'a> = (&'a str, &'a [u8], Option<&'a [u8]>, &'static Encoding);
        let cases: [Case; 5] = [
            ("gbk, no tld", &gbk_text, None, GBK),
            ("gbk, cn", &gbk_text, Some(b"cn"), GBK),
            ("big5, no tld", &big5_text, None, BIG5),
            ("big5, tw", &big5_text, Some(b"tw"), BIG5),
            ("big5, hk", &big5_text, Some(b"hk"), BIG5),
        ];
        for (case, bytes, tld, expected) in cases {
            let decoded = decode(bytes, None, None, tld);
            assert_eq!(decoded.encoding, expected, "case {case}");
            assert!(!decoded.text.contains('\u{FFFD}'), "case {case}");
        }
    }

    #[test]
    fn finds_declared_labels() {
        let cases: [(&[u8], Option<&[u8]>); 6] = [
            (
                b"<?xml version=\"1.0\" encoding=\"gb2312\" ?><rss/>",
                Some(b"gb2312"),
            ),
            (b"  <?xml version='1.0' encoding = 'GBK'?>", Some(b"GBK")),
            (b"<?xml version=\"1.0\"?><rss/>", None),
            (b"<html><meta name=x><meta charset=big5>", Some(b"big5")),
            (
                b"<meta http-equiv=\"content-type\" content=\"text/html;charset=GB18030\" />",
                Some(b"GB18030"),
            ),
            (b"<html><body>charset=gbk</body>", None),
        ];
        for (input, expected) in cases {
            assert_eq!(
                document_label(input),
                expected,
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }
}
