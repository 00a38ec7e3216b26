//! The learned alert decision: a logistic regression over hashed features, trained on
//! hand-labelled real text by `cargo run --release --example train` (see
//! `docs/classify.md`), its weights shipped as `dictionaries/model.txt`.
//!
//! The dictionaries find the candidates (an item with no kept topic is never flagged)
//! and explain them (`matches`); for a candidate, the model decides whether it reports a
//! problem an office must answer for, or is commentary, a retrospective, advice, an
//! advertisement or a routine report, and gives a calibrated probability
//! (`confidence`). Features are cheap and need no extra segmentation: character
//! bigrams of the title and of the opening of the body, the dictionary evidence
//! (problem, harm, grievance and routine scores, where they were found), the matched
//! terms, the primary topic and whether casualties are stated.
//!
//! File format (`model.txt`, text, `#` comments): a head of `features L` (the feature
//! layout, [`FEATURES`]; a file of another layout is refused), `bits N` (feature space
//! 2^N) and `prior P` (the confidence of an item with no candidate topic); then two
//! sections, `section news` and `section board` (issue 14, seventeenth session), each the
//! flag model of one [`ReportKind`]: `bias B`, `platt A C` (calibration: p = σ(A·z + C)
//! for the raw score z), `threshold T` (flag when p ≥ T), then one `index weight` line
//! per feature. News (and emergency reports) and residents' board posts are different
//! texts: the board model, trained on board posts only, makes 15–20 % fewer false board
//! alerts at the same recall than one model fitted on both (`tests/eval/README.md`,
//! seventeenth session). One file, not a file per kind: the two models are trained
//! together, share the head, and can never be shipped out of step. A file of the layout
//! before the sections (one set of weights, optional `platt_board`/`threshold_board`) is
//! refused with a request to retrain: its weights were fitted on both kinds.
//!
//! Scoring costs what it did with one model: the item's kind picks the section's
//! weights once ([`Model::kind`]), and the features are weighed against them alone.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::ClassifyError;
use super::casualty::Casualties;
use crate::model::TermMatch;

/// Characters of the body (after the title) whose bigrams are features: the lede says
/// what kind of text it is.
const BODY_CHARS: usize = 300;
/// Largest feature space a model file may ask for (2^22 weights, 16 MiB).
const MAX_BITS: u32 = 22;
/// The feature layout: how features are indexed. A weight file names the layout it was
/// trained on (`features N`) and is refused under another, whose indexes would read its
/// weights as noise. 2: bigrams by one multiplication ([`bigram_index`]) and named with a
/// ranking candidate by one xor; 1 (files without the line): FNV-1a over their bytes.
pub const FEATURES: u32 = 2;

/// One feature: (hashed index, value).
pub type Feature = (u32, f32);

/// What the rule-based reading found, as input to the model.
pub(crate) struct Signals<'a> {
    /// Normalized title, `\n`, normalized body.
    pub text: &'a str,
    pub title_end: usize,
    /// The bigrams of the title and the lede ([`lede_bigrams`] of `text`).
    pub grams: &'a [Feature],
    /// Event terms of the kept topics + harm + grievance cues.
    pub problem: f64,
    pub harm: f64,
    pub grievance: f64,
    pub routine: f64,
    /// Score of the best topic.
    pub best: f64,
    pub title_problem: bool,
    pub title_routine: bool,
    pub official: bool,
    pub title_official: bool,
    /// The dictionary rule's own decision (taxonomy.md's flag rule, as cues).
    pub rule_flag: bool,
    pub topics: &'a [String],
    pub matches: &'a [TermMatch],
    pub casualties: &'a Casualties,
}

/// FNV-1a: the state `h` carried on over `bytes`.
fn fnv(mut h: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// FNV-1a over a feature name, kind byte first.
fn hash(kind: u8, name: &[u8]) -> u32 {
    fnv(fnv(0x811c_9dc5, &[kind]), name)
}

fn flag_value(b: bool) -> f32 {
    if b { 1.0 } else { 0.0 }
}

/// The index of bigram `a b` of one part of the text (`kind`: `T` the title, `B` the
/// lede) starts as this key: the kind and the first code point (a char has 21 bits) in a
/// u64, the second code point below them ([`bigram_index`]).
fn bigram_key(kind: u8, a: char) -> u64 {
    u64::from(kind) << 42 | u64::from(a) << 21
}

/// The index of the bigram [`bigram_key`] starts, ending in `b`: the key mixed by one
/// multiplication by 2^64/φ, the product's top 24 bits (Fibonacci hashing; the model's
/// space is at most 2^[`MAX_BITS`]). Feature layout 2 ([`FEATURES`]): layout 1 ran FNV-1a
/// over the kind and the bigram's UTF-8 bytes, six multiplications and a re-encoding of
/// the code point for every character. Spread (colliding pairs at 2^18): the corpus's
/// 236,674 distinct bigrams 105,702 (FNV-1a 106,612; a random function 106,839 on
/// average); all 80,000 title and lede bigrams of 200 consecutive CJK characters 90
/// (random 12,207). The product's bits 32–49 instead collided 30,329 times on the latter:
/// below bit 42 they do not depend on the kind. The test
/// `bigram_indexes_spread_at_least_as_a_random_function` checks both.
fn bigram_index(key: u64, b: char) -> u32 {
    ((key | u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as u32
}

/// Bigrams of `chars` (digits folded to 0, whitespace skipped), indexed by
/// [`bigram_index`].
fn bigrams(kind: u8, chars: impl Iterator<Item = char>, out: &mut Vec<Feature>) {
    // The key of the bigram that the previous character starts.
    let mut prev: Option<u64> = None;
    for c in chars {
        let c = if c.is_ascii_digit() { '0' } else { c };
        if c.is_whitespace() {
            prev = None;
            continue;
        }
        if let Some(key) = prev {
            out.push((bigram_index(key, c), 1.0));
        }
        prev = Some(bigram_key(kind, c));
    }
}

/// The bigrams of the title and of the body's first [`BODY_CHARS`] characters
/// (`text`: title, `\n`, body): the text features of the alert model and, named with
/// each candidate, of the topic ranker. Built once per item for both.
pub(crate) fn lede_bigrams(text: &str, title_end: usize) -> Vec<Feature> {
    let title = &text[..title_end];
    let body = text.get(title_end + 1..).unwrap_or("");
    let mut grams = Vec::with_capacity(2 * (title.len() / 3 + BODY_CHARS));
    bigrams(b'T', title.chars(), &mut grams);
    bigrams(b'B', body.chars().take(BODY_CHARS), &mut grams);
    grams
}

/// Gives `add` each feature of one reading, unmasked (the model masks to its size), in
/// the order [`features`] lists them: an index may come more than once (a repeated
/// bigram). What both the training's feature vector and the daemon's score are built
/// from.
fn each_feature(s: &Signals<'_>, mut add: impl FnMut(u32, f32)) {
    let body = s.text.get(s.title_end + 1..).unwrap_or("");
    for &(i, v) in s.grams {
        add(i, v);
    }
    let named = |name: &[u8]| hash(b'd', name);
    let log = |x: f64| (1.0 + x.max(0.0)).ln() as f32;
    add(named(b"bias-candidate"), 1.0);
    add(named(b"problem"), log(s.problem));
    add(named(b"harm"), log(s.harm));
    add(named(b"grievance"), log(s.grievance));
    add(named(b"routine"), log(s.routine));
    add(named(b"best"), log(s.best));
    add(
        named(b"routine>=problem"),
        flag_value(s.routine >= s.problem),
    );
    add(named(b"title-problem"), flag_value(s.title_problem));
    add(named(b"title-routine"), flag_value(s.title_routine));
    add(named(b"official"), flag_value(s.official));
    add(named(b"title-official"), flag_value(s.title_official));
    add(named(b"rule-flag"), flag_value(s.rule_flag));
    add(named(b"topics"), s.topics.len() as f32);
    add(
        named(b"deaths"),
        flag_value(s.casualties.deaths.is_some_and(|d| d > 0)),
    );
    add(
        named(b"injured"),
        flag_value(s.casualties.injured.is_some_and(|d| d > 0)),
    );
    add(
        named(b"short-body"),
        flag_value(body.chars().nth(80).is_none()),
    );
    // More than 3,000 characters (a count of the bytes that start one, not a walk).
    add(
        named(b"long-body"),
        flag_value(body.len() > 3000 && body.chars().count() > 3000),
    );
    if let Some(primary) = s.topics.first() {
        // The name `primary=<topic>` hashed in parts (FNV-1a is a left fold over the
        // bytes), without building the string.
        add(fnv(named(b"primary="), primary.as_bytes()), 1.0);
    }
    for m in s.matches {
        add(hash(b'm', m.term.as_bytes()), 1.0);
    }
}

/// The feature vector of one reading ([`each_feature`], in that order). [`sorted`]
/// gives each index once, in order; [`KindModel::probability`] takes it as it is.
pub(crate) fn features(s: &Signals<'_>) -> Vec<Feature> {
    let mut out: Vec<Feature> = Vec::with_capacity(s.grams.len() + 64);
    each_feature(s, |i, v| out.push((i, v)));
    out
}

/// Features sorted by index, each index once (the first of equal ones kept).
pub(crate) fn sorted(mut features: Vec<Feature>) -> Vec<Feature> {
    features.sort_unstable_by_key(|f| f.0);
    features.dedup_by_key(|f| f.0);
    features
}

/// Sums the values of features with the same index; `features` sorted by index.
fn merge(mut features: Vec<Feature>) -> Vec<Feature> {
    features.dedup_by(|b, a| {
        if a.0 == b.0 {
            a.1 += b.1;
            true
        } else {
            false
        }
    });
    features
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// A weight file as written by `examples/train.rs`, or one section of it: `#` comments,
/// `key value…` header lines, then one `index weight` line per feature.
struct WeightFile<'a> {
    path: &'a Path,
    /// The section of the file these lines are (named in errors), if any.
    section: Option<&'a str>,
    header: HashMap<&'a str, (usize, Vec<f64>)>,
    entries: Vec<(usize, u32, f32)>,
}

impl<'a> WeightFile<'a> {
    fn err(&self, line: usize, message: String) -> ClassifyError {
        ClassifyError::Format {
            path: PathBuf::from(self.path),
            line,
            message: match self.section {
                Some(name) => format!("section {name}：{message}"),
                None => message,
            },
        }
    }

    /// Reads the lines of `text`, which starts at line `first` (0-based) of the file;
    /// `keys` are the header keys the lines may have (`expected` names them in the
    /// error).
    fn parse(
        text: &'a str,
        path: &'a Path,
        (first, section): (usize, Option<&'a str>),
        keys: &[&str],
        expected: &str,
    ) -> Result<WeightFile<'a>, ClassifyError> {
        let mut file = WeightFile {
            path,
            section,
            header: HashMap::new(),
            entries: Vec::new(),
        };
        for (n, line) in text.lines().enumerate() {
            let n = first + n;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let cols: Vec<&str> = line.split_whitespace().collect();
            let numbers = |cols: &[&str]| {
                cols.iter()
                    .map(|s| {
                        s.parse::<f64>()
                            .ok()
                            .filter(|v| v.is_finite())
                            .ok_or_else(|| file.err(n + 1, format!("“{s}”不是有效的数")))
                    })
                    .collect::<Result<Vec<f64>, _>>()
            };
            match cols[..] {
                [key, ..] if keys.contains(&key) => {
                    let values = numbers(&cols[1..])?;
                    file.header.insert(key, (n + 1, values));
                }
                [index, weight] if index.bytes().all(|b| b.is_ascii_digit()) => {
                    let index = index
                        .parse::<u32>()
                        .map_err(|_| file.err(n + 1, format!("特征序号“{index}”无效")))?;
                    let weight = numbers(&[weight])?[0] as f32;
                    file.entries.push((n + 1, index, weight));
                }
                _ => {
                    return Err(file.err(
                        n + 1,
                        format!("应为 {expected} 行或“特征序号 权重”；该文件由 cargo run --release --example train 生成，请勿手改"),
                    ));
                }
            }
        }
        Ok(file)
    }

    /// Whether the file has header line `key`.
    fn has(&self, key: &str) -> bool {
        self.header.contains_key(key)
    }

    /// The line number of header line `key` (0 when it is missing).
    fn line_of(&self, key: &str) -> usize {
        self.header.get(key).map_or(0, |(line, _)| *line)
    }

    /// The `count` values of header line `key`.
    fn get(&self, key: &str, count: usize) -> Result<Vec<f64>, ClassifyError> {
        match self.header.get(key) {
            Some((_, v)) if v.len() == count => Ok(v.clone()),
            Some((line, _)) => Err(self.err(*line, format!("{key} 行应有 {count} 个数"))),
            None => Err(self.err(
                0,
                format!("缺少 {key} 行；请用 cargo run --release --example train 重新生成"),
            )),
        }
    }

    /// The feature space (`bits`) and the weights placed in it; an error unless the
    /// file's layout is [`FEATURES`].
    fn weights(&self) -> Result<(u32, Vec<f32>), ClassifyError> {
        let bits = self.bits()?;
        Ok((bits, self.place(bits)?))
    }

    /// The feature space (`bits`); an error unless the file's layout is [`FEATURES`].
    fn bits(&self) -> Result<u32, ClassifyError> {
        let layout = if self.has("features") {
            self.get("features", 1)?[0]
        } else {
            1.0
        };
        if layout != f64::from(FEATURES) {
            return Err(self.err(
                self.line_of("features"),
                format!(
                    "特征版本 {layout} 与本程序的 {FEATURES} 不符，权重无法对应；请用 cargo run --release --example train 重新生成"
                ),
            ));
        }
        let bits = self.get("bits", 1)?[0];
        if !(1.0..=f64::from(MAX_BITS)).contains(&bits) || bits.fract() != 0.0 {
            return Err(self.err(0, format!("bits 应为 1～{MAX_BITS} 的整数")));
        }
        Ok(bits as u32)
    }

    /// The weights of the `index weight` lines placed in a space of 2^`bits`.
    fn place(&self, bits: u32) -> Result<Vec<f32>, ClassifyError> {
        let mut weights = vec![0.0f32; 1 << bits];
        for &(line, index, weight) in &self.entries {
            let slot = weights
                .get_mut(index as usize)
                .ok_or_else(|| self.err(line, format!("特征序号 {index} 超出 2^{bits}")))?;
            *slot = weight;
        }
        Ok(weights)
    }
}

/// Parses file `name` of the dictionary folder; `None` when the folder has none.
fn read_optional<T>(
    dir: &Path,
    name: &str,
    parse: fn(&str, &Path) -> Result<T, ClassifyError>,
) -> Result<Option<T>, ClassifyError> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text, &path).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ClassifyError::Read { path, source }),
    }
}

/// Weights as file lines, those of magnitude below `min_weight` left out.
fn weight_lines(weights: &[f32], min_weight: f32, out: &mut String) {
    for (i, w) in weights.iter().enumerate() {
        if w.abs() >= min_weight {
            out.push_str(&format!("{i} {w:.4}\n"));
        }
    }
}

fn comment_lines(comment: &str, out: &mut String) {
    for line in comment.lines() {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
}

/// What kind of report an item is, as its source says: each kind has its own flag model
/// ([`Model::kind`]). Residents' posts on a message board are complaints far more often
/// than news items with the same words (about four in five board candidates are alerts,
/// one in four news candidates), so one calibration fitted on both leaves board posts
/// under-confident, one threshold is a compromise that costs board recall, and one set of
/// weights makes more false board flags at the same recall.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReportKind {
    /// News, portals, official channels, anything not known to be a board.
    #[default]
    News,
    /// A message board (`board` in `feeds.toml`): residents' posts.
    Board,
}

impl ReportKind {
    /// `Board` for a message-board post, else `News`.
    pub fn from_board(board: bool) -> ReportKind {
        if board {
            ReportKind::Board
        } else {
            ReportKind::News
        }
    }
}

/// The calibration (p = σ(a·z + c) of the raw score z) and the flag threshold of one
/// report kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub platt: (f64, f64),
    pub threshold: f64,
}

/// The flag model of one report kind: its weights over the feature space, its bias and
/// its decision (a section of `model.txt`).
#[derive(Debug, Clone)]
pub struct KindModel {
    bits: u32,
    weights: Vec<f32>,
    bias: f64,
    decision: Decision,
}

/// A loaded model: the flag model of each report kind. See the module documentation for
/// the file format.
#[derive(Debug, Clone)]
pub struct Model {
    news: KindModel,
    board: KindModel,
    prior: f64,
}

/// The sections of `model.txt`, in the order they are written.
const SECTIONS: [&str; 2] = ["news", "board"];

impl Model {
    /// Reads `model.txt` from the dictionary folder; `None` when the folder has none
    /// (the dictionary rule then decides alone).
    pub(crate) fn load(dir: &Path) -> Result<Option<Model>, ClassifyError> {
        read_optional(dir, "model.txt", Model::parse)
    }

    fn parse(text: &str, path: &Path) -> Result<Model, ClassifyError> {
        // The head, then each `section NAME` line's lines: (first line, name, text).
        let mut parts: Vec<(usize, Option<&str>, &str)> = Vec::new();
        let (mut start, mut first, mut name) = (0, 0, None);
        let mut offset = 0;
        for (n, line) in text.split_inclusive('\n').enumerate() {
            if let Some(section) = line.trim().strip_prefix("section ") {
                parts.push((first, name, &text[start..offset]));
                (start, first, name) = (offset + line.len(), n + 1, Some(section.trim()));
            }
            offset += line.len();
        }
        parts.push((first, name, &text[start..]));
        let retrain = "请用 cargo run --release --example train 重新生成";
        if parts.len() == 1 {
            // The layout before the sections: one set of weights for both kinds.
            let line = text
                .lines()
                .position(|l| l.trim_start().starts_with("bias"))
                .map_or(0, |n| n + 1);
            return Err(ClassifyError::Format {
                path: PathBuf::from(path),
                line,
                message: format!(
                    "旧版模型（新闻与留言板共用一套权重）；本程序需要 section news 与 section board 两节，各有自己的权重；{retrain}"
                ),
            });
        }
        let head = WeightFile::parse(
            parts[0].2,
            path,
            (0, None),
            &["features", "bits", "prior"],
            "features/bits/prior",
        )?;
        let bits = head.bits()?;
        if let Some(&(line, _, _)) = head.entries.first() {
            return Err(head.err(
                line,
                format!("权重行应在 section news 或 section board 之内；{retrain}"),
            ));
        }
        let mut kinds: Vec<(&str, KindModel)> = Vec::new();
        for &(first, name, lines) in &parts[1..] {
            let name = name.unwrap_or_default();
            let file = WeightFile::parse(
                lines,
                path,
                (first, Some(name)),
                &["bias", "platt", "threshold"],
                "bias/platt/threshold",
            )?;
            if !SECTIONS.contains(&name) || kinds.iter().any(|k| k.0 == name) {
                return Err(head.err(
                    first,
                    format!("节名 {name} 无效或重复（应为 section news 与 section board 各一次）；{retrain}"),
                ));
            }
            let platt = file.get("platt", 2)?;
            kinds.push((
                name,
                KindModel {
                    bits,
                    weights: file.place(bits)?,
                    bias: file.get("bias", 1)?[0],
                    decision: Decision {
                        platt: (platt[0], platt[1]),
                        threshold: file.get("threshold", 1)?[0],
                    },
                },
            ));
        }
        let mut take = |name: &str| match kinds.iter().position(|k| k.0 == name) {
            Some(i) => Ok(kinds.swap_remove(i).1),
            None => Err(head.err(0, format!("缺少 section {name}；{retrain}"))),
        };
        Ok(Model {
            news: take("news")?,
            board: take("board")?,
            prior: head.get("prior", 1)?[0],
        })
    }

    /// A model of the flag models of news and of message-board posts (for the
    /// training example; both of one feature space).
    pub fn new(news: KindModel, board: KindModel, prior: f64) -> Model {
        assert_eq!(news.bits, board.bits, "both kinds in one feature space");
        Model { news, board, prior }
    }

    /// The file text, weights of magnitude below `min_weight` left out.
    pub fn to_text(&self, comment: &str, min_weight: f32) -> String {
        let mut out = String::new();
        comment_lines(comment, &mut out);
        out.push_str(&format!(
            "features {FEATURES}\nbits {}\nprior {:.4}\n",
            self.news.bits, self.prior
        ));
        for (name, kind) in SECTIONS.iter().zip([&self.news, &self.board]) {
            let Decision { platt, threshold } = kind.decision;
            out.push_str(&format!(
                "section {name}\nbias {:.6}\nplatt {:.6} {:.6}\nthreshold {:.4}\n",
                kind.bias, platt.0, platt.1, threshold
            ));
            weight_lines(&kind.weights, min_weight, &mut out);
        }
        out
    }

    /// The flag model that decides an item of `kind`.
    pub fn kind(&self, kind: ReportKind) -> &KindModel {
        match kind {
            ReportKind::News => &self.news,
            ReportKind::Board => &self.board,
        }
    }

    /// The confidence given to an item without a candidate topic.
    pub fn prior(&self) -> f64 {
        self.prior
    }
}

impl KindModel {
    /// A flag model from trained parts (for the training example; `weights` has
    /// 2^`bits` entries).
    pub fn from_parts(bits: u32, weights: Vec<f32>, bias: f64, decision: Decision) -> KindModel {
        assert_eq!(weights.len(), 1 << bits, "weights must have 2^bits entries");
        KindModel {
            bits,
            weights,
            bias,
            decision,
        }
    }

    /// Masks raw feature indexes to this model's space, merging collisions.
    pub fn mask(&self, features: &[Feature]) -> Vec<Feature> {
        let mask = (1u32 << self.bits) - 1;
        let mut out: Vec<Feature> = features.iter().map(|&(i, v)| (i & mask, v)).collect();
        out.sort_unstable_by_key(|f| f.0);
        merge(out)
    }

    /// The raw score z (before calibration) of masked features.
    pub fn score(&self, masked: &[Feature]) -> f64 {
        self.bias
            + masked
                .iter()
                .map(|&(i, v)| f64::from(self.weights[i as usize] * v))
                .sum::<f64>()
    }

    /// Calibrated probability of a raw score.
    pub fn calibrate(&self, z: f64) -> f64 {
        let (a, c) = self.decision.platt;
        sigmoid(a * z + c)
    }

    /// The calibration and threshold of this kind.
    pub fn decision(&self) -> Decision {
        self.decision
    }

    /// The calibrated probability of raw score `z`, and whether it is flagged (the
    /// probability at least the threshold).
    pub fn decide(&self, z: f64) -> (bool, f64) {
        let p = self.calibrate(z);
        (p >= self.decision.threshold, p)
    }

    /// Calibrated probability that an item with these (unmasked) features warrants an
    /// alert. `features` in any order, an index possibly repeated (as [`features`]
    /// builds them): a repeated index counts once, as in [`sorted`].
    pub fn probability(&self, features: &[Feature]) -> f64 {
        let mut kept = Vec::with_capacity(features.len());
        kept.extend(features.iter().filter(|f| self.weighs(f.0)));
        self.calibrate(self.weighed_score(kept))
    }

    /// The raw score z of one reading's [`features`] ([`KindModel::calibrate`] gives its
    /// probability, that of [`KindModel::probability`] to the last bit; z itself too, but
    /// for the sign of a zero sum), without building
    /// them: the daemon's path. The weighed features are gathered per masked index in
    /// the thread's [`SLOTS`] table and summed in the table's order when that sum is
    /// provably exact ([`Slots::exact_sum`]), else sorted as [`KindModel::probability`]
    /// sorts them.
    pub(crate) fn score_of(&self, s: &Signals<'_>) -> f64 {
        let exact = SLOTS.with(|slots| {
            let mut slots = slots.try_borrow_mut().ok()?;
            slots.start(s.grams.len() + s.matches.len() + 64);
            let mask = (1u32 << self.bits) - 1;
            each_feature(s, |i, v| {
                if self.weighs(i) {
                    slots.add(i & mask, i, v);
                }
            });
            let sum = slots.exact_sum(&self.weights);
            slots.release_if_large();
            sum
        });
        match exact {
            Some(sum) => self.bias + sum,
            None => {
                let mut kept = Vec::with_capacity(s.grams.len() + 64);
                each_feature(s, |i, v| {
                    if self.weighs(i) {
                        kept.push((i, v));
                    }
                });
                self.weighed_score(kept)
            }
        }
    }

    /// Whether the feature index `i` has a weight other than zero.
    fn weighs(&self, i: u32) -> bool {
        self.weights[(i & ((1u32 << self.bits) - 1)) as usize] != 0.0
    }

    /// The raw score z of the features with a weight ([`KindModel::weighs`]). Leaving out
    /// the others changes nothing, to the last bit: a weight is per masked index, so a
    /// feature left out shares its masked index (and so its merge) with no kept one,
    /// and its term w·v is ±0, which leaves a sum of other terms as it is (a zero sum
    /// is at most a zero of the other sign, which the bias, added last, and the
    /// calibration turn into the same probability).
    ///
    /// One sort instead of two (by index to drop repeats, then by masked index to merge
    /// collisions): the key is the index rotated so that its masked bits come first, which
    /// orders by masked index and, within one, by index. The score is summed in masked
    /// index order, as [`KindModel::mask`] orders it.
    fn weighed_score(&self, mut kept: Vec<Feature>) -> f64 {
        let rotation = u32::BITS - self.bits;
        kept.sort_unstable_by_key(|f| f.0.rotate_left(rotation));
        kept.dedup_by_key(|f| f.0);
        let mask = (1u32 << self.bits) - 1;
        for f in &mut kept {
            f.0 &= mask;
        }
        self.score(&merge(kept))
    }
}

thread_local! {
    /// [`KindModel::score_of`]'s table, reused from item to item.
    static SLOTS: RefCell<Slots> = RefCell::new(Slots::default());
}

/// A table larger than this (entries), grown for an item with a title of thousands of
/// characters, is freed once its item is scored; the usual item needs 1,024.
const KEPT_SLOTS: usize = 4096;

/// The weighed features of one masked index: the distinct unmasked indexes seen there
/// (at most two are kept apart) and the value of each.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// The masked index + 1; 0 marks a free entry.
    key: u32,
    raws: [u32; 2],
    values: [f32; 2],
    count: u8,
}

/// An open-addressing table of [`Slot`]s by masked index, for one reading at a time.
#[derive(Debug, Default)]
struct Slots {
    table: Vec<Slot>,
    /// Positions of the entries in use, in the order filled.
    used: Vec<u32>,
    /// Set when the features leave the table's sum unproven: a third unmasked index
    /// under one masked index (its merge would be summed in index order), an index
    /// repeated with another value (which one the sort keeps is not told), a full table.
    irregular: bool,
}

impl Slots {
    /// Empties the table (the entries in use only) for a reading of at most `features`
    /// features, sized to stay at most half full.
    fn start(&mut self, features: usize) {
        let capacity = (2 * features).next_power_of_two();
        if self.table.len() < capacity || self.table.len() > KEPT_SLOTS.max(capacity) {
            self.table = vec![Slot::default(); capacity];
        } else {
            for &p in &self.used {
                self.table[p as usize].key = 0;
            }
        }
        self.used.clear();
        self.irregular = false;
    }

    /// Frees a table grown past [`KEPT_SLOTS`] for one long item, so that a worker
    /// thread does not keep it (24 bytes an entry) until its next item.
    fn release_if_large(&mut self) {
        if self.table.len() > KEPT_SLOTS {
            self.table = Vec::new();
            self.used = Vec::new();
        }
    }

    /// Adds feature `raw` (`value`) under its masked index `slot`.
    fn add(&mut self, slot: u32, raw: u32, value: f32) {
        let mask = self.table.len() - 1;
        if 2 * self.used.len() >= self.table.len() {
            self.irregular = true;
            return;
        }
        let key = slot + 1;
        // The product's high bits (the table has 2^k entries, k ≥ 1).
        let shift = u32::BITS - self.table.len().trailing_zeros();
        let mut p = (key.wrapping_mul(0x9E37_79B1) >> shift) as usize;
        loop {
            let entry = &mut self.table[p];
            if entry.key == 0 {
                *entry = Slot {
                    key,
                    raws: [raw, 0],
                    values: [value, 0.0],
                    count: 1,
                };
                self.used.push(p as u32);
                return;
            }
            if entry.key == key {
                let n = usize::from(entry.count);
                match entry.raws[..n].iter().position(|&r| r == raw) {
                    Some(k) => self.irregular |= entry.values[k] != value,
                    None if n == 1 => {
                        entry.raws[1] = raw;
                        entry.values[1] = value;
                        entry.count = 2;
                    }
                    None => self.irregular = true,
                }
                return;
            }
            p = (p + 1) & mask;
        }
    }

    /// The sum of the terms w·v (w the weight of the masked index, v the sum of its
    /// features' values), when it is the sum [`KindModel::score`] gives in masked index
    /// order, to the last bit; else `None`.
    ///
    /// Each term is an f32 product, a multiple of its own unit in the last place; so
    /// every partial sum, in any order, is a multiple of the smallest such unit u. When
    /// the terms' magnitudes add up to at most 2^52·u, every partial sum is below
    /// 2^53·u (with room for this sum's own rounding) and so exactly an f64: no
    /// addition rounds, and every order gives the exact sum. Zero terms are left out
    /// (adding ±0 changes no sum but a zero's sign). The bound is 2^28 to 2^29 times the
    /// smallest term: above 30,000 with terms of 10⁻⁴ and more, against sums of a few
    /// tens.
    fn exact_sum(&self, weights: &[f32]) -> Option<f64> {
        if self.irregular {
            return None;
        }
        let mut sum = 0.0f64;
        let mut magnitude = 0.0f64;
        // The smallest biased exponent of a term: its unit in the last place is
        // 2^(e − 150) (1 for a subnormal).
        let mut lowest = u32::MAX;
        for &p in &self.used {
            let entry = &self.table[p as usize];
            let value = if entry.count == 2 {
                entry.values[0] + entry.values[1]
            } else {
                entry.values[0]
            };
            let term = weights[(entry.key - 1) as usize] * value;
            if term == 0.0 {
                continue;
            }
            lowest = lowest.min((term.to_bits() >> 23 & 0xFF).max(1));
            sum += f64::from(term);
            magnitude += f64::from(term.abs());
        }
        if lowest == u32::MAX {
            return Some(sum);
        }
        // 2^52·u = 2^(e − 98), e in 1..=255: a normal f64.
        let bound = f64::from_bits(u64::from(lowest + 1023 - 98) << 52);
        (magnitude <= bound).then_some(sum)
    }
}

/// A kept topic as the ranking model sees it (in the dictionary rule's order).
pub(crate) struct Candidate<'a> {
    pub topic: &'a str,
    /// Event-term weight of the topic (title double).
    pub event: f64,
    /// Subject-term weight, capped as the rule caps it.
    pub subject: f64,
    /// Weight of the topic's terms in the title (counted double there).
    pub title: f64,
    /// Byte offset of the topic's first term in the text (title first).
    pub first: usize,
    /// Cross-cutting (市场监管, 干部作风 when the title names no official).
    pub cross: bool,
}

/// Rule positions beyond this share one feature.
const MAX_POSITION: usize = 3;

/// The ranking features of each candidate, in the order given (unmasked; an index may
/// repeat). Per candidate topic `t`: its rule position (alone and with `t`), `t`
/// itself, its event, subject and title weights (alone and with `t`), whether it is
/// cross-cutting, whether the title names it (with the position), each other candidate beside it (`t` with `u`), each matched term of
/// the kept topics (with `t`), and the title and lede bigrams (`grams`, as
/// [`lede_bigrams`] gives them; with `t`). Where the text names it: how many
/// candidates' terms come before its first term (alone and with `t`), and `t` with the
/// candidate named first (the event the title opens with: 工厂爆炸 names work_safety
/// before accident); how many distinct terms of `t` matched (alone and with `t`).
/// Features shared by all candidates would cancel out, so every one names the
/// candidate.
pub(crate) fn rank_features(
    grams: &[Feature],
    candidates: &[Candidate<'_>],
    matches: &[&TermMatch],
) -> Vec<Vec<Feature>> {
    (0..candidates.len())
        .map(|k| {
            let mut out: Vec<Feature> = Vec::with_capacity(grams.len() + matches.len() + 16);
            each_rank_feature(grams, candidates, matches, k, |i, v| out.push((i, v)));
            out
        })
        .collect()
}

/// Gives `add` each ranking feature of candidate `k`, in the order [`rank_features`]
/// lists them: what both the training's features and the daemon's order are built from.
fn each_rank_feature(
    grams: &[Feature],
    candidates: &[Candidate<'_>],
    matches: &[&TermMatch],
    k: usize,
    mut add: impl FnMut(u32, f32),
) {
    let log = |x: f64| (1.0 + x.max(0.0)).ln() as f32;
    // The candidate named first (the rule's order breaks a tie).
    let leader = candidates
        .iter()
        .min_by_key(|c| c.first)
        .map_or("", |c| c.topic);
    let c = &candidates[k];
    let topic = fnv(fnv(0x811c_9dc5, b"r"), c.topic.as_bytes());
    let with_topic = |kind: u8, name: &[u8]| fnv(fnv(topic, &[kind]), name);
    let position = [k.min(MAX_POSITION) as u8];
    add(hash(b'p', &position), 1.0);
    add(with_topic(b'p', &position), 1.0);
    add(with_topic(b'c', b""), 1.0);
    add(hash(b'e', b""), log(c.event));
    add(with_topic(b'e', b""), log(c.event));
    add(hash(b's', b""), log(c.subject));
    add(with_topic(b's', b""), log(c.subject));
    add(hash(b't', b""), log(c.title));
    add(with_topic(b't', b""), log(c.title));
    add(hash(b'x', b""), flag_value(c.cross));
    add(hash(b'f', &position), flag_value(c.title > 0.0));
    let before = candidates.iter().filter(|o| o.first < c.first).count();
    let appearance = [before.min(MAX_POSITION) as u8];
    add(hash(b'a', &appearance), 1.0);
    add(with_topic(b'a', &appearance), 1.0);
    add(with_topic(b'l', leader.as_bytes()), 1.0);
    let terms = matches.iter().filter(|m| m.topic == c.topic).count();
    add(hash(b'n', b""), log(terms as f64));
    add(with_topic(b'n', b""), log(terms as f64));
    for other in candidates.iter().filter(|o| o.topic != c.topic) {
        add(with_topic(b'o', other.topic.as_bytes()), 1.0);
    }
    // The name `topic|term` hashed in parts (FNV-1a is a left fold over the bytes),
    // without building the string.
    let term = fnv(topic, b"m");
    for m in matches {
        let name = fnv(fnv(term, m.topic.as_bytes()), b"|");
        add(fnv(name, m.term.as_bytes()), 1.0);
    }
    // A bigram named with the candidate: its index xor the candidate's gram name
    // (feature layout 2; layout 1 ran FNV-1a over the index's four bytes from that name,
    // for every bigram and candidate). The masked bits of the bigram's index are as
    // spread as any hash's, so this spreads the pairs alike: two collide when their
    // bigrams' indexes differ as their candidates' names do.
    let gram = fnv(topic, b"g");
    for &(g, v) in grams {
        add(g ^ gram, v);
    }
}

/// The learned order of the kept topics (`topic_rank.txt`): a linear score per
/// candidate over [`rank_features`], trained as a softmax over each item's candidates
/// on the labelled primary topic. File format as `model.txt`: `#` comments,
/// `features L`, `bits N`, then one `index weight` line per feature.
#[derive(Debug, Clone)]
pub struct Ranker {
    bits: u32,
    weights: Vec<f32>,
}

impl Ranker {
    /// Reads `topic_rank.txt` from the dictionary folder; `None` when the folder has
    /// none (the dictionary rule's order stands).
    pub(crate) fn load(dir: &Path) -> Result<Option<Ranker>, ClassifyError> {
        read_optional(dir, "topic_rank.txt", Ranker::parse)
    }

    /// A ranker from the text of its file (`path` names the file in errors): what the
    /// daemon will use, weights rounded and small ones left out as written.
    pub fn parse(text: &str, path: &Path) -> Result<Ranker, ClassifyError> {
        let file = WeightFile::parse(
            text,
            path,
            (0, None),
            &["features", "bits"],
            "features/bits",
        )?;
        let (bits, weights) = file.weights()?;
        Ok(Ranker { bits, weights })
    }

    /// A ranker from trained parts (for the training example; `weights` has 2^`bits`
    /// entries).
    pub fn from_parts(bits: u32, weights: Vec<f32>) -> Ranker {
        assert_eq!(weights.len(), 1 << bits, "weights must have 2^bits entries");
        Ranker { bits, weights }
    }

    /// The file text, weights of magnitude below `min_weight` left out.
    pub fn to_text(&self, comment: &str, min_weight: f32) -> String {
        let mut out = String::new();
        comment_lines(comment, &mut out);
        out.push_str(&format!("features {FEATURES}\nbits {}\n", self.bits));
        weight_lines(&self.weights, min_weight, &mut out);
        out
    }

    /// The score of one candidate's (unmasked) features; a repeated index counts each
    /// time (a bigram twice in the title weighs twice).
    pub fn score(&self, features: &[Feature]) -> f64 {
        let mask = (1u32 << self.bits) - 1;
        features
            .iter()
            .map(|&(i, v)| f64::from(self.weights[(i & mask) as usize] * v))
            .sum()
    }

    /// [`Ranker::score`] of candidate `k`'s [`rank_features`], to the last bit, without
    /// building them: the terms are added as they come, as the sum of an iterator adds
    /// them (from its start, the sum of none).
    fn score_of(
        &self,
        grams: &[Feature],
        candidates: &[Candidate<'_>],
        matches: &[&TermMatch],
        k: usize,
    ) -> f64 {
        let mask = (1u32 << self.bits) - 1;
        let mut z: f64 = std::iter::empty::<f64>().sum();
        each_rank_feature(grams, candidates, matches, k, |i, v| {
            z += f64::from(self.weights[(i & mask) as usize] * v);
        });
        z
    }

    /// The candidates' positions, highest score first; equal scores keep the rule's
    /// order.
    pub fn order(&self, features: &[Vec<Feature>]) -> Vec<usize> {
        order_by(features.iter().map(|f| self.score(f)).collect())
    }

    /// [`Ranker::order`] of the candidates' [`rank_features`] (arguments as it takes
    /// them), without building them: the daemon's path.
    pub(crate) fn order_of(
        &self,
        grams: &[Feature],
        candidates: &[Candidate<'_>],
        matches: &[&TermMatch],
    ) -> Vec<usize> {
        order_by(
            (0..candidates.len())
                .map(|k| self.score_of(grams, candidates, matches, k))
                .collect(),
        )
    }
}

/// Positions by score, highest first; equal scores in position order.
fn order_by(scores: Vec<f64>) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bigram_indexes_spread_at_least_as_a_random_function() {
        // Colliding pairs under a 2^18 mask, against a random function's expectation
        // n(n-1)/2m. The corpus-like case: 60,000 bigrams of characters spread over the
        // CJK block, in both parts. The worst case of a multiplicative hash: all
        // bigrams of 200 consecutive characters, in both parts (a lattice of keys; the
        // product's bits 32–49 collided 2.5 times as often as a random function there).
        let mask = (1u32 << 18) - 1;
        let collisions = |chars: &[char]| {
            let mut count = std::collections::HashMap::<u32, u64>::new();
            for kind in [b'T', b'B'] {
                for &a in chars {
                    for &b in chars {
                        *count
                            .entry(bigram_index(bigram_key(kind, a), b) & mask)
                            .or_default() += 1;
                    }
                }
            }
            let n = 2.0 * (chars.len() * chars.len()) as f64;
            let pairs: u64 = count.values().map(|c| c * (c - 1) / 2).sum();
            (pairs as f64, n * (n - 1.0) / 2.0 / f64::from(mask + 1))
        };
        let spread: Vec<char> = (0..173)
            .filter_map(|k| char::from_u32(0x4E00 + 121 * k))
            .collect();
        let consecutive: Vec<char> = (0x4E00..0x4E00 + 200).filter_map(char::from_u32).collect();
        for chars in [spread, consecutive] {
            let (pairs, random) = collisions(&chars);
            assert!(
                pairs < 1.05 * random,
                "{pairs} colliding pairs, random {random}"
            );
        }
    }

    #[test]
    fn bigram_indexes_tell_the_parts_and_the_order_apart() {
        let index = |kind: u8, a: char, b: char| bigram_index(bigram_key(kind, a), b);
        let (t, b) = (index(b'T', '死', '亡'), index(b'B', '死', '亡'));
        assert_ne!(t, b);
        assert_ne!(t, index(b'T', '亡', '死'));
        // The documented function: the top 24 bits of the key times 2^64/φ.
        let key = 0x54u64 << 42 | 0x6B7Bu64 << 21 | 0x4EA1;
        assert_eq!(u64::from(t), key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40);
        let mut grams = Vec::new();
        bigrams(b'B', "死亡".chars(), &mut grams);
        assert_eq!(grams, [(b, 1.0)]);
    }

    #[test]
    fn bigrams_fold_digits_and_skip_spaces() {
        let mut a = Vec::new();
        bigrams(b'T', "致3人 死亡".chars(), &mut a);
        let mut b = Vec::new();
        bigrams(b'T', "致7人 死亡".chars(), &mut b);
        assert_eq!(a, b);
        // 致3, 3人, 死亡: the space breaks the run.
        assert_eq!(a.len(), 3);
    }

    /// A flag model of 2^4 weights, `weights` at their indexes.
    fn kind_model(weights: &[(usize, f32)], bias: f64, platt: (f64, f64), t: f64) -> KindModel {
        let mut all = vec![0.0f32; 1 << 4];
        for &(i, w) in weights {
            all[i] = w;
        }
        let decision = Decision {
            platt,
            threshold: t,
        };
        KindModel::from_parts(4, all, bias, decision)
    }

    #[test]
    fn a_model_round_trips_through_its_file() {
        let news = kind_model(&[(3, 0.5), (9, -1.25)], -0.5, (1.5, 0.25), 0.6);
        let board = kind_model(&[(3, -0.75), (12, 2.0)], 0.125, (0.5, 1.0), 0.45);
        let model = Model::new(news, board, 0.02);
        let text = model.to_text("test model", 1e-6);
        assert!(text.contains("\nsection news\n") && text.contains("\nsection board\n"));
        let back = Model::parse(&text, Path::new("model.txt")).unwrap();
        assert_eq!(back.to_text("test model", 1e-6), text);
        let f = [(3 + 16, 1.0), (9, 2.0)];
        for kind in [ReportKind::News, ReportKind::Board] {
            let (a, b) = (model.kind(kind), back.kind(kind));
            assert!((a.probability(&f) - b.probability(&f)).abs() < 1e-9);
            assert_eq!(a.decision(), b.decision());
        }
        let back = back.kind(ReportKind::News);
        let z: f64 = -0.5 + 0.5 - 2.5;
        assert!((back.probability(&f) - sigmoid(1.5 * z + 0.25)).abs() < 1e-6);
        // Any order, a repeated index counted once, collisions under the mask summed:
        // as masking the sorted features.
        let raw = [(9, 2.0), (3 + 16, 1.0), (3, 0.5), (9, 2.0), (3 + 16, 1.0)];
        let want = back.calibrate(back.score(&back.mask(&sorted(raw.to_vec()))));
        assert_eq!(back.probability(&raw), want);
        let z: f64 = -0.5 + 0.5 * 1.5 - 2.5;
        assert!((want - sigmoid(1.5 * z + 0.25)).abs() < 1e-6);
        assert_eq!(back.decision().threshold, 0.6);
        assert_eq!(model.prior(), 0.02);
        // The sections in the other order read the same.
        let (head, sections) = text.split_at(text.find("section news").unwrap());
        let board_at = sections.find("section board").unwrap();
        let swapped = format!("{head}{}{}", &sections[board_at..], &sections[..board_at]);
        let swapped = Model::parse(&swapped, Path::new("model.txt")).unwrap();
        assert_eq!(swapped.to_text("test model", 1e-6), text);
    }

    #[test]
    fn a_board_post_and_news_are_scored_with_their_own_weights() {
        // One feature weighs against news and for a board post; the calibrations and
        // thresholds alike, so only the weights tell the kinds apart.
        let decision = ((1.0, 0.0), 0.5);
        let news = kind_model(&[(3, -2.0)], 0.0, decision.0, decision.1);
        let board = kind_model(&[(3, 2.0)], 0.0, decision.0, decision.1);
        let model = Model::new(news, board, 0.02);
        let f = [(3, 1.0)];
        let news = model.kind(ReportKind::News);
        let board = model.kind(ReportKind::Board);
        assert_eq!(
            news.decide(news.score(&news.mask(&f))),
            (false, sigmoid(-2.0))
        );
        assert_eq!(
            board.decide(board.score(&board.mask(&f))),
            (true, sigmoid(2.0))
        );
        // And so after the file.
        let back = Model::parse(&model.to_text("t", 1e-6), Path::new("model.txt")).unwrap();
        assert_eq!(back.kind(ReportKind::News).probability(&f), sigmoid(-2.0));
        assert_eq!(back.kind(ReportKind::Board).probability(&f), sigmoid(2.0));
    }

    #[test]
    fn a_model_file_of_one_set_of_weights_is_refused() {
        // The layout before the sections (thirteenth to sixteenth sessions).
        let old = "# generated\nfeatures 2\nbits 4\nbias 0\nplatt 1 0\nthreshold 0.5\nprior 0\n\
                   platt_board 1 0\nthreshold_board 0.4\n3 1\n";
        let e = Model::parse(old, Path::new("dictionaries/model.txt"))
            .unwrap_err()
            .to_string();
        for part in [
            "dictionaries/model.txt",
            "第 4 行",
            "旧版模型",
            "section board",
            "example train",
        ] {
            assert!(e.contains(part), "{part}: {e}");
        }
        // A section missing, unknown or twice; weights outside a section.
        let head = "features 2\nbits 4\nprior 0\n";
        let news = "section news\nbias 0\nplatt 1 0\nthreshold 0.5\n3 1\n";
        let board = news.replace("news", "board");
        for (text, want) in [
            (format!("{head}{news}"), "缺少 section board"),
            (format!("{head}{board}"), "缺少 section news"),
            (format!("{head}{news}{board}{board}"), "第 14 行"),
            (
                format!("{head}{news}{}", news.replace("news", "boards")),
                "boards",
            ),
            (format!("{head}5 1\n{news}{board}"), "第 4 行"),
            (
                format!("{head}{news}{}", board.replace("bias 0\n", "")),
                "section board：缺少 bias",
            ),
        ] {
            let e = Model::parse(&text, Path::new("m")).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("train"), "{want}: {e}");
        }
        assert!(Model::parse(&format!("{head}{news}{board}"), Path::new("m")).is_ok());
    }

    #[test]
    fn the_daemons_score_is_the_training_features_score_to_the_bit() {
        const DECISION: Decision = Decision {
            platt: (0.85, 0.106),
            threshold: 0.34,
        };
        // A small space (2^6): bigrams repeat and collide under the mask, and about a
        // third of the slots have no weight; the weights span twelve orders of magnitude,
        // so a sum in another order would differ in its last bits.
        let bits = 6;
        let weights: Vec<f32> = (0..1u32 << bits)
            .map(|i| {
                if i % 3 == 0 {
                    0.0
                } else {
                    (i as f32 * 0.7311).sin() * 10f32.powi((i % 4) as i32 * 4 - 12)
                }
            })
            .collect();
        let model = KindModel::from_parts(bits, weights, -0.277646, DECISION);
        let text = "县城小区供暖不热居民投诉多次无果\n多名居民反映，小区供暖温度长期不达标，\
                    3人因受冻就医，物业称供热公司管网老化，供热公司称已派人检修，居民投诉至今无果。";
        let title_end = text.find('\n').unwrap();
        let grams = lede_bigrams(text, title_end);
        let casualties = Casualties {
            injured: Some(3),
            ..Casualties::default()
        };
        let topics = ["heating".to_string(), "housing".to_string()];
        let matches = [
            TermMatch {
                term: "供暖".into(),
                topic: "heating".into(),
            },
            TermMatch {
                term: "投诉".into(),
                topic: "heating".into(),
            },
        ];
        let signals = Signals {
            text,
            title_end,
            grams: &grams,
            problem: 5.5,
            harm: 1.25,
            grievance: 2.0,
            routine: 0.3,
            best: 4.5,
            title_problem: true,
            title_routine: false,
            official: false,
            title_official: false,
            rule_flag: true,
            topics: &topics,
            matches: &matches,
            casualties: &casualties,
        };
        let features = features(&signals);
        let mask = (1u32 << bits) - 1;
        let slots: std::collections::BTreeSet<u32> = features.iter().map(|f| f.0 & mask).collect();
        assert!(slots.len() < features.len(), "collisions under the mask");
        assert!(slots.iter().any(|&i| i % 3 == 0), "a slot without weight");
        let z = model.score(&model.mask(&sorted(features.clone())));
        assert_eq!(model.score_of(&signals).to_bits(), z.to_bits());
        let want = model.calibrate(z);
        assert_eq!(model.probability(&features).to_bits(), want.to_bits());
        // The table's sum is not proven exact with weights that far apart: sorted.
        let table_sum = |model: &KindModel| {
            let mut slots = Slots::default();
            slots.start(features.len());
            let mask = (1u32 << model.bits) - 1;
            for &(i, v) in features.iter().filter(|f| model.weighs(f.0)) {
                slots.add(i & mask, i, v);
            }
            (slots.exact_sum(&model.weights), slots)
        };
        assert_eq!(table_sum(&model).0, None);
        // Weights of 10⁻⁴ to 1 in a space of 2^9: the table's sum, with two features
        // merged under one masked index.
        let bits = 9;
        let weights: Vec<f32> = (0..1u32 << bits)
            .map(|i| {
                if i % 3 == 0 {
                    0.0
                } else {
                    (i as f32 * 0.7311).sin() * 10f32.powi((i % 5) as i32 - 4)
                }
            })
            .collect();
        let model = KindModel::from_parts(bits, weights, -0.277646, DECISION);
        let (sum, slots) = table_sum(&model);
        assert!(sum.is_some());
        assert!(
            slots
                .used
                .iter()
                .any(|&p| slots.table[p as usize].count == 2)
        );
        let z = model.score(&model.mask(&sorted(features.clone())));
        assert_eq!(model.score_of(&signals).to_bits(), z.to_bits());
        assert_eq!(model.bias + sum.unwrap(), z);
        // The primary topic's feature is the hash of its whole name.
        assert!(features.contains(&(hash(b'd', b"primary=heating"), 1.0)));
    }

    #[test]
    fn a_table_grown_for_a_long_item_is_freed_after_it() {
        let mut slots = Slots::default();
        slots.start(100);
        slots.release_if_large();
        assert_eq!(slots.table.len(), 256, "a usual table is kept");
        slots.start(KEPT_SLOTS);
        assert!(slots.table.len() > KEPT_SLOTS);
        slots.release_if_large();
        assert!(slots.table.is_empty());
        // The next item gets a table again.
        slots.start(100);
        slots.add(3, 3, 1.0);
        assert_eq!(slots.exact_sum(&[0.5; 8]), Some(0.5));
    }

    #[test]
    fn the_table_gives_up_where_the_sort_would_decide() {
        let weights = [0.5f32; 8];
        let sum = |features: &[(u32, u32, f32)]| {
            let mut slots = Slots::default();
            slots.start(features.len());
            for &(slot, raw, value) in features {
                slots.add(slot, raw, value);
            }
            slots.exact_sum(&weights)
        };
        // A repeat counts once; two indexes under one masked index are merged.
        assert_eq!(sum(&[(5, 5, 1.0), (5, 5, 1.0), (2, 10, 2.0)]), Some(1.5));
        assert_eq!(sum(&[(5, 5, 1.0), (5, 13, 2.0), (5, 5, 1.0)]), Some(1.5));
        // A third index under one masked index, a repeat with another value: unproven.
        assert_eq!(sum(&[(5, 5, 1.0), (5, 13, 1.0), (5, 21, 1.0)]), None);
        assert_eq!(sum(&[(5, 5, 1.0), (5, 5, 2.0)]), None);
        // A full table (more features than it was started for) gives up too.
        let many: Vec<(u32, u32, f32)> = (0..8).map(|i| (i, i, 1.0)).collect();
        let mut slots = Slots::default();
        slots.start(2);
        for &(slot, raw, value) in &many {
            slots.add(slot, raw, value);
        }
        assert_eq!(slots.exact_sum(&weights), None);
        // Reused: started again, it holds only the new reading.
        slots.start(2);
        slots.add(1, 1, 1.0);
        assert_eq!(slots.exact_sum(&weights), Some(0.5));
    }

    #[test]
    fn a_damaged_model_file_names_its_line() {
        let head = "features 2\nbits 4\nprior 0\n";
        let board = "section board\nbias 0\nplatt 1 0\nthreshold 0.5\n";
        let e = Model::parse(
            &format!("{head}section news\nbias 0\nplatt 1 0\nthreshold 0.5\n99 1\n{board}"),
            Path::new("m"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("第 8 行") && e.contains("超出"), "{e}");
        let e = Model::parse(&format!("{head}section news\nbias x\n"), Path::new("m"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("第 5 行"), "{e}");
        let e = Model::parse(&format!("features 2\nbits 4\n{board}"), Path::new("m"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("缺少") && e.contains("重新生成"), "{e}");
    }

    #[test]
    fn a_weight_file_of_another_feature_layout_is_refused() {
        let rank = "bits 4\n3 1\n";
        let model = "bits 4\nprior 0\nsection news\nbias 0\nplatt 1 0\nthreshold 0.5\n3 1\n\
                     section board\nbias 0\nplatt 1 0\nthreshold 0.5\n";
        // Without the line: layout 1, written before the line existed.
        for (head, line) in [
            ("", "第 0 行"),
            ("features 1\n", "第 1 行"),
            ("# c\nfeatures 3\n", "第 2 行"),
        ] {
            let e = Model::parse(&format!("{head}{model}"), Path::new("m"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("特征版本") && e.contains(line), "{e}");
            let e = Ranker::parse(&format!("{head}{rank}"), Path::new("r"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("特征版本") && e.contains(line), "{e}");
        }
        assert!(Model::parse(&format!("features 2\n{model}"), Path::new("m")).is_ok());
        assert!(Ranker::parse(&format!("features 2\n{rank}"), Path::new("r")).is_ok());
    }

    #[test]
    fn a_ranker_orders_candidates_as_its_weights_say() {
        let text = "小区物业乱收费\n业主投诉物业公司违规收取停车费";
        let title_end = "小区物业乱收费".len();
        let candidates = [
            Candidate {
                topic: "real_estate",
                event: 2.0,
                subject: 3.0,
                title: 2.0,
                first: 0,
                cross: false,
            },
            Candidate {
                topic: "market",
                event: 4.0,
                subject: 0.0,
                title: 4.0,
                first: 6,
                cross: true,
            },
        ];
        let term = TermMatch {
            term: "乱收费".into(),
            topic: "market".into(),
        };
        let grams = lede_bigrams(text, title_end);
        let features = rank_features(&grams, &candidates, &[&term]);
        assert_eq!(features.len(), 2);
        // Each candidate's own features: only the shared position-free ones coincide.
        let own = |k: usize| -> std::collections::BTreeSet<u32> {
            features[k].iter().map(|f| f.0).collect()
        };
        assert!(own(0).intersection(&own(1)).count() <= 5);
        // Named first (real_estate at 0, market at 6): appearance 0 and 1, and both
        // carry real_estate as the candidate named first.
        assert!(own(0).contains(&hash(b'a', &[0])) && own(1).contains(&hash(b'a', &[1])));
        let leader = |t: &[u8]| fnv(fnv(fnv(fnv(0x811c_9dc5, b"r"), t), b"l"), b"real_estate");
        assert!(own(0).contains(&leader(b"real_estate")) && own(1).contains(&leader(b"market")));
        // One matched term: market has 1 distinct term, real_estate none.
        let terms = |k: usize| {
            features[k]
                .iter()
                .find(|f| f.0 == hash(b'n', b""))
                .unwrap()
                .1
        };
        assert_eq!((terms(0), terms(1)), (0.0, 2f64.ln() as f32));
        // The matched term's feature is the hash of `topic|term` named with the
        // candidate (after its 16 fixed features and the one other candidate).
        let topic = fnv(fnv(0x811c_9dc5, b"r"), b"real_estate");
        let named = fnv(fnv(topic, b"m"), "market|乱收费".as_bytes());
        assert_eq!(features[0][17], (named, 1.0));
        // Then the bigrams, each its index xor the candidate's gram name.
        let gram = fnv(topic, b"g");
        let named: Vec<Feature> = grams.iter().map(|&(g, v)| (g ^ gram, v)).collect();
        assert_eq!(features[0][18..], named[..]);
        // A hand-written file: no weights keep the rule's order; a weight on a
        // candidate's own topic feature (third in its list) puts it first.
        let mask = (1u32 << 12) - 1;
        let topic_feature = |k: usize| features[k][2].0 & mask;
        let file = |lines: &str| {
            Ranker::parse(
                &format!("# test\nfeatures 2\nbits 12\n{lines}"),
                Path::new("topic_rank.txt"),
            )
            .unwrap()
        };
        assert_eq!(file("").order(&features), vec![0, 1]);
        let market_first = file(&format!("{} 2.5\n", topic_feature(1)));
        assert_eq!(market_first.order(&features), vec![1, 0]);
        let both = file(&format!(
            "{} 2.5\n{} 3.0\n",
            topic_feature(1),
            topic_feature(0)
        ));
        assert_eq!(both.order(&features), vec![0, 1]);
        // The daemon's scores, from the features not built, are those of the features,
        // to the last bit.
        for ranker in [&market_first, &both] {
            for (k, f) in features.iter().enumerate() {
                let z = ranker.score_of(&grams, &candidates, &[&term], k);
                assert_eq!(z.to_bits(), ranker.score(f).to_bits());
            }
            let order = ranker.order_of(&grams, &candidates, &[&term]);
            assert_eq!(order, ranker.order(&features));
        }
        // The file round-trips.
        let back = Ranker::parse(&market_first.to_text("again", 1e-6), Path::new("r")).unwrap();
        assert_eq!(back.order(&features), vec![1, 0]);
        let e = Ranker::parse("features 2\nbits 4\nplatt 1 0\n", Path::new("r"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("第 3 行"), "{e}");
    }
}
