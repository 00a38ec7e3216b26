//! Detection: topics, the alert decision (flag), casualties and severity, places and
//! the responsible unit, from an item's title and body. Pure after [`Classifier::load`]:
//! no IO, no global state (a thread's buffer for the normalized text is reused from
//! item to item and holds nothing between calls); share one classifier through an `Arc`.
//!
//! How a text is read:
//! 1. Normalize (HTML remnants and entities out, full-width ASCII to half-width,
//!    whitespace collapsed). The title and the body are read together, title first;
//!    evidence in the title counts double ([`TITLE_WEIGHT`]).
//! 2. One Aho-Corasick pass finds every dictionary term (topic terms and the harm,
//!    grievance and routine cues) and every place name. Most items stop here.
//! 3. Only the runs of Chinese text that hold a candidate are segmented with jieba
//!    (jieba itself splits text at every non-word character, so segmenting one run
//!    gives exactly the tokens that segmenting the whole text would). A candidate
//!    counts only when it starts and ends on token boundaries: 爆炸 in 爆炸性新闻,
//!    死亡 in 死亡率 or 火灾 in 防火灾 do not count. Where candidates overlap, the
//!    longest wins (交通事故 rather than 事故). Only candidates that can change the
//!    evidence are checked: a term already counted in the title (or the body) holding
//!    no other candidate, or a place already found, segments nothing.
//! 4. Topic scores are the summed weights of distinct terms (title double). Topics
//!    scoring at least [`MIN_TOPIC_SCORE`] and at least 30 % of the best are kept,
//!    best first, except that cross-cutting topics (干部作风, 市场监管: a kind of wrong
//!    rather than a field) follow the field topics found beside them: 物业不作为 is
//!    房地产 first, 医院乱收费 医疗卫生 first.
//!    With two or more kept topics and a learned ranker (`topic_rank.txt`,
//!    [`model::Ranker`]), that order is an input and the ranker's scores give the order
//!    (the primary topic, and so the lead unit); which topics are kept stays the
//!    dictionaries' decision.
//! 5. The flag (taxonomy.md): a kept topic, and problem evidence (event terms of the
//!    kept topics + harm cues + grievance cues) of at least [`MIN_PROBLEM_SCORE`], and
//!    that evidence not outweighed by routine/positive context (表彰, 演练, 成功举办,
//!    统计, 招聘, 比赛 …). A routine cue in the title with no problem word beside it
//!    also clears the flag.
//! 6. Casualties (see [`casualty`]) and the severity grade; flagged items without
//!    casualties are IV, unflagged items have none. The text is split into sentences
//!    once for both readings (the patterns and the victim words), each sentence marked
//!    with the characters the readings look for, each distinct sentence read once.
//! 7. Routing (谁主管谁负责, 属地管理): `unit` is the lead unit of the primary topic
//!    (a term may name a more specific unit, e.g. 交通事故 → 市公安局, 养老院 →
//!    市民政局); the places found go to `places`, and [`Classifier::place_government`]
//!    names each one's government (景芝镇 → 景芝镇人民政府), which the ledger and the
//!    notices show beside the lead unit. `local` is true when a place of the
//!    jurisdiction is named or the source is local.

pub mod casualty;
mod dict;
pub mod model;
mod normalize;
mod victims;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, OnceLock};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use jieba_rs::{Jieba, KeywordExtract, TfIdf};
use memchr::memmem;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::config::Jurisdiction;
use crate::model::{Classification, TermMatch};

pub use casualty::Casualties;
use dict::{Dictionaries, TermKind, TopicRole};
pub use model::ReportKind;

/// Where an item comes from, as its reading needs it: a local source (everything from it
/// concerns the jurisdiction) and the report kind that decides it.
#[derive(Debug, Clone, Copy, Default)]
struct Origin {
    local: bool,
    kind: ReportKind,
}

/// Evidence in the title counts this many times its weight.
pub const TITLE_WEIGHT: f64 = 2.0;
/// A topic is kept when its score reaches this (one event term, or a subject term in
/// the title, or two subject terms).
pub const MIN_TOPIC_SCORE: f64 = 2.0;
/// Problem evidence needed to flag: one clear problem word (weight ≥ 2: 车祸, 欠薪,
/// 投诉) is enough. Passing mentions are kept out by the topic threshold (a field word
/// must be repeated or in the title) and by routine/positive context.
pub const MIN_PROBLEM_SCORE: f64 = 2.0;
/// Field (subject) words count at most this much per topic.
const SUBJECT_CAP: f64 = 4.0;
/// Kept topics must reach this fraction of the best topic's score.
const TOPIC_RATIO: f64 = 0.3;
/// Most key terms returned by [`Classifier::key_terms`].
const MAX_KEY_TERMS: usize = 32;
/// Largest normalized-text buffer a thread keeps for its next item (what a longer item
/// grew it to is freed after that item).
const KEPT_TEXT_BYTES: usize = 256 * 1024;

thread_local! {
    /// The normalized text of the item being read, reused for the thread's next item.
    static TEXT: RefCell<String> = const { RefCell::new(String::new()) };
}

#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    #[error("词典目录 {0} 不存在；请检查配置项 dictionaries，或从发行包复制 dictionaries/ 目录")]
    NoFolder(PathBuf),
    #[error("无法读取词典文件 {path}：{}；请检查文件是否存在、权限是否正确", crate::os_error::describe(.source))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("词典文件 {path} 第 {line} 行：{message}")]
    Format {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(
        "{folder} 中没有“{name}”的地名文件；请按 dictionaries/README.md 添加 places/{name}.toml（含 name = \"{name}\"）"
    )]
    NoJurisdiction { name: String, folder: PathBuf },
    #[error("jieba 用户词典加载失败：{0}；请检查 userdict.txt 的格式（词 词频 [词性]）")]
    UserDict(String),
    #[error("词典过大，无法建立匹配器：{0}")]
    Matcher(String),
    #[error(
        "词表 {0} 没有词；伤亡人数的句式由它的词组成，请从发行包的 dictionaries/casualty/ 恢复该文件"
    )]
    EmptyList(PathBuf),
}

/// What a matched dictionary string stands for (one string may stand for several).
#[derive(Debug, Clone, Copy)]
enum Entry {
    Topic { topic: usize, term: usize },
    Harm(f64),
    Grievance(f64),
    Routine(f64),
    Official,
}

/// The detector. Load once, share via `Arc`; `classify` takes `&self`.
pub struct Classifier {
    dict: Dictionaries,
    jieba: Jieba,
    /// Built on first use of [`Classifier::keywords`]: its IDF table costs load time
    /// that `classify` does not need.
    tfidf: OnceLock<TfIdf>,
    /// Every topic term, cue and place name (and alias), as one automaton: one pass
    /// over a text finds the terms and the places ([`Classifier::scan`]), where an
    /// automaton of each read every text twice. Patterns below `term_strings.len()` are
    /// the terms and cues, `entries[pattern]` says what each is; a place name that is
    /// not also a term comes after them. `place_of[pattern]` names a pattern's place.
    dictionary: AhoCorasick,
    entries: Vec<Vec<Entry>>,
    /// Whether a pattern is (also) a topic term.
    topical: Vec<bool>,
    /// Whether a pattern is only an official cue (names an office or official, and
    /// nothing else): once one is counted, another adds nothing but its title flag.
    official_only: Vec<bool>,
    term_strings: Vec<String>,
    /// Pattern → the place (index into `dict.places`) it names, if any. A name given
    /// to two places names the first (the place automaton this replaces reported the
    /// lowest of equal patterns).
    place_of: Vec<Option<usize>>,
    /// FxHash: key terms look up every token of an item here.
    stopwords: FxHashSet<String>,
    /// The learned alert decision (`model.txt`); without one the dictionary rule decides.
    model: Option<model::Model>,
    /// The learned order of the kept topics (`topic_rank.txt`); without one the
    /// dictionary rule's order stands.
    ranker: Option<model::Ranker>,
    /// Casualty vocabulary (`casualty/*.txt`) for what the figure patterns miss.
    victims: victims::VictimWords,
    /// The casualty figure patterns, built from `casualty/*.txt`.
    casualty: casualty::Reader,
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("topics", &self.dict.topics.len())
            .field("terms", &self.term_strings.len())
            .field("places", &self.dict.places.len())
            .finish_non_exhaustive()
    }
}

/// A dictionary hit that survived the word-boundary check.
#[derive(Debug, Clone, Copy)]
struct Hit {
    pattern: usize,
    start: usize,
    end: usize,
}

/// A place name or alias found in a text, before any boundary check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PlaceHit {
    /// Index into the dictionaries' places.
    place: usize,
    start: usize,
    end: usize,
}

/// What one pass of the dictionary automaton finds in a text ([`Classifier::scan`]).
struct Scan {
    /// Every topic term and cue, overlapping ones included, in the automaton's order.
    terms: Vec<Hit>,
    /// The place names as a leftmost-longest search finds them: in text order, none
    /// overlapping, where names overlap the one that starts first, and of those the
    /// longest.
    places: Vec<PlaceHit>,
}

/// Is `c` part of a run jieba segments as a unit (its RE_HAN_DEFAULT class)?
fn is_word_char(c: char) -> bool {
    matches!(c,
        '\u{4E00}'..='\u{9FFF}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2FA1F}')
        || c.is_ascii_alphanumeric()
        || matches!(c, '+' | '#' | '&' | '.' | '_' | '%' | '-')
}

/// Whether `c` is a letter ([`char::is_alphabetic`]), answering for the CJK Unified
/// Ideographs without the general lookup (every one of them is a letter:
/// `tests::cjk_ideographs_are_letters`).
fn is_letter(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}') || c.is_alphabetic()
}

/// The first `n` of `items` (in their order) by count, highest first, ties in their
/// order: what a stable sort by count, highest first, then the first `n`, gives. Only
/// the items kept are sorted: the `n`-th highest count is found first, and every item
/// above it and the first ones at it are kept.
fn top_by_count<T>(mut items: Vec<(T, usize)>, n: usize) -> Vec<(T, usize)> {
    if items.len() > n && n > 0 {
        let mut counts: Vec<usize> = items.iter().map(|&(_, c)| c).collect();
        let (_, &mut last, _) = counts.select_nth_unstable_by(n - 1, |a, b| b.cmp(a));
        let mut at_last = n - items.iter().filter(|&&(_, c)| c > last).count();
        items.retain(|&(_, c)| {
            c > last
                || (c == last && at_last > 0 && {
                    at_last -= 1;
                    true
                })
        });
    }
    items.truncate(n);
    items.sort_by_key(|&(_, c)| std::cmp::Reverse(c));
    items
}

/// 《 for [`work_titles`]: memmem skips to two of its bytes at once, where
/// `str::find('《')` stops at every byte like its last (a continuation byte common in
/// Chinese text).
static WORK_TITLE_OPEN: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new("《"));

/// Byte spans inside 《…》 (titles of films, books, programmes: 《唐山大地震》 is not
/// an earthquake). Only short, closed spans on one line count.
fn work_titles(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(open) = WORK_TITLE_OPEN
        .find(&text.as_bytes()[from..])
        .map(|i| from + i)
    {
        let inner = open + '《'.len_utf8();
        let Some(close) = text[inner..].find(['》', '\n', '《']).map(|i| inner + i) else {
            break;
        };
        if text[close..].starts_with('》') && text[inner..close].chars().count() <= 40 {
            spans.push((inner, close));
        }
        from = close;
    }
    spans
}

/// Segments only the runs of text that hold candidates, and answers whether a byte
/// range starts and ends on token boundaries. Each run is segmented at most once per
/// text and found again by a map lookup, so the cost stays linear in text length.
struct Boundaries<'t> {
    text: &'t str,
    /// run start → (run end, token boundaries within the run, sorted). Runs are
    /// maximal and so never overlap.
    runs: BTreeMap<usize, (usize, Vec<usize>)>,
}

impl<'t> Boundaries<'t> {
    fn new(text: &'t str) -> Self {
        Boundaries {
            text,
            runs: BTreeMap::new(),
        }
    }

    fn run_around(&self, start: usize, end: usize) -> (usize, usize) {
        let before = &self.text[..start];
        let run_start = before
            .char_indices()
            .rev()
            .find(|&(_, c)| !is_word_char(c))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let after = &self.text[end..];
        let run_end = after
            .char_indices()
            .find(|&(_, c)| !is_word_char(c))
            .map_or(self.text.len(), |(i, _)| end + i);
        (run_start, run_end)
    }

    /// The token boundaries of the run `s..e`, segmenting it on first use.
    fn cuts(&mut self, jieba: &Jieba, s: usize, e: usize) -> &[usize] {
        let text = self.text;
        &self
            .runs
            .entry(s)
            .or_insert_with(|| {
                // Tokens come in text order: their ends, after the run's start, are
                // already sorted.
                let tokens = jieba.cut(&text[s..e], false);
                let mut cuts = Vec::with_capacity(tokens.len() + 1);
                cuts.push(s);
                cuts.extend(tokens.iter().map(|t| s + t.byte_end));
                (e, cuts)
            })
            .1
    }

    fn aligned(&mut self, jieba: &Jieba, start: usize, end: usize) -> bool {
        let known = self
            .runs
            .range(..=start)
            .next_back()
            .filter(|&(_, &(e, _))| end <= e)
            .map(|(&s, &(e, _))| (s, e));
        let (s, e) = match known {
            Some(run) => run,
            None => {
                let run = self.run_around(start, end);
                // A candidate that is its whole run is aligned: segmentation always
                // cuts at a run's edges. Its run need not be segmented.
                if run == (start, end) {
                    return true;
                }
                run
            }
        };
        let cuts = self.cuts(jieba, s, e);
        cuts.binary_search(&start).is_ok() && cuts.binary_search(&end).is_ok()
    }

    /// Every token of the text that lies in a word run, as byte ranges in text order:
    /// what segmenting the whole text gives, less the single non-word characters.
    /// Runs already segmented for the boundary checks are not segmented again; the
    /// text between two of them is segmented in one call (jieba splits it at its
    /// non-word characters itself, so each run in it gets the tokens it gets alone,
    /// and the non-word characters come out as tokens of their own, left out here).
    /// Given to `token` one by one: key terms count them as they come, with no list.
    fn each_token(&self, jieba: &Jieba, mut token: impl FnMut(usize, usize)) {
        let text = self.text;
        let mut from = 0;
        let segmented = self
            .runs
            .iter()
            .map(|(&s, (e, cuts))| (s, *e, cuts.as_slice()));
        for (s, e, cuts) in segmented.chain(std::iter::once((text.len(), text.len(), &[][..]))) {
            if from < s {
                for t in jieba.cut(&text[from..s], false) {
                    if t.word.starts_with(is_word_char) {
                        token(from + t.byte_start, from + t.byte_end);
                    }
                }
            }
            for w in cuts.windows(2) {
                token(w[0], w[1]);
            }
            from = e;
        }
    }

    /// [`Boundaries::each_token`] as a list.
    #[cfg(test)]
    fn tokens(&self, jieba: &Jieba) -> Vec<(usize, usize)> {
        let mut tokens = Vec::new();
        self.each_token(jieba, |s, e| tokens.push((s, e)));
        tokens
    }
}

/// Running totals while reading one item.
#[derive(Debug, Default)]
struct Evidence {
    topic_subject: Vec<f64>,
    topic_event: Vec<f64>,
    /// Per topic: the weight of its terms in the title (for the learned order).
    topic_title: Vec<f64>,
    /// Per topic: the strongest term seen (weighted), for the unit override.
    topic_best: Vec<Option<(f64, usize)>>,
    /// Per topic: the byte offset of its first counted term (for the learned order:
    /// the topic the title opens with).
    topic_first: Vec<usize>,
    harm: f64,
    grievance: f64,
    routine: f64,
    title_problem: bool,
    title_routine: bool,
    /// An office or official is named (anywhere / in the title).
    official: bool,
    title_official: bool,
    matches: Vec<TermMatch>,
}

impl Classifier {
    /// Loads the dictionary folder for a jurisdiction. The folder's layout and file
    /// formats are described in `dictionaries/README.md`.
    pub fn load(dir: &Path, jurisdiction: &Jurisdiction) -> Result<Classifier, ClassifyError> {
        Classifier::build(dir, jurisdiction, true)
    }

    /// [`Classifier::load`] without the learned files (`model.txt`, `topic_rank.txt`):
    /// the dictionary rule decides and orders. What `examples/train.rs` reads the
    /// features with before it writes those files, so that a file it is to replace (of
    /// an older feature layout, which `load` refuses) does not stop it.
    pub fn load_rules(
        dir: &Path,
        jurisdiction: &Jurisdiction,
    ) -> Result<Classifier, ClassifyError> {
        Classifier::build(dir, jurisdiction, false)
    }

    fn build(
        dir: &Path,
        jurisdiction: &Jurisdiction,
        learned: bool,
    ) -> Result<Classifier, ClassifyError> {
        let dict = Dictionaries::load(dir, jurisdiction)?;

        let jieba = {
            let mut jieba = Jieba::new();
            jieba
                .load_dict(&mut dict.userdict.as_bytes())
                .map_err(|e| ClassifyError::UserDict(e.to_string()))?;
            // Place names must come out of segmentation whole, or the boundary check
            // would reject them.
            for place in &dict.places {
                for name in std::iter::once(&place.name).chain(&place.aliases) {
                    if !jieba.has_word(name) {
                        jieba.add_word(name, None, Some("ns"));
                    }
                }
            }
            // `Jieba::new` sizes its word tables for the bundled dictionary exactly, so
            // the first word added above doubled them (16 MiB allocated for 8 used). A
            // clone allocates only what is used; the grown original is freed here.
            // The same dictionary, so the same segmentation (docs/performance.md
            // "Memory", round 5).
            jieba.clone()
        };

        let mut index: HashMap<String, usize> = HashMap::new();
        let mut term_strings: Vec<String> = Vec::new();
        let mut entries: Vec<Vec<Entry>> = Vec::new();
        let mut add = |term: &str, entry: Entry| {
            let i = *index.entry(term.to_string()).or_insert_with(|| {
                term_strings.push(term.to_string());
                entries.push(Vec::new());
                term_strings.len() - 1
            });
            entries[i].push(entry);
        };
        for (t, topic) in dict.topics.iter().enumerate() {
            for (k, term) in topic.terms.iter().enumerate() {
                add(&term.term, Entry::Topic { topic: t, term: k });
            }
        }
        for cue in &dict.harm {
            add(&cue.term, Entry::Harm(cue.weight));
        }
        for cue in &dict.grievance {
            add(&cue.term, Entry::Grievance(cue.weight));
        }
        for cue in &dict.routine {
            add(&cue.term, Entry::Routine(cue.weight));
        }
        for cue in &dict.official {
            add(&cue.term, Entry::Official);
        }
        // The place names after the terms; one that is also a term keeps its pattern.
        let term_count = term_strings.len();
        let mut patterns = term_strings.clone();
        let mut place_of: Vec<Option<usize>> = vec![None; term_count];
        for (i, place) in dict.places.iter().enumerate() {
            for name in std::iter::once(&place.name).chain(&place.aliases) {
                let pattern = *index.entry(name.clone()).or_insert_with(|| {
                    patterns.push(name.clone());
                    place_of.push(None);
                    patterns.len() - 1
                });
                place_of[pattern].get_or_insert(i);
            }
        }
        // A full DFA: one table lookup per byte of every text, where the contiguous NFA
        // follows failure transitions on most Chinese bytes (docs/performance.md, fifth
        // round: the pass at about half the time, for about 3.5 MB more memory).
        let dictionary = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&patterns)
            .map_err(|e| ClassifyError::Matcher(e.to_string()))?;

        let stopwords: FxHashSet<String> = dict.stopwords.iter().cloned().collect();
        let (model, ranker) = if learned {
            (model::Model::load(dir)?, model::Ranker::load(dir)?)
        } else {
            (None, None)
        };
        let casualty = casualty::Reader::load(dir)?;
        let victims = victims::VictimWords::load(dir, &casualty)?;

        Ok(Classifier {
            dict,
            jieba,
            tfidf: OnceLock::new(),
            dictionary,
            topical: entries
                .iter()
                .map(|e| e.iter().any(|e| matches!(e, Entry::Topic { .. })))
                .collect(),
            official_only: entries
                .iter()
                .map(|e| e.iter().all(|e| matches!(e, Entry::Official)))
                .collect(),
            entries,
            term_strings,
            place_of,
            stopwords,
            model,
            ranker,
            victims,
            casualty,
        })
    }

    /// Topic id → Chinese name, for every topic the dictionaries define.
    pub fn topic_names(&self) -> BTreeMap<String, String> {
        self.dict.topic_names()
    }

    /// The lead unit (牵头单位) of a topic.
    pub fn topic_unit(&self, topic: &str) -> Option<&str> {
        self.dict
            .topics
            .iter()
            .find(|t| t.id == topic)
            .map(|t| t.unit.as_str())
    }

    /// The government answerable for a place (属地管理), e.g. 景芝镇 → 景芝镇人民政府.
    pub fn place_government(&self, place: &str) -> Option<&str> {
        self.dict
            .places
            .iter()
            .find(|p| p.name == place || p.aliases.iter().any(|a| a == place))
            .and_then(|p| p.government.as_deref())
    }

    /// The government of the first of `places` that is a town of the jurisdiction
    /// (not the county itself, whose entry comes first).
    fn town_government(&self, places: &[String]) -> Option<String> {
        places.iter().find_map(|name| {
            self.dict
                .places
                .iter()
                .skip(1)
                .find(|p| p.local && p.name == *name)
                .and_then(|p| p.government.clone())
        })
    }

    fn normalized(title: &str, body: &str) -> (String, usize) {
        let mut text = String::with_capacity(title.len() + body.len() + 1);
        let title_end = Self::normalize_item(title, body, &mut text);
        (text, title_end)
    }

    /// Appends the item's normalized title, `\n` and normalized body to `text`; gives
    /// where the title ends.
    fn normalize_item(title: &str, body: &str, text: &mut String) -> usize {
        normalize::normalize_into(title, text);
        let title_end = text.len();
        text.push('\n');
        normalize::normalize_into(body, text);
        title_end
    }

    /// Runs `read` on the item's normalized text and where its title ends, normalized
    /// into the thread's reused buffer ([`TEXT`]): no allocation per item for it.
    fn with_normalized<R>(title: &str, body: &str, read: impl FnOnce(&str, usize) -> R) -> R {
        TEXT.with(|buffer| {
            // Only a read inside a read on the same thread finds the buffer in use:
            // that one gets a text of its own.
            let Ok(mut text) = buffer.try_borrow_mut() else {
                let (text, title_end) = Self::normalized(title, body);
                return read(&text, title_end);
            };
            text.clear();
            let title_end = Self::normalize_item(title, body, &mut text);
            let out = read(&text, title_end);
            if text.capacity() > KEPT_TEXT_BYTES {
                *text = String::new();
            }
            out
        })
    }

    /// The terms and places in `text`, by one pass of the dictionary automaton. Its
    /// overlapping matches hold every occurrence of every place name, so the
    /// leftmost-longest ones are picked from them as that search would: in order of
    /// start, the longest first, each one that starts at or after the end of the last
    /// one taken. (`tests::one_scan_finds_what_two_automata_find`.)
    fn scan(&self, text: &str) -> Scan {
        let mut terms = Vec::new();
        let mut places = Vec::new();
        for m in self.dictionary.find_overlapping_iter(text) {
            let (pattern, start, end) = (m.pattern().as_usize(), m.start(), m.end());
            if pattern < self.term_strings.len() {
                terms.push(Hit {
                    pattern,
                    start,
                    end,
                });
            }
            if let Some(place) = self.place_of[pattern] {
                places.push(PlaceHit { place, start, end });
            }
        }
        // No two place hits share a span: the automaton's patterns are distinct.
        places.sort_unstable_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
        let mut reach = 0;
        places.retain(|p| {
            let take = p.start >= reach;
            if take {
                reach = p.end;
            }
            take
        });
        Scan { terms, places }
    }

    /// Dictionary hits on word boundaries; the longest wins where hits overlap.
    ///
    /// Only hits that can change the evidence have their boundaries checked (each
    /// check may segment a run): evidence counts a term once in the title and once in
    /// the body ([`Classifier::evidence`]), so a term already kept there is checked
    /// again only when it holds another hit, which it would remove if kept. Likewise a
    /// hit that is only an official cue, once an official cue is kept (in the title,
    /// for a hit in the title): its evidence is a flag already set. Every other hit is
    /// kept exactly when checking all of them would keep it, in the same order, so the
    /// evidence is the same.
    /// `hits`: the terms of [`Classifier::scan`].
    fn hits(
        &self,
        text: &str,
        title_end: usize,
        bounds: &mut Boundaries<'_>,
        mut hits: Vec<Hit>,
    ) -> Vec<Hit> {
        if hits.is_empty() {
            return hits;
        }
        // Work titles are sorted and disjoint: the only one that can hold a hit is the
        // last one starting at or before it.
        let titles = work_titles(text);
        hits.retain(|h| {
            let i = titles.partition_point(|&(s, _)| s <= h.start);
            !(i > 0 && h.end <= titles[i - 1].1)
        });
        // Cues matter only beside a topic: when no topic term is on word boundaries
        // (most items), the cues need no segmentation.
        let jieba = &self.jieba;
        if !hits
            .iter()
            .any(|h| self.topical[h.pattern] && bounds.aligned(jieba, h.start, h.end))
        {
            return Vec::new();
        }
        // The longest wins: drop every hit inside another one. In (start, longest
        // first) order, a hit lies inside an earlier one exactly when an earlier hit
        // reaches at least as far, so one sweep decides (no two hits share a span:
        // the automaton's patterns are distinct strings).
        hits.sort_unstable_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
        let mut kept = Vec::with_capacity(hits.len());
        let mut counted: FxHashSet<(usize, bool)> =
            FxHashSet::with_capacity_and_hasher(hits.len(), Default::default());
        let mut reach = 0;
        // An official cue kept so far (anywhere, in the title).
        let (mut official, mut title_official) = (false, false);
        for (i, h) in hits.iter().enumerate() {
            if reach >= h.end {
                continue;
            }
            // The hits after this one that start inside it come next in this order.
            let holds_another = || {
                hits[i + 1..]
                    .iter()
                    .take_while(|g| g.start < h.end)
                    .any(|g| g.end <= h.end)
            };
            let in_title = h.start < title_end;
            let term = (h.pattern, in_title);
            // What keeping it would add to the evidence is there already. (Not kept, it
            // moves `reach` no further; only a hit inside it would see that, and then
            // it holds another.)
            let adds_nothing = counted.contains(&term)
                || (self.official_only[h.pattern] && official && (title_official || !in_title));
            if adds_nothing && !holds_another() {
                continue;
            }
            if bounds.aligned(jieba, h.start, h.end) {
                reach = h.end;
                counted.insert(term);
                kept.push(*h);
                if self.entries[h.pattern]
                    .iter()
                    .any(|e| matches!(e, Entry::Official))
                {
                    official = true;
                    title_official |= in_title;
                }
            }
        }
        kept
    }

    fn evidence(&self, hits: &[Hit], title_end: usize) -> Evidence {
        let n = self.dict.topics.len();
        let mut ev = Evidence {
            topic_subject: vec![0.0; n],
            topic_event: vec![0.0; n],
            topic_title: vec![0.0; n],
            topic_best: vec![None; n],
            topic_first: vec![usize::MAX; n],
            ..Evidence::default()
        };
        // Each distinct term counts once in the title and once in the body. (FxHash in
        // these per-item sets and maps: their keys are small integers and words, never
        // chosen to collide, and SipHash cost more than the lookups' work.)
        let mut seen: FxHashSet<(usize, bool)> =
            FxHashSet::with_capacity_and_hasher(hits.len(), Default::default());
        // (topic, term string) of the matches listed so far: a match is built (two strings)
        // only when it is new.
        let mut listed: FxHashSet<(usize, usize)> =
            FxHashSet::with_capacity_and_hasher(hits.len(), Default::default());
        for hit in hits {
            let in_title = hit.start < title_end;
            if !seen.insert((hit.pattern, in_title)) {
                continue;
            }
            let factor = if in_title { TITLE_WEIGHT } else { 1.0 };
            for entry in &self.entries[hit.pattern] {
                match *entry {
                    Entry::Topic { topic, term } => {
                        let t = &self.dict.topics[topic].terms[term];
                        let w = t.weight * factor;
                        if in_title {
                            ev.topic_title[topic] += w;
                        }
                        if t.kind == TermKind::Event {
                            ev.topic_event[topic] += w;
                            ev.title_problem |= in_title;
                        } else {
                            ev.topic_subject[topic] += w;
                        }
                        ev.topic_first[topic] = ev.topic_first[topic].min(hit.start);
                        if ev.topic_best[topic].is_none_or(|(best, _)| w > best) {
                            ev.topic_best[topic] = Some((w, term));
                        }
                        if listed.insert((topic, hit.pattern)) {
                            ev.matches.push(TermMatch {
                                term: t.term.clone(),
                                topic: self.dict.topics[topic].id.clone(),
                            });
                        }
                    }
                    Entry::Harm(w) => {
                        ev.harm += w * factor;
                        ev.title_problem |= in_title;
                    }
                    Entry::Grievance(w) => {
                        ev.grievance += w * factor;
                        ev.title_problem |= in_title;
                    }
                    Entry::Routine(w) => {
                        ev.routine += w * factor;
                        ev.title_routine |= in_title;
                    }
                    Entry::Official => {
                        ev.official = true;
                        ev.title_official |= in_title;
                    }
                }
            }
        }
        ev
    }

    /// Classifies one item as news ([`ReportKind::News`]). `source_local`: the item
    /// comes from a source configured as local (everything from it concerns the
    /// jurisdiction).
    pub fn classify(&self, title: &str, body: &str, source_local: bool) -> Classification {
        self.classify_as(title, body, source_local, ReportKind::News)
    }

    /// Classifies one item of `kind`: a message-board post is decided by the model's
    /// board section (its own weights, calibration and threshold), news by the news
    /// section. Only `flag`, `confidence` and `severity` (none unless flagged) depend on
    /// the kind.
    pub fn classify_as(
        &self,
        title: &str,
        body: &str,
        source_local: bool,
        kind: ReportKind,
    ) -> Classification {
        self.read(title, body, source_local, kind, false).0
    }

    /// The learned model's input for one item, or `None` when the dictionaries find no
    /// candidate topic (such an item is never flagged): what `examples/train.rs` learns
    /// from.
    pub fn features(&self, title: &str, body: &str) -> Option<Vec<model::Feature>> {
        self.read(title, body, false, ReportKind::News, true)
            .1
            .map(model::sorted)
    }

    /// The kept topics in the dictionary rule's order, each with its ranking features,
    /// when there are two or more (else empty): what `examples/train.rs` learns the
    /// topic order from.
    pub fn rank_candidates(&self, title: &str, body: &str) -> Vec<(String, Vec<model::Feature>)> {
        Self::with_normalized(title, body, |text, title_end| {
            let mut bounds = Boundaries::new(text);
            let mut out = Vec::new();
            self.classify_text(
                text,
                title_end,
                &mut bounds,
                Origin::default(),
                false,
                Some(&mut out),
            );
            out
        })
    }

    /// Replaces the topic ranker (training measures with and without one).
    pub fn set_ranker(&mut self, ranker: Option<model::Ranker>) {
        self.ranker = ranker;
    }

    /// The classification and, for a candidate when `want_features`, the model's
    /// features (as built: not sorted, an index possibly repeated).
    fn read(
        &self,
        title: &str,
        body: &str,
        source_local: bool,
        kind: ReportKind,
        want_features: bool,
    ) -> (Classification, Option<Vec<model::Feature>>) {
        self.read_then(title, body, source_local, kind, want_features, |_, read| {
            read
        })
    }

    /// [`Classifier::read`], handing the reading and the segmentation it made to `then`
    /// (the key terms reuse the runs the boundary checks segmented).
    fn read_then<R>(
        &self,
        title: &str,
        body: &str,
        source_local: bool,
        kind: ReportKind,
        want_features: bool,
        then: impl FnOnce(&Boundaries<'_>, (Classification, Option<Vec<model::Feature>>)) -> R,
    ) -> R {
        Self::with_normalized(title, body, |text, title_end| {
            let mut bounds = Boundaries::new(text);
            let read = self.classify_text(
                text,
                title_end,
                &mut bounds,
                Origin {
                    local: source_local,
                    kind,
                },
                want_features,
                None,
            );
            then(&bounds, read)
        })
    }

    /// Classifies one item and, when it is flagged, gives its key terms too (see
    /// [`Classifier::key_terms`]): the text is normalized and segmented once for both,
    /// the daemon's path. An unflagged item gets no key terms (nothing groups it).
    /// `kind` as for [`Classifier::classify_as`].
    pub fn classify_with_key_terms(
        &self,
        title: &str,
        body: &str,
        source_local: bool,
        kind: ReportKind,
    ) -> (Classification, Vec<String>) {
        self.classify_with_key_terms_if(title, body, source_local, kind, |c| c.flag)
    }

    /// [`Classifier::classify_with_key_terms`], the key terms given when `wanted` says
    /// so of the classification (else none): the pipeline wants them for a response
    /// candidate, flagged or not, and gets them from the segmentation classification
    /// began instead of normalizing and segmenting the text again.
    pub fn classify_with_key_terms_if(
        &self,
        title: &str,
        body: &str,
        source_local: bool,
        kind: ReportKind,
        wanted: impl FnOnce(&Classification) -> bool,
    ) -> (Classification, Vec<String>) {
        self.read_then(
            title,
            body,
            source_local,
            kind,
            false,
            |bounds, (classification, _)| {
                let terms = if wanted(&classification) {
                    self.key_terms_of(bounds)
                } else {
                    Vec::new()
                };
                (classification, terms)
            },
        )
    }

    fn classify_text(
        &self,
        text: &str,
        title_end: usize,
        bounds: &mut Boundaries<'_>,
        origin: Origin,
        want_features: bool,
        rank_out: Option<&mut Vec<(String, Vec<model::Feature>)>>,
    ) -> (Classification, Option<Vec<model::Feature>>) {
        let scan = self.scan(text);
        let hits = self.hits(text, title_end, bounds, scan.terms);
        let ev = self.evidence(&hits, title_end);

        // Topics: strong enough, and not dwarfed by the best one. Field words (学生,
        // 医院 …) pile up in any long text, so they count up to a cap and rank at half
        // weight against problem words.
        let n = ev.topic_event.len();
        let role = |t: usize| self.dict.topics[t].role;
        let subject = |t: usize| ev.topic_subject[t].min(SUBJECT_CAP);
        let score = |t: usize| {
            if role(t) == TopicRole::Official && !ev.official {
                0.0
            } else {
                ev.topic_event[t] + subject(t)
            }
        };
        let rank = |t: usize| ev.topic_event[t] + 0.5 * subject(t);
        let best = (0..n).map(score).fold(0.0, f64::max);
        let mut order: Vec<usize> = (0..n)
            .filter(|&t| score(t) >= MIN_TOPIC_SCORE && score(t) >= TOPIC_RATIO * best)
            .collect();
        // Field topics first; cross-cutting ones (干部作风, 市场监管) after them.
        let cross = |t: usize| match role(t) {
            TopicRole::Field => false,
            TopicRole::Cross => true,
            TopicRole::Official => !ev.title_official,
        };
        order.sort_by(|&a, &b| {
            cross(a)
                .cmp(&cross(b))
                .then(rank(b).total_cmp(&rank(a)))
                .then(a.cmp(&b))
        });
        // A topic that is only added beside others (教育 beside a poisoning) moves
        // behind the last of them that was kept with more than half its score (a
        // passing mention of a fight does not make an exam complaint 社会安全).
        for t in 0..n {
            let after = &self.dict.topics[t].after;
            let Some(from) = order.iter().position(|&x| x == t) else {
                continue;
            };
            let Some(last) = order
                .iter()
                .rposition(|&x| after.contains(&x) && 2.0 * score(x) > score(t))
            else {
                continue;
            };
            if last > from {
                let moved = order.remove(from);
                order.insert(last, moved);
            }
        }
        // The title and lede bigrams, of both the ranker's and the model's features:
        // only a candidate (a kept topic) needs them.
        let grams = if order.is_empty() {
            Vec::new()
        } else {
            model::lede_bigrams(text, title_end)
        };
        // The learned order (topic_rank.txt), when there is a choice: the dictionaries
        // keep the topics and explain them, the ranker orders them.
        if order.len() > 1 && (self.ranker.is_some() || rank_out.is_some()) {
            let candidates: Vec<model::Candidate<'_>> = order
                .iter()
                .map(|&t| model::Candidate {
                    topic: &self.dict.topics[t].id,
                    event: ev.topic_event[t],
                    subject: subject(t),
                    title: ev.topic_title[t],
                    first: ev.topic_first[t],
                    cross: cross(t),
                })
                .collect();
            let kept: Vec<&TermMatch> = ev
                .matches
                .iter()
                .filter(|m| candidates.iter().any(|c| c.topic == m.topic))
                .collect();
            let ranked = self
                .ranker
                .as_ref()
                .map(|r| r.order_of(&grams, &candidates, &kept));
            if let Some(out) = rank_out {
                let features = model::rank_features(&grams, &candidates, &kept);
                *out = candidates
                    .iter()
                    .map(|c| c.topic.to_string())
                    .zip(features)
                    .collect();
            }
            if let Some(ranked) = ranked {
                order = ranked.iter().map(|&k| order[k]).collect();
            }
        }

        let events: f64 = order.iter().map(|&t| ev.topic_event[t]).sum();
        let problem = events + ev.harm + ev.grievance;
        let routine_wins = ev.routine >= problem || (ev.title_routine && !ev.title_problem);
        let rule_flag = !order.is_empty() && problem >= MIN_PROBLEM_SCORE && !routine_wins;

        // The event's figures: statistics over a period or many incidents are left out.
        let event_text = self.victims.without_background(text);
        // One split for both readings: each sentence is read once.
        let every = self.victims.reads_every_sentence(&event_text);
        let sentences = casualty::split_marked(&event_text, every);
        let (mut casualties, uncounted) = self.casualty.extract_marked(&event_text, &sentences);
        self.victims.refine(
            &self.casualty,
            &event_text,
            &sentences,
            every,
            &mut casualties,
            uncounted,
        );
        let (places, any_local) = self.find_places(text, bounds, &scan.places);
        let government = self.town_government(&places);
        let unit = order.first().map(|&t| {
            let topic = &self.dict.topics[t];
            ev.topic_best[t]
                .and_then(|(_, k)| topic.terms[k].unit.clone())
                .unwrap_or_else(|| topic.unit.clone())
        });
        let score = if order.is_empty() {
            0.0
        } else {
            ((best + problem - ev.routine).max(0.0) * 100.0).round() / 100.0
        };
        let topics: Vec<String> = order
            .iter()
            .map(|&t| self.dict.topics[t].id.clone())
            .collect();
        // Explanation: the terms of the kept topics only (moved out of the evidence,
        // which needs them no more).
        let matches: Vec<TermMatch> = ev
            .matches
            .into_iter()
            .filter(|m| topics.contains(&m.topic))
            .collect();
        // The decision: the learned model for a candidate, else the dictionary rule.
        let signals = (!order.is_empty()).then(|| model::Signals {
            text,
            title_end,
            grams: &grams,
            problem,
            harm: ev.harm,
            grievance: ev.grievance,
            routine: ev.routine,
            best,
            title_problem: ev.title_problem,
            title_routine: ev.title_routine,
            official: ev.official,
            title_official: ev.title_official,
            rule_flag,
            topics: &topics,
            matches: &matches,
            casualties: &casualties,
        });
        let (flag, confidence) = match (&self.model, &signals) {
            (Some(m), Some(s)) => {
                let m = m.kind(origin.kind);
                m.decide(m.score_of(s))
            }
            (Some(m), None) => (false, m.prior()),
            (None, _) => (rule_flag, if rule_flag { 1.0 } else { 0.0 }),
        };
        let features = signals
            .filter(|_| want_features)
            .map(|s| model::features(&s));
        let classification = Classification {
            flag,
            severity: casualty::severity(flag, &casualties),
            deaths: casualties.deaths,
            injured: casualties.injured,
            seriously_injured: casualties.seriously_injured,
            topics,
            places,
            local: origin.local || any_local,
            government,
            unit,
            score,
            confidence: (confidence * 1000.0).round() / 1000.0,
            matches,
        };
        (classification, features)
    }

    /// Place names found (canonical names, first appearance first) and whether any
    /// of them is in the jurisdiction. `hits`: the places of [`Classifier::scan`].
    fn find_places(
        &self,
        text: &str,
        bounds: &mut Boundaries<'_>,
        hits: &[PlaceHit],
    ) -> (Vec<String>, bool) {
        let mut found: Vec<String> = Vec::new();
        let mut local = false;
        for m in hits {
            let place = &self.dict.places[m.place];
            // A place already found changes nothing more (unless it is ours and none
            // of ours was found yet): its boundaries need no check.
            let known = found.contains(&place.name) && (local || !place.local);
            if known || !bounds.aligned(&self.jieba, m.start, m.end) {
                continue;
            }
            // 山西省某县官庄镇 is not our 官庄镇: a place name right after another
            // province, city or county is that one's.
            if place.local && self.foreign_prefix(&text[..m.start]) {
                continue;
            }
            local |= place.local;
            if !found.contains(&place.name) {
                found.push(place.name.clone());
            }
        }
        (found, local)
    }

    /// Whether `before` (the text up to a place name) ends in an administrative name
    /// (…省, …市, …县, …区 …) that is neither ours nor one of our parents.
    fn foreign_prefix(&self, before: &str) -> bool {
        let run: String = before
            .chars()
            .rev()
            .take_while(|&c| is_word_char(c) && !c.is_ascii())
            .take(12)
            .collect::<Vec<char>>()
            .into_iter()
            .rev()
            .collect();
        if !run.ends_with(['省', '市', '县', '区', '州', '旗', '盟']) {
            return false;
        }
        let ours = [
            "我市", "本市", "全市", "我县", "本县", "全县", "我区", "本区",
        ];
        !ours.iter().any(|w| run.ends_with(w))
            && !self.dict.places.iter().any(|p| {
                (p.local || p.ancestor)
                    && std::iter::once(&p.name)
                        .chain(&p.aliases)
                        .any(|n| run.ends_with(n.as_str()))
            })
    }

    /// Segmented content words of an item (stopwords, single characters and numbers
    /// removed), most frequent first, at most 32: what the ledger compares to decide
    /// whether two items report the same event.
    pub fn key_terms(&self, title: &str, body: &str) -> Vec<String> {
        Self::with_normalized(title, body, |text, _| {
            self.key_terms_of(&Boundaries::new(text))
        })
    }

    fn key_terms_of(&self, bounds: &Boundaries<'_>) -> Vec<String> {
        let text = bounds.text;
        // The words of two characters or more, each once, in order of first appearance,
        // with their counts; `index` finds a word's place. A word is hashed once per
        // time it comes; whether it is a stopword or holds no letter is asked once per
        // distinct word, below (the answer is the word's, wherever it stands).
        let mut index: FxHashMap<&str, usize> =
            FxHashMap::with_capacity_and_hasher(text.len() / 8, Default::default());
        let mut words: Vec<(&str, usize)> = Vec::with_capacity(text.len() / 8);
        bounds.each_token(&self.jieba, |start, end| {
            let w = &text[start..end];
            // A single character (the test that needs no count of them all).
            if w.chars().nth(1).is_none() {
                return;
            }
            let next = words.len();
            let at = *index.entry(w).or_insert(next);
            if at == next {
                words.push((w, 1));
            } else {
                words[at].1 += 1;
            }
        });
        words.retain(|&(w, _)| !self.stopwords.contains(w) && w.chars().any(is_letter));
        top_by_count(words, MAX_KEY_TERMS)
            .into_iter()
            .map(|(w, _)| w.to_string())
            .collect()
    }

    /// The `top_n` keywords of a text by jieba TF-IDF, with their weights, heaviest
    /// first (stopwords excluded): the digest's top terms.
    pub fn keywords(&self, text: &str, top_n: usize) -> Vec<(String, f64)> {
        let mut normalized = String::new();
        normalize::normalize_into(text, &mut normalized);
        let tfidf = self.tfidf.get_or_init(|| {
            let mut tfidf = TfIdf::default();
            *tfidf.config_mut() = jieba_rs::KeywordExtractConfig::builder()
                .set_stop_words(self.stopwords.iter().cloned().collect())
                .build();
            tfidf
        });
        tfidf
            .extract_keywords(&self.jieba, &normalized, top_n, Vec::new())
            .into_iter()
            .filter(|k| k.keyword.chars().any(|c| c.is_alphabetic()))
            .map(|k| (k.keyword, k.weight))
            .collect()
    }

    /// jieba segmentation with this classifier's dictionaries (for benchmarks and
    /// tools that need the same tokens).
    pub fn segment<'a>(&self, text: &'a str) -> Vec<&'a str> {
        self.jieba
            .cut(text, false)
            .into_iter()
            .map(|t| t.word)
            .collect()
    }
}

#[cfg(test)]
mod tests;
