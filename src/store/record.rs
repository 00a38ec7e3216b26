//! The compact binary records of items and classifications (data formats 4 and 6).
//!
//! An item's record in `items` starts with a byte that names its layout:
//! - `{`: the item's JSON (formats 0–1, and what tests may write);
//! - [`DEFLATED`] (1): the item's JSON, deflated (formats 2–3);
//! - [`BINARY`] (2): the binary layout below, written when compressing it does not
//!   make it smaller (a short board post);
//! - [`BINARY_DEFLATED`] (3): the same, deflated (miniz_oxide, level 1; formats 4–5);
//! - [`BINARY_ZSTD`] (4): the same, compressed with zstd (level [`ZSTD_LEVEL`], one
//!   frame with its content size; format 6): what a news item's record is now. It
//!   compresses a news item's record in a third of deflate's CPU, to about 4 % more
//!   bytes (docs/performance.md "Load", round 6), and decompresses in about a third of
//!   inflate's time.
//!
//! The binary item leaves out what the record's key already says (the source and the
//! item's key: the key is `source \0 key`, and a link equal to the key), and what
//! lives in trees of its own (the classification in `items_class`; the incident an
//! item belongs to in `incident_items`, which the ledger writes in the transaction
//! that attaches it). Integers are LEB128 varints, times seconds (zigzag) and
//! nanoseconds, strings a varint length and UTF-8:
//!
//! ```text
//! flags u8: 1 link present, 2 link = key, 4 published present, 8 date quality
//!           present, 16 date quality implausible, 32 updated_at ≠ first_seen,
//!           64 incident present, 128 title and body in GB18030
//! first_seen, [updated_at], [published], revisions, [incident],
//! title, [link], body (the rest of the record, no length)
//! ```
//!
//! Title and body are GB18030 when they read back from it exactly (nearly all text;
//! encoding_rs's GB18030 cannot encode U+E5E5, and writes 18 other private-use
//! characters with the codes of standard ones: such an item stays UTF-8): a
//! common Han character takes 2 bytes instead of UTF-8's 3, and the record compresses
//! to about a fifth less (docs/performance.md, "Disk"; zstd on the inews tuning
//! texts: 20 % less, "Load" round 7). They are encoded in one pass into buffers the
//! encoder keeps, and decoded back to be checked only when they hold a character of
//! U+E000–U+EFFF, the only ones that may not read back ([`put_gb18030`]).
//!
//! A classification's record in `items_class` is its JSON (format 2–3, starts with
//! `{`) or [`BINARY`] followed by:
//!
//! ```text
//! flags u8: 1 flag, 2 local, 4 severity, 8 deaths, 16 injured, 32 seriously
//!           injured, 64 unit, 128 government
//! [severity rank u8], [deaths], [injured], [seriously injured],
//! score f64, confidence f64 (little-endian), topics, places (a count, then strings),
//! [unit], [government], matches (a count, then term and topic)
//! ```
//!
//! A new field means a new first byte (5, …); readers keep every older layout.

use chrono::DateTime;

use super::{Result, StoreError, decode};
use crate::model::{Classification, DateQuality, IncidentId, Item, Level, TermMatch, Timestamp};

/// First byte of a deflated JSON item record (formats 2–3).
pub(super) const DEFLATED: u8 = 1;
/// First byte of a binary record (items and classifications).
pub(super) const BINARY: u8 = 2;
/// First byte of a deflated binary item record (formats 4–5).
pub(super) const BINARY_DEFLATED: u8 = 3;
/// First byte of a zstd-compressed binary item record (format 6).
pub(super) const BINARY_ZSTD: u8 = 4;

/// zstd level of item records. On the ingest bench's news items (docs/performance.md
/// "Load", round 6) level 1 gives 1,053 B a record, 2 gives 1,028 B, 3 1,025 B, at
/// 1.0, 1.15 and 1.4 times level 1's CPU; deflate (level 1) gave 979 B at 3 times it.
const ZSTD_LEVEL: i32 = 2;

/// The largest item record decompressed: far beyond any item the intake stores
/// (`[intake] max_body_bytes`), so only a damaged record reaches it.
const MAX_RECORD: usize = 1 << 30;

const LINK: u8 = 1;
const LINK_IS_KEY: u8 = 2;
const PUBLISHED: u8 = 4;
const QUALITY: u8 = 8;
const IMPLAUSIBLE: u8 = 16;
const UPDATED: u8 = 32;
const INCIDENT: u8 = 64;
const GB18030: u8 = 128;

const FLAG: u8 = 1;
const LOCAL: u8 = 2;
const SEVERITY: u8 = 4;
const DEATHS: u8 = 8;
const INJURED: u8 = 16;
const SERIOUSLY: u8 = 32;
const UNIT: u8 = 64;
const GOVERNMENT: u8 = 128;

/// An item's stored record: binary, compressed when that is smaller. Its source and
/// key are the record's key; its classification is not part of it (see the module
/// docs). One record: [`ItemEncoder`] encodes many with one compression context.
pub(super) fn encode_item(item: &Item) -> Vec<u8> {
    ItemEncoder::new().encode(item)
}

/// Encodes item records with one zstd compression context, made once for a poll's
/// items rather than once per item, and buffers kept from one record to the next.
pub(super) struct ItemEncoder {
    /// `None` if zstd could not make a context (out of memory): records are then
    /// stored uncompressed, which every reader takes.
    compressor: Option<zstd::bulk::Compressor<'static>>,
    /// The record's binary layout, before compression.
    layout: Vec<u8>,
    /// Its zstd frame.
    frame: Vec<u8>,
    /// Title and body in GB18030.
    title: Vec<u8>,
    body: Vec<u8>,
}

impl ItemEncoder {
    pub(super) fn new() -> ItemEncoder {
        ItemEncoder {
            compressor: zstd::bulk::Compressor::new(ZSTD_LEVEL).ok(),
            layout: Vec::new(),
            frame: Vec::new(),
            title: Vec::new(),
            body: Vec::new(),
        }
    }

    /// An item's stored record, as [`encode_item`]: [`BINARY_ZSTD`] when the frame
    /// is shorter than the binary layout, else [`BINARY`].
    pub(super) fn encode(&mut self, item: &Item) -> Vec<u8> {
        self.title.clear();
        self.body.clear();
        let gb18030 =
            put_gb18030(&mut self.title, &item.title) && put_gb18030(&mut self.body, &item.body);
        let text = if gb18030 {
            Some((self.title.as_slice(), self.body.as_slice()))
        } else {
            None
        };
        binary_record(item, text, &mut self.layout);
        // Room for a frame shorter than the layout at least (the buffer is reused, so
        // it may hold more from an earlier record): a frame that would not fit stops at
        // the end of the room (an error); one that fits but is not shorter than the
        // layout is not kept either, and the layout is stored as it is.
        self.frame.clear();
        self.frame.reserve(self.layout.len().saturating_sub(1));
        let packed = self
            .compressor
            .as_mut()
            .is_some_and(|c| c.compress_to_buffer(&self.layout, &mut self.frame).is_ok())
            && self.frame.len() < self.layout.len();
        let (tag, payload) = if packed {
            (BINARY_ZSTD, &self.frame)
        } else {
            (BINARY, &self.layout)
        };
        let mut record = Vec::with_capacity(payload.len() + 1);
        record.push(tag);
        record.extend_from_slice(payload);
        record
    }
}

/// An item's record as formats 4–5 wrote it (binary, deflated), for the tests that
/// read such records.
#[cfg(test)]
pub(super) fn deflated_record(item: &Item) -> Vec<u8> {
    let mut layout = Vec::new();
    binary_record(item, None, &mut layout);
    let deflated = miniz_oxide::deflate::compress_to_vec(&layout, 1);
    [&[BINARY_DEFLATED], deflated.as_slice()].concat()
}

/// Writes an item's binary layout (the module docs), before compression, into `out`
/// (cleared first): title and body as `gb18030` gives them (flag [`GB18030`]), else
/// UTF-8.
fn binary_record(item: &Item, gb18030: Option<(&[u8], &[u8])>, out: &mut Vec<u8>) {
    let mut flags = 0;
    if let Some(link) = &item.link {
        flags |= if *link == item.key { LINK_IS_KEY } else { LINK };
    }
    if item.published.is_some() {
        flags |= PUBLISHED;
    }
    match item.date_quality {
        Some(DateQuality::Credible) => flags |= QUALITY,
        Some(DateQuality::Implausible) => flags |= QUALITY | IMPLAUSIBLE,
        None => {}
    }
    if item.updated_at != item.first_seen {
        flags |= UPDATED;
    }
    if item.incident.is_some() {
        flags |= INCIDENT;
    }
    let (title, body) = match gb18030 {
        Some(text) => {
            flags |= GB18030;
            text
        }
        None => (item.title.as_bytes(), item.body.as_bytes()),
    };
    out.clear();
    out.reserve(title.len() + body.len() + 48);
    out.push(flags);
    put_time(out, item.first_seen);
    if flags & UPDATED != 0 {
        put_time(out, item.updated_at);
    }
    if let Some(published) = item.published {
        put_time(out, published);
    }
    put_varint(out, u64::from(item.revisions));
    if let Some(incident) = item.incident {
        put_varint(out, incident);
    }
    put_bytes(out, title);
    if flags & LINK != 0 {
        put_str(out, item.link.as_deref().unwrap_or_default());
    }
    out.extend_from_slice(body);
}

/// Appends `text` in GB18030 to `out`, in one pass; false, with `out` as it was, if
/// it would not read back exactly (a character without a GB18030 code in
/// encoding_rs, U+E5E5, or one of the 18 private-use characters of U+E78D–U+E864 whose
/// code GB18030-2022 gave to a standard character: U+E78D is written A6 D9, which
/// reads back as U+FE10). All of these are in U+E000–U+EFFF, the only characters
/// whose UTF-8 starts with the byte 0xEE: text without that byte is not decoded back
/// to be checked, as the test `gb18030_reads_back_exactly_outside_e000_to_efff`
/// shows for every Unicode scalar value, all of them in one text.
fn put_gb18030(out: &mut Vec<u8>, text: &str) -> bool {
    let mut encoder = encoding_rs::GB18030.new_encoder();
    let Some(room) = encoder.max_buffer_length_from_utf8_without_replacement(text.len()) else {
        return false;
    };
    let start = out.len();
    out.resize(start + room, 0);
    let (result, _, written) =
        encoder.encode_from_utf8_without_replacement(text, &mut out[start..], true);
    out.truncate(start + written);
    let exact = result == encoding_rs::EncoderResult::InputEmpty
        && (!text.as_bytes().contains(&0xEE)
            || encoding_rs::GB18030
                .decode_without_bom_handling_and_without_replacement(&out[start..])
                .as_deref()
                == Some(text));
    if !exact {
        out.truncate(start);
    }
    exact
}

/// Title or body as stored: GB18030 or UTF-8 (flag [`GB18030`]).
fn text_of(bytes: &[u8], flags: u8) -> Option<String> {
    if flags & GB18030 != 0 {
        encoding_rs::GB18030
            .decode_without_bom_handling_and_without_replacement(bytes)
            .map(std::borrow::Cow::into_owned)
    } else {
        std::str::from_utf8(bytes).ok().map(str::to_string)
    }
}

/// Reads an item's stored record of any layout; `key` is the record's key
/// (`source \0 key`). The error names the item.
pub(super) fn decode_item(key: &[u8], bytes: &[u8], what: impl Fn() -> String) -> Result<Item> {
    match bytes.split_first() {
        Some((&DEFLATED, deflated)) => decode(&inflate(deflated, &what)?, what),
        Some((&BINARY, binary)) => binary_item(key, binary).ok_or_else(|| corrupt(what())),
        Some((&BINARY_DEFLATED, deflated)) => {
            binary_item(key, &inflate(deflated, &what)?).ok_or_else(|| corrupt(what()))
        }
        Some((&BINARY_ZSTD, frame)) => {
            binary_item(key, &unzstd(frame, &what)?).ok_or_else(|| corrupt(what()))
        }
        _ => decode(bytes, what),
    }
}

fn inflate(deflated: &[u8], what: impl Fn() -> String) -> Result<Vec<u8>> {
    miniz_oxide::inflate::decompress_to_vec_with_limit(deflated, MAX_RECORD)
        .map_err(|err| invalid(what(), format!("deflated record: {err}")))
}

/// A zstd frame's content, of the size its header states (at most [`MAX_RECORD`]).
fn unzstd(frame: &[u8], what: impl Fn() -> String) -> Result<Vec<u8>> {
    let size = match zstd::zstd_safe::get_frame_content_size(frame) {
        Ok(Some(size)) => usize::try_from(size).unwrap_or(usize::MAX),
        _ => return Err(invalid(what(), "zstd record: no content size".into())),
    };
    if size > MAX_RECORD {
        return Err(invalid(what(), format!("zstd record: {size} bytes")));
    }
    // The size comes from the frame's header: a damaged one may claim up to
    // MAX_RECORD, so the buffer is reserved fallibly (an error, not an abort, where
    // memory is limited).
    let mut out = Vec::new();
    if out.try_reserve_exact(size).is_err() {
        return Err(invalid(
            what(),
            format!("zstd record: header says {size} bytes, more than can be reserved"),
        ));
    }
    match zstd::zstd_safe::decompress(&mut out, frame) {
        Ok(n) if n == size => Ok(out),
        Ok(n) => Err(invalid(
            what(),
            format!("zstd record: {n} bytes, header says {size}"),
        )),
        Err(code) => Err(invalid(
            what(),
            format!("zstd record: {}", zstd::zstd_safe::get_error_name(code)),
        )),
    }
}

fn binary_item(key: &[u8], bytes: &[u8]) -> Option<Item> {
    let key = std::str::from_utf8(key).ok()?;
    let (source, item_key) = key.split_once('\0')?;
    let mut r = Reader(bytes);
    let flags = r.byte()?;
    let first_seen = r.time()?;
    let updated_at = if flags & UPDATED != 0 {
        r.time()?
    } else {
        first_seen
    };
    let published = match flags & PUBLISHED {
        0 => None,
        _ => Some(r.time()?),
    };
    let revisions = u32::try_from(r.varint()?).ok()?;
    let incident: Option<IncidentId> = match flags & INCIDENT {
        0 => None,
        _ => Some(r.varint()?),
    };
    let title = r.bytes()?;
    let title = text_of(title, flags)?;
    let link = if flags & LINK != 0 {
        Some(r.str()?.to_string())
    } else if flags & LINK_IS_KEY != 0 {
        Some(item_key.to_string())
    } else {
        None
    };
    let body = text_of(r.0, flags)?;
    let date_quality = match (flags & QUALITY != 0, flags & IMPLAUSIBLE != 0) {
        (false, _) => None,
        (true, false) => Some(DateQuality::Credible),
        (true, true) => Some(DateQuality::Implausible),
    };
    Some(Item {
        source: source.to_string(),
        key: item_key.to_string(),
        title,
        link,
        body,
        published,
        date_quality,
        first_seen,
        updated_at,
        revisions,
        classification: None,
        incident,
    })
}

/// A classification's stored record, binary (see the module docs).
pub(super) fn encode_class(class: &Classification) -> Vec<u8> {
    let mut flags = 0;
    for (on, bit) in [
        (class.flag, FLAG),
        (class.local, LOCAL),
        (class.severity.is_some(), SEVERITY),
        (class.deaths.is_some(), DEATHS),
        (class.injured.is_some(), INJURED),
        (class.seriously_injured.is_some(), SERIOUSLY),
        (class.unit.is_some(), UNIT),
        (class.government.is_some(), GOVERNMENT),
    ] {
        if on {
            flags |= bit;
        }
    }
    let mut out = vec![BINARY, flags];
    if let Some(level) = class.severity {
        out.push(level.rank());
    }
    for n in [class.deaths, class.injured, class.seriously_injured]
        .into_iter()
        .flatten()
    {
        put_varint(&mut out, u64::from(n));
    }
    out.extend_from_slice(&class.score.to_le_bytes());
    out.extend_from_slice(&class.confidence.to_le_bytes());
    for list in [&class.topics, &class.places] {
        put_varint(&mut out, list.len() as u64);
        for s in list {
            put_str(&mut out, s);
        }
    }
    for s in [&class.unit, &class.government].into_iter().flatten() {
        put_str(&mut out, s);
    }
    put_varint(&mut out, class.matches.len() as u64);
    for m in &class.matches {
        put_str(&mut out, &m.term);
        put_str(&mut out, &m.topic);
    }
    out
}

/// Reads a classification's stored record, binary or JSON, naming it in the error.
pub(super) fn decode_class(bytes: &[u8], what: impl FnOnce() -> String) -> Result<Classification> {
    match bytes.split_first() {
        Some((&BINARY, binary)) => binary_class(binary).ok_or_else(|| corrupt(what())),
        _ => decode(bytes, what),
    }
}

fn binary_class(bytes: &[u8]) -> Option<Classification> {
    let mut r = Reader(bytes);
    let flags = r.byte()?;
    let severity = match flags & SEVERITY {
        0 => None,
        _ => Some(level_of_rank(r.byte()?)?),
    };
    let mut count = |bit: u8| -> Option<Option<u32>> {
        if flags & bit == 0 {
            return Some(None);
        }
        Some(Some(u32::try_from(r.varint()?).ok()?))
    };
    let (deaths, injured, seriously_injured) = (count(DEATHS)?, count(INJURED)?, count(SERIOUSLY)?);
    let score = r.f64()?;
    let confidence = r.f64()?;
    let topics = r.strings()?;
    let places = r.strings()?;
    let unit = match flags & UNIT {
        0 => None,
        _ => Some(r.str()?.to_string()),
    };
    let government = match flags & GOVERNMENT {
        0 => None,
        _ => Some(r.str()?.to_string()),
    };
    let matches = (0..r.varint()?)
        .map(|_| {
            Some(TermMatch {
                term: r.str()?.to_string(),
                topic: r.str()?.to_string(),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    r.0.is_empty().then_some(Classification {
        flag: flags & FLAG != 0,
        topics,
        severity,
        deaths,
        injured,
        seriously_injured,
        places,
        local: flags & LOCAL != 0,
        unit,
        government,
        score,
        confidence,
        matches,
    })
}

fn level_of_rank(rank: u8) -> Option<Level> {
    [Level::Watch, Level::IV, Level::III, Level::II, Level::I]
        .into_iter()
        .find(|level| level.rank() == rank)
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_time(out: &mut Vec<u8>, t: Timestamp) {
    let secs = t.timestamp();
    put_varint(out, ((secs << 1) ^ (secs >> 63)) as u64);
    put_varint(out, u64::from(t.timestamp_subsec_nanos()));
}

/// The unread rest of a binary record; every read is `None` past its end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f).checked_shl(shift)?;
            if b & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }

    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..len)?, self.0.get(len..)?);
        self.0 = rest;
        Some(head)
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        self.take(len)
    }

    fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }

    fn strings(&mut self) -> Option<Vec<String>> {
        (0..self.varint()?)
            .map(|_| self.str().map(str::to_string))
            .collect()
    }

    fn f64(&mut self) -> Option<f64> {
        Some(f64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn time(&mut self) -> Option<Timestamp> {
        let zigzag = self.varint()?;
        let secs = (zigzag >> 1) as i64 ^ -((zigzag & 1) as i64);
        let nanos = u32::try_from(self.varint()?).ok()?;
        DateTime::from_timestamp(secs, nanos)
    }
}

/// A record that does not decode, as [`StoreError::Corrupt`].
fn invalid(what: String, why: String) -> StoreError {
    StoreError::Corrupt {
        what,
        source: why.into(),
    }
}

fn corrupt(what: String) -> StoreError {
    invalid(what, "binary record truncated or invalid".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::encode as json_class;

    fn item(link: Option<&str>) -> Item {
        let seen: Timestamp = "2026-12-06T08:00:00.123456789Z".parse().unwrap();
        Item {
            source: "s".into(),
            key: "https://example.org/1".into(),
            title: "县人社局开展就业援助月专项活动".into(),
            link: link.map(str::to_string),
            body: "为就业困难人员送政策、送岗位、送服务。".repeat(3),
            published: Some("1999-01-01T00:00:00Z".parse().unwrap()),
            date_quality: Some(DateQuality::Implausible),
            first_seen: seen,
            updated_at: seen + chrono::Duration::seconds(90),
            revisions: 2,
            classification: None,
            incident: Some(300),
        }
    }

    /// An item of a few bytes, whose record compression would only make longer.
    fn short() -> Item {
        let seen = DateTime::from_timestamp(1_765_000_000, 0).unwrap();
        Item {
            title: "短".into(),
            ..Item::bare("s", "https://example.org/1", seen)
        }
    }

    /// Every field comes back as it was, whatever the link, and a short record is
    /// not compressed.
    #[test]
    fn an_item_round_trips_through_its_binary_record() {
        let key = b"s\0https://example.org/1";
        for link in [
            Some("https://example.org/1"),
            Some("https://example.org/other"),
            None,
        ] {
            let item = item(link);
            let record = encode_item(&item);
            assert_eq!(decode_item(key, &record, String::new).unwrap(), item);
        }
        let short = short();
        let record = encode_item(&short);
        assert_eq!(record[0], BINARY, "{record:?}");
        assert_eq!(decode_item(key, &record, String::new).unwrap(), short);
        let long = encode_item(&item(None));
        assert_eq!(long[0], BINARY_ZSTD);
    }

    /// One encoder for many records writes each as a fresh one would: compressed
    /// when that is smaller, whatever the record before it was; each reads back.
    #[test]
    fn an_encoder_reused_writes_what_a_fresh_one_writes() {
        let key = b"s\0https://example.org/1";
        let long = Item {
            body: "县人社局开展就业援助月专项活动，为就业困难人员送政策、送岗位。".repeat(40),
            ..item(None)
        };
        let mut encoder = ItemEncoder::new();
        let items = [
            item(None),
            short(),
            long,
            item(Some("https://example.org/2")),
            short(),
        ];
        let records: Vec<Vec<u8>> = items.iter().map(|i| encoder.encode(i)).collect();
        let tags: Vec<u8> = records.iter().map(|r| r[0]).collect();
        assert_eq!(
            tags,
            [BINARY_ZSTD, BINARY, BINARY_ZSTD, BINARY_ZSTD, BINARY]
        );
        for (item, record) in items.iter().zip(&records) {
            assert_eq!(record, &encode_item(item));
            assert_eq!(&decode_item(key, record, String::new).unwrap(), item);
        }
    }

    /// The deflated binary records of formats 4–5 read as they were written; a
    /// damaged zstd record is an error naming the item, never a panic.
    #[test]
    fn deflated_records_read_and_damaged_frames_are_errors() {
        let key = b"s\0https://example.org/1";
        let item = item(None);
        let deflated = deflated_record(&item);
        assert_eq!(decode_item(key, &deflated, String::new).unwrap(), item);
        let record = encode_item(&item);
        let what = || "item s/1".to_string();
        for damaged in [
            record[..record.len() / 2].to_vec(),
            vec![BINARY_ZSTD],
            vec![BINARY_ZSTD, 0x28, 0xb5, 0x2f, 0xfd],
        ] {
            let err = decode_item(key, &damaged, what).unwrap_err();
            assert!(
                matches!(err, StoreError::Corrupt { .. }) && err.to_string().contains("item s/1"),
                "{err}"
            );
        }
    }

    /// Chinese text is stored in GB18030, two bytes a common character; text that
    /// GB18030 does not give back exactly stays UTF-8; either way every character
    /// comes back.
    #[test]
    fn text_is_gb18030_when_it_round_trips() {
        let gb18030 = |text: &str| {
            let mut out = b"kept".to_vec();
            put_gb18030(&mut out, text).then_some(out)
        };
        assert_eq!(gb18030("县人社局").map(|o| o.len()), Some(4 + 8));
        assert_eq!(gb18030("").as_deref(), Some(b"kept".as_slice()));
        assert_eq!(gb18030("a€😀").map(|o| o.len()), Some(4 + 1 + 2 + 4));
        assert!(gb18030("私用区\u{E5E5}").is_none());
        assert!(gb18030("竖排\u{E78D}").is_none());
        let key = b"s\0https://example.org/1";
        for body in [
            "县人社局开展“就业援助月”专项活动",
            "表情😀、欧元€、\u{80}与私用区\u{E5E5}",
            "私用区\u{E78D}与\u{FE10}、\u{E000}",
            "plain ASCII",
            "",
        ] {
            for title in ["标题", "\u{E5E5}"] {
                let item = Item {
                    title: title.into(),
                    body: body.into(),
                    ..item(None)
                };
                let record = encode_item(&item);
                assert_eq!(decode_item(key, &record, String::new).unwrap(), item);
            }
        }
    }

    /// What lets the encoder skip decoding its output to check it: every Unicode
    /// scalar value outside U+E000–U+EFFF has a GB18030 code that decodes back to
    /// it, all of them written one after the other in one text (so no code runs into
    /// the next). Inside that range the check is needed, and made.
    #[test]
    fn gb18030_reads_back_exactly_outside_e000_to_efff() {
        let private = '\u{E000}'..='\u{EFFF}';
        assert!(private.clone().all(|c| c.to_string().as_bytes()[0] == 0xEE));
        let mut text = String::new();
        let mut refused = Vec::new();
        let (mut one, mut scratch) = (String::new(), Vec::new());
        for c in (0..=0x10_FFFF).filter_map(char::from_u32) {
            one.clear();
            one.push(c);
            scratch.clear();
            if !put_gb18030(&mut scratch, &one) {
                refused.push(c);
            } else if !private.contains(&c) {
                text.push(c);
            }
        }
        // U+E5E5 has no code; the other 18 are written with codes that read back as
        // the standard characters GB18030-2022 gave them to.
        assert_eq!(refused.len(), 19, "{refused:X?}");
        assert!(refused.iter().all(|c| private.contains(c)));
        assert!(refused.contains(&'\u{E5E5}') && refused.contains(&'\u{E78D}'));
        let mut encoded = Vec::new();
        assert!(put_gb18030(&mut encoded, &text));
        let back = encoding_rs::GB18030
            .decode_without_bom_handling_and_without_replacement(&encoded)
            .expect("GB18030 output decodes");
        assert!(back == text, "a character did not read back");
    }

    #[test]
    fn a_classification_round_trips_and_is_smaller_than_its_json() {
        let full = Classification {
            flag: true,
            topics: vec!["safety.accident".into(), "labor".into()],
            severity: Some(Level::II),
            deaths: Some(3),
            injured: Some(0),
            seriously_injured: None,
            places: vec!["青石镇".into()],
            local: true,
            unit: Some("县应急管理局".into()),
            government: Some("青石镇人民政府".into()),
            score: 0.875,
            confidence: 0.61,
            matches: vec![TermMatch {
                term: "坍塌".into(),
                topic: "safety.accident".into(),
            }],
        };
        for class in [full, Classification::default()] {
            let record = encode_class(&class);
            assert!(record.len() * 2 < json_class(&class).len(), "{record:?}");
            assert_eq!(decode_class(&record, String::new).unwrap(), class);
            assert_eq!(
                decode_class(&json_class(&class), String::new).unwrap(),
                class
            );
        }
    }

    /// A record cut short, or with bytes left over, is an error naming it, never a
    /// panic or a half-read value.
    #[test]
    fn damaged_binary_records_are_errors() {
        let key = b"s\0https://example.org/1";
        let whole = encode_item(&short());
        assert_eq!(whole[0], BINARY);
        for cut in 1..whole.len() {
            let err = decode_item(key, &whole[..cut], || "item s/k".into());
            assert!(
                err.as_ref()
                    .is_err_and(|e| e.to_string().contains("item s/k")),
                "cut at {cut}: {err:?}"
            );
        }
        assert!(decode_item(b"no separator", &whole, String::new).is_err());
        let class = encode_class(&Classification {
            unit: Some("县应急管理局".into()),
            ..Default::default()
        });
        for cut in 1..class.len() {
            assert!(
                decode_class(&class[..cut], String::new).is_err(),
                "cut at {cut}"
            );
        }
        let mut longer = class.clone();
        longer.push(0);
        assert!(decode_class(&longer, String::new).is_err());
        assert!(decode_class(&[BINARY, SEVERITY, 9], String::new).is_err());
    }
}
