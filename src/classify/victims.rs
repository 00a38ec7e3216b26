//! Casualty readings the figure patterns of [`super::casualty`] leave out, with their
//! vocabulary in `dictionaries/casualty/` (words there, grammar here):
//! - a single victim stated without a count (…当场身亡, 女子被害, 送了命) is one death,
//!   unless the word is conceded (就是撞死了人也…); after a count the same words are the
//!   toll (其中1名船员在获救后已无生命体征), unless the word is a killing verb with its
//!   object after it (3名歹徒枪杀了一名店主: the count is of the killers);
//! - one person named by a noun, X某 or 其, then 死亡 (事故造成驾驶员死亡) is one death;
//!   a single death after treatment (李某医治无效死亡) is of the injured counted before
//!   only when the text links them ([`Reader::points_back`]);
//! - a toll after the verb without a counting word (遇难18，另有3人失踪) is that toll;
//! - injuries the text calls light (12人轻伤, 20余名学生轻微中毒) are not serious
//!   injuries: 国务院令第493号 grades on 重伤, so such figures do not raise the level.
//! - a toll ending its clause with a bare 死, or followed by an event noun (大巴翻车
//!   致13人死, 致22人死矿难事故), is that toll;
//! - a single injured person stated without a count (行人被撞伤, 致其受伤, 伤者, or an
//!   injury verb before one person: 刺伤医生, 打伤了他) is one injured, and one
//!   seriously injured when the sentence also says so (伤势严重), unless the
//!   sentence states a death, a plural or a hypothetical, or the text states deaths
//!   (the injury is then most often the dead victim's before death); a person named
//!   by a surname and 某 (打伤李某, 受伤的王某) is one person, like the listed nouns;
//! - a count after an injury verb (扎伤15名幼童, 伤3人) is the injured unless the
//!   patterns read more (死伤, 重伤, 轻伤, 受伤 are not such verbs: the patterns read them);
//! - a sentence stating a statistic over a period (去年全年, 今年前11个月, 历年) or over
//!   ten or more incidents (457起车祸100人死亡) is background, not the event's figures
//!   (taxonomy.md: the figures of the event itself, the worst single one).
//!
//! Each of these lists is optional: without one, its reading is left out. The lists
//! the figure patterns of [`super::casualty`] are built from are required.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, MatchKind};
use memchr::memmem;
use regex::Regex;

use super::ClassifyError;
use super::casualty::{
    Casualties, DEATHLY, HURTFUL, LIGHT, Marked, Reader, SENTENCE_END, alternation, counts_killers,
    next_sentence, parse_count,
};

/// The word lists (`dictionaries/casualty/*.txt`, one entry per line).
#[derive(Debug, Clone, Default)]
pub(crate) struct VictimWords {
    /// A death stated of one person: 身亡, 被害, 送了命.
    single_death: Words,
    /// Words that make a death sentence not a single stated death: plurals (多人,
    /// 双双), negations (无人, 未造成), hypotheticals and advice (如果, 一旦, 谨防),
    /// near misses (险些, 获救), rates (死亡率).
    not_single: Words,
    /// A count of people followed by a word that calls them light (12人轻伤,
    /// 20余名学生出现轻微中毒症状); words from `light.txt`.
    light: Option<Regex>,
    /// The words of `light` alone: a sentence without one is not read with `light`.
    light_words: Words,
    /// Words that state serious injury: 重伤, 伤势严重, 危重.
    serious: Words,
    /// Words that make a sentence a statistic over a period: 全年, 今年前, 历年.
    background: Words,
    /// One injured person stated without a count: 被撞伤, 致其受伤, 伤者.
    single_injury: Words,
    /// The passive words of `single_injury` (被撞伤) with the agent between the marker
    /// and the verb: 被一辆三轮车撞伤, 遭碾压, 将其母身上多处打伤.
    agent_injury: Option<Regex>,
    /// A count after an injury verb (扎伤15名幼童); verbs from `injury_verbs.txt`.
    injured_after_verb: Option<Regex>,
    /// One person after an injury verb (刺伤医生, 打伤了他): verbs from
    /// `injury_verbs.txt`, people from `victim_nouns.txt`.
    verb_victim: Option<Regex>,
    /// One person hurt as the outcome of a cause (导致店员受伤, 致司机受轻伤) or named as
    /// the one hurt (受伤的环卫工): people from `victim_nouns.txt`.
    caused_victim: Option<Regex>,
    /// A toll with a bare 死 ending its clause or followed by a noun of
    /// `event_nouns.txt`: 致13人死, 致22人死矿难事故.
    bare_death: Option<Regex>,
    /// A single-death word conceded (就是撞死了人也…, 死了也): no death stated.
    conceded: Option<Regex>,
    /// A count before a word of `single_death.txt` (1名船员在获救后已无生命体征): the toll.
    counted_death: Option<Regex>,
    /// One person named by a noun dying without a count (司机死亡, 该男子不幸死亡, 王某
    /// 死亡): group 1 catches a 人数/率 after it (司机死亡人数: a figure, not a death).
    person_died: Option<Regex>,
    /// The killing verbs of `casualty/killing_verbs.txt`: a count before one with its
    /// object after it is of the killers.
    killing: Vec<String>,
}

/// One word list as an automaton: whether a text holds any of the words is one scan,
/// not one substring search per word. Leftmost-first: whether there is a match is the
/// same for every match kind, and this one lets the automaton skip ahead with its SIMD
/// prefilter (the standard kind has only byte prefilters, useless on Chinese text).
/// The words themselves are kept for [`Words::ends`].
#[derive(Debug, Clone, Default)]
struct Words(Option<AhoCorasick>, Vec<String>);

impl Words {
    fn new(words: &[String]) -> Result<Words, ClassifyError> {
        if words.is_empty() {
            return Ok(Words(None, Vec::new()));
        }
        AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(words)
            .map(|ac| Words(Some(ac), words.to_vec()))
            .map_err(|e| ClassifyError::Matcher(e.to_string()))
    }

    /// Whether `s` ends with one of the words (险些 in 2人险些丧命). Each word is tested
    /// at the end: the automaton's non-overlapping matches would let an earlier word
    /// overlapping the last one hide it (周年 in 周年前 hides 年前).
    fn ends(&self, s: &str) -> bool {
        self.1.iter().any(|w| s.ends_with(w.as_str()))
    }

    /// Whether `s` contains any of the words.
    fn any_in(&self, s: &str) -> bool {
        self.0.as_ref().is_some_and(|ac| ac.is_match(s))
    }
}

/// A toll after the verb with no counting word, ending its clause: 遇难18，…,
/// 死亡人数已升至23。 (死亡5人受伤 is not one: the 5 are the injured.)
static COUNT_AFTER_VERB: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:死亡|遇难|罹难|丧生|身亡)(?:人数)?(?:已经|已|共|累计)?(?:上升|增加|升|攀升)?(?:至|到|为|达)?([0-9]+)(?:[,，、;；]|$)",
    )
    .expect("valid pattern")
});

/// A count of people in the patterns below (Arabic or Chinese, 余/多 after it).
const COUNT: &str = r"([0-9]+|[一二两三四五六七八九十百千]+)(?:余|多)?";

/// A toll with a bare 死 ending its clause, or followed by an event noun: 致13人死,
/// 3人死，2人伤, 致22人死矿难事故.
fn bare_death_pattern(event_nouns: &[String]) -> Option<Regex> {
    let nouns = if event_nouns.is_empty() {
        String::new()
    } else {
        format!("|{}", alternation(event_nouns))
    };
    Some(
        Regex::new(&format!(r"{COUNT}(?:名|人)死(?:[,，、;；\s]|${nouns})"))
            .expect("escaped words form a valid pattern"),
    )
}

/// A count after an injury verb: 扎伤15名幼童, 划伤了5名小学生, 伤3人. Group 1 catches a
/// 死/重/轻 before the verb (死伤12人, 重伤3人), which the patterns read instead.
fn injured_after_verb_pattern(verbs: &[String]) -> Option<Regex> {
    if verbs.is_empty() {
        return None;
    }
    Some(
        Regex::new(&format!(
            r"([死重轻受])?(?:{})了?{COUNT}(?:名|人|位)",
            alternation(verbs)
        ))
        .expect("escaped words form a valid pattern"),
    )
}

/// An injury verb before one person: 刺伤医生, 打伤了他. The bare verb 伤 is left out
/// (伤了他的心). Group 1 catches a 死/重/轻/受 before the verb (重伤医生 is read by the
/// patterns), group 2 a 人/们 after the person (打伤他人, 刺伤医生们: not one person),
/// or a 国/市/省/县/区 (撞伤我国渔民: 我 is a place's people there), or a word of
/// `not_name_after.txt` (某些: 某 is "a certain" there).
fn verb_victim_pattern(verbs: &[String], people: &[String], names: &Reader) -> Option<Regex> {
    let verbs: Vec<String> = verbs
        .iter()
        .filter(|v| v.as_str() != "伤")
        .cloned()
        .collect();
    if verbs.is_empty() || people.is_empty() {
        return None;
    }
    Some(
        Regex::new(&format!(
            r"([死重轻受])?(?:{})了?(?:{}|{})([人们国市省县区]|{})?",
            alternation(&verbs),
            alternation(people),
            names.named_person,
            names.not_name_after_words
        ))
        .expect("escaped words form a valid pattern"),
    )
}

/// One person of `victim_nouns.txt` hurt as an outcome (导致店员受伤, 造成司机受轻伤) or
/// called the hurt one (受伤的环卫工). Group 1 catches a 人/们 (or 国/市/省/县/区, or a word
/// of `not_name_after.txt`) after the person
/// (受伤的老人们, 致他人受伤 does not match: 人 stands between 他 and 受伤).
fn caused_victim_pattern(people: &[String], names: &Reader) -> Option<Regex> {
    if people.is_empty() {
        return None;
    }
    let people = format!("{}|{}", alternation(people), names.named_person);
    let not_name_after = &names.not_name_after_words;
    Some(
        Regex::new(&format!(
            r"(?:致|导致|造成)(?:{people})(?:受轻伤|受重伤|受伤|摔伤|烧伤|烫伤)|受伤的(?:{people})([人们国市省县区]|{not_name_after})?"
        ))
        .expect("escaped words form a valid pattern"),
    )
}

/// The passive words of `single_injury` (被撞伤, 被碾压) read with an agent or a place
/// between a marker (被, 遭, 将其, 把) and the verb: 被一辆疾驰的三轮车撞伤, 遭碾压,
/// 被王某用土枪打伤, 用木棍将其母身上多处打伤. No digit and no clause break in between.
fn agent_injury_pattern(single_injury: &[String]) -> Option<Regex> {
    let verbs: Vec<String> = single_injury
        .iter()
        .filter_map(|w| w.strip_prefix('被'))
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect();
    if verbs.is_empty() {
        return None;
    }
    Some(
        Regex::new(&format!(
            r"(?:被|遭|将其|把)[^0-9,，。;；、:：!！?？\s]{{0,10}}?(?:{})",
            alternation(&verbs)
        ))
        .expect("escaped words form a valid pattern"),
    )
}

/// A single-death word conceded: after 就是 and followed in its clause by 也
/// (就是撞死了人也跟我没关系), or followed by 了/人/了人 and 也 (撞死了人也不管). A plain
/// death before 也 (老人被困电梯身亡也引发业主不满) is stated, not conceded.
fn conceded_pattern(single_death: &[String]) -> Option<Regex> {
    if single_death.is_empty() {
        return None;
    }
    let words = alternation(single_death);
    Some(
        Regex::new(&format!(
            r"(?:{words})(?:了人?|人)也|就是[^,，。;；!！?？、：:\s]{{0,6}}?(?:{words})[^,，。;；!！?？、：:\s]{{0,2}}也"
        ))
        .expect("escaped words form a valid pattern"),
    )
}

/// A count of people before a single-death word, with a short gap: 1名船员在获救后已无
/// 生命体征, 2名女子被害. Group 2 is the gap (a near miss or negation ending it, 险些,
/// undoes it), group 3 a 人/者 after the word (5名被害人: victims, not the dead).
fn counted_death_pattern(single_death: &[String]) -> Option<Regex> {
    if single_death.is_empty() {
        return None;
    }
    Some(
        Regex::new(&format!(
            r"{COUNT}(?:名|人|位|个人)([^0-9一二两三四五六七八九十,，。;；!！?？、：:]{{0,8}}?)(?:{})([人者])?",
            alternation(single_death)
        ))
        .expect("escaped words form a valid pattern"),
    )
}

/// One person named by a noun of `lone_persons.txt`, `victim_nouns.txt` or
/// `one_victim.txt` ([`Reader::single_persons`]: 司机, 男子, 患者), by a surname and 某
/// or by 其, then 死亡: one death
/// (the noun alone is one person, as in 司机受轻伤). Group 1 catches 人数 or 率 after it.
fn person_died_pattern(names: &Reader) -> Option<Regex> {
    let people = &names.single_persons;
    if people.is_empty() {
        return None;
    }
    Some(
        Regex::new(&format!(
            r"(?:{}|{}|其)(?:不幸)?死亡(人数|率)?",
            alternation(people),
            names.named_person
        ))
        .expect("escaped words form a valid pattern"),
    )
}

/// Whether the single death after treatment stated in `sentences[k]` (李某医治无效死亡) is
/// of one of the injured stated before it, in its sentence or an earlier one: its words
/// point back to them or name a person hurt there ([`Reader::points_back`]). Another
/// person (3名民警受伤 … 另一男子经抢救无效死亡) is another victim.
fn died_of_counted(reader: &Reader, sentences: &[Marked<'_>], k: usize) -> bool {
    let sentence = sentences[k].text;
    let Some(end) = reader
        .died_later
        .iter()
        .filter_map(|w| sentence.find(w.as_str()).map(|at| at + w.len()))
        .min()
    else {
        return false;
    };
    let died = &sentence[..end];
    sentences[..k]
        .iter()
        .map(|m| m.text)
        .chain([died])
        .any(|earlier| reader.points_back(died, earlier))
}

/// Passive markers before a death verb (被压死, 遭杀害, 给轧死).
const PASSIVE_MARKERS: [char; 3] = ['被', '遭', '给'];

/// Markers of an agent construction (将其殴打致死, 把他砍死, 持刀, 用刀): a count
/// before them is of the attackers.
const AGENT_MARKERS: [char; 6] = ['将', '把', '对', '向', '持', '用'];

/// A count of incidents (457起, 92宗): with ten or more, the sentence is a statistic.
static INCIDENTS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"([0-9]+|[一二两三四五六七八九十百千万]+)(?:余|多)?(?:起|宗)")
        .expect("valid pattern")
});

/// Fewest incidents a sentence must count to be a statistic rather than one event
/// (4起交通事故先后涉及22台车 is one pile-up).
const MIN_INCIDENTS: u32 = 10;

/// One list of `dictionaries/casualty/`: its words with their line numbers.
pub(crate) struct List {
    pub(crate) path: PathBuf,
    pub(crate) words: Vec<(usize, String)>,
}

impl List {
    /// The list `name`; `None` when there is no such file.
    fn read(dir: &Path, name: &str) -> Result<Option<List>, ClassifyError> {
        let path = dir.join("casualty").join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let words = text
                    .lines()
                    .enumerate()
                    .map(|(i, l)| (i + 1, l.trim()))
                    .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
                    .map(|(i, l)| (i, l.to_string()))
                    .collect();
                Ok(Some(List { path, words }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ClassifyError::Read { path, source }),
        }
    }

    /// A list the casualty patterns are built from: it must exist, hold a word, and
    /// hold one word a line (a word with a space in it is two words run together).
    pub(crate) fn required(dir: &Path, name: &str) -> Result<List, ClassifyError> {
        let path = dir.join("casualty").join(name);
        let list = List::read(dir, name)?.ok_or_else(|| ClassifyError::Read {
            path: path.clone(),
            source: std::io::ErrorKind::NotFound.into(),
        })?;
        if list.words.is_empty() {
            return Err(ClassifyError::EmptyList(path));
        }
        if let Some((line, word)) = list
            .words
            .iter()
            .find(|(_, w)| w.contains(char::is_whitespace))
        {
            return Err(ClassifyError::Format {
                path,
                line: *line,
                message: format!("“{word}”中有空格；一行只写一个词"),
            });
        }
        Ok(list)
    }

    pub(crate) fn strings(&self) -> Vec<String> {
        self.words.iter().map(|(_, w)| w.clone()).collect()
    }
}

/// The words of an optional list (none when the file is missing).
pub(crate) fn words(dir: &Path, name: &str) -> Result<Vec<String>, ClassifyError> {
    Ok(List::read(dir, name)?.map_or_else(Vec::new, |l| l.strings()))
}

/// `light` as one pattern: a count of people, a short gap, a light word.
fn light_pattern(light: &[String]) -> Option<Regex> {
    if light.is_empty() {
        return None;
    }
    Some(
        Regex::new(&format!(
            r"{COUNT}(?:名|人|位)[^0-9一二两三四五六七八九十,，。;；、]{{0,8}}?(?:{})",
            alternation(light)
        ))
        .expect("escaped words form a valid pattern"),
    )
}

/// A character of most injury statements (受伤, 重伤, 碾压, 撞倒 …).
pub(super) fn hurtful_char(c: char) -> bool {
    matches!(c, '伤' | '重' | '碾' | '撞')
}

/// A character of most death statements (死亡, 丧命, 遇害, 去世 …).
pub(super) fn deathly_char(c: char) -> bool {
    matches!(
        c,
        '亡' | '命' | '害' | '杀' | '死' | '难' | '丧' | '毙' | '世'
    )
}

/// The counters of [`INCIDENTS`] (起, 宗), searched for before the pattern.
/// `str::contains('起')` skips with memchr to the character's last byte, a
/// continuation byte common in Chinese text, and stops at about one character in 20;
/// memmem skips to two of its bytes at once.
static COUNTERS: LazyLock<[memmem::Finder<'static>; 2]> =
    LazyLock::new(|| ["起", "宗"].map(memmem::Finder::new));

/// Whether `s` counts [`MIN_INCIDENTS`] or more incidents. (Two searches that skip
/// through the text ([`COUNTERS`]); a search for either character of a slice decodes
/// and compares every character, and this runs on every whole text.)
fn many_incidents(s: &str) -> bool {
    COUNTERS.iter().any(|c| c.find(s.as_bytes()).is_some())
        && INCIDENTS
            .captures_iter(s)
            .filter_map(|caps| parse_count(caps.get(1)?.as_str()))
            .any(|n| n >= MIN_INCIDENTS)
}

impl VictimWords {
    /// The lists of `dir/casualty/`; `names` gives the persons named by a surname and 某.
    pub(crate) fn load(dir: &Path, names: &Reader) -> Result<VictimWords, ClassifyError> {
        let light = words(dir, "light.txt")?;
        let single_injury = words(dir, "single_injury.txt")?;
        let injury_verbs = words(dir, "injury_verbs.txt")?;
        let victim_nouns = words(dir, "victim_nouns.txt")?;
        let single_death = words(dir, "single_death.txt")?;
        Ok(VictimWords {
            single_death: Words::new(&single_death)?,
            not_single: Words::new(&words(dir, "not_single.txt")?)?,
            light: light_pattern(&light),
            light_words: Words::new(&light)?,
            serious: Words::new(&words(dir, "serious.txt")?)?,
            background: Words::new(&words(dir, "background.txt")?)?,
            agent_injury: agent_injury_pattern(&single_injury),
            single_injury: Words::new(&single_injury)?,
            verb_victim: verb_victim_pattern(&injury_verbs, &victim_nouns, names),
            caused_victim: caused_victim_pattern(&victim_nouns, names),
            injured_after_verb: injured_after_verb_pattern(&injury_verbs),
            bare_death: bare_death_pattern(&words(dir, "event_nouns.txt")?),
            counted_death: counted_death_pattern(&single_death),
            person_died: person_died_pattern(names),
            conceded: conceded_pattern(&single_death),
            killing: names.killing.clone(),
        })
    }

    /// Whether a sentence states a statistic (a period total or many incidents).
    /// `words`: whether the whole text holds a background word (a sentence without
    /// one in the text has none either, so no sentence is searched for it).
    fn is_background(&self, sentence: &str, words: bool) -> bool {
        words && self.background.any_in(sentence) || many_incidents(sentence)
    }

    /// The text without its background sentences, for reading the event's figures.
    pub(crate) fn without_background<'a>(&self, text: &'a str) -> Cow<'a, str> {
        // Two scans of the whole text decide for most texts: no background word and no
        // count of ten or more incidents in it means none in any of its sentences (a
        // sentence is a part of the text; neither a word nor a count spans a sentence
        // end, so the text's matches are its sentences' matches).
        let words = self.background.any_in(text);
        if !words && !many_incidents(text) {
            return Cow::Borrowed(text);
        }
        let sentences = || text.split(SENTENCE_END);
        if !sentences().any(|s| self.is_background(s, words)) {
            return Cow::Borrowed(text);
        }
        let kept: Vec<&str> = sentences()
            .filter(|s| !self.is_background(s, words))
            .collect();
        Cow::Owned(kept.join("。"))
    }

    /// Whether the text holds a single-death word: then [`VictimWords::refine`] reads
    /// every sentence (殉职 holds no marked character), and
    /// [`super::casualty::split_marked`] must keep them all.
    pub(crate) fn reads_every_sentence(&self, text: &str) -> bool {
        self.single_death.any_in(text)
    }

    /// Adds what the patterns missed to the figures read from the (normalized) text.
    /// `uncounted`: the injured figure is only a kin or body-part injury read without a
    /// count ([`super::casualty::extract_marked`]); a death read here drops it.
    /// `sentences`: the text's [`super::casualty::split_marked`] sentences, every one
    /// kept when [`VictimWords::reads_every_sentence`] (`any_single`). `reader`: the
    /// patterns the figures were read with (who of a count died, [`Reader::dead_among`]).
    pub(crate) fn refine(
        &self,
        reader: &Reader,
        text: &str,
        sentences: &[Marked<'_>],
        any_single: bool,
        c: &mut Casualties,
        uncounted: bool,
    ) {
        let mut single = false;
        // The single death is of one who was hurt first (姜某医治无效死亡).
        let mut single_died_later = false;
        let mut after_verb: Option<u32> = None;
        let mut light: Option<u32> = None;
        // One injured person (serious too) stated without a count, and a count after an
        // injury verb.
        let (mut hurt, mut hurt_serious, mut hurt_count) = (false, false, None::<u32>);
        // Every figure below is a maximum or a flag over sentences: each distinct
        // sentence is read once (`split_marked`).
        // Word lists are searched in a sentence only when the whole text holds one of
        // their words (one scan each instead of one per sentence; a sentence is a part
        // of the text, so the result is the same).
        // (The light words' scan waits for the first sentence that needs it.)
        let mut any_light: Option<bool> = None;
        // Cheap test first (the marks): most sentences state no death, no injury and no
        // light injury. A single-death word without these characters (殉职) is tested on
        // its own, so with one in the text every sentence is read.
        for (
            k,
            &Marked {
                text: sentence,
                marks,
            },
        ) in sentences.iter().enumerate()
        {
            let named = any_single && self.single_death.any_in(sentence)
                || marks & DEATHLY != 0 && self.person_died(sentence);
            let deathly = named || marks & DEATHLY != 0;
            let hurtful = marks & HURTFUL != 0;
            if !deathly && !hurtful && marks & LIGHT == 0 {
                continue;
            }
            let plural = || self.not_single.any_in(sentence);
            if hurtful {
                self.read_hurt(sentence, named, plural, &mut hurt, &mut hurt_serious);
                let next = next_sentence(text, sentence);
                hurt_count = hurt_count.max(self.count_after_injury_verb(reader, sentence, next));
            }
            if deathly {
                if let Some(n) = COUNT_AFTER_VERB
                    .captures_iter(sentence)
                    .filter_map(|caps| caps.get(1)?.as_str().parse::<u32>().ok())
                    .chain(
                        self.bare_death
                            .iter()
                            .flat_map(|re| re.captures_iter(sentence))
                            .filter_map(|caps| parse_count(caps.get(1)?.as_str())),
                    )
                    .max()
                {
                    after_verb = after_verb.max(Some(n));
                }
                if named {
                    let counted = self
                        .counted_death
                        .iter()
                        .flat_map(|re| re.captures_iter(sentence))
                        .filter(|caps| {
                            caps.get(3).is_none()
                                && !caps
                                    .get(2)
                                    .is_some_and(|gap| self.refuses_count(gap.as_str()))
                                && !caps.get(0).is_some_and(|m| {
                                    counts_killers(&self.killing, m.as_str(), &sentence[m.end()..])
                                })
                        })
                        .filter_map(|caps| parse_count(caps.get(1)?.as_str()))
                        .max();
                    after_verb = after_verb.max(counted);
                }
                let conceded = || {
                    self.conceded
                        .as_ref()
                        .is_some_and(|re| re.is_match(sentence))
                };
                if named && !plural() && !conceded() {
                    single = true;
                    single_died_later |= died_of_counted(reader, sentences, k);
                }
            }
            // The pattern ends in a light word: a sentence without one cannot match.
            if let Some(re) = self.light.as_ref().filter(|_| {
                *any_light.get_or_insert_with(|| self.light_words.any_in(text))
                    && self.light_words.any_in(sentence)
            }) {
                let n = re
                    .captures_iter(sentence)
                    .filter_map(|caps| parse_count(caps.get(1)?.as_str()))
                    .max();
                light = light.max(n);
            }
        }
        if let Some(n) = after_verb {
            c.deaths = c.deaths.max(Some(n));
        }
        if c.deaths.is_none() && single {
            c.deaths = Some(1);
            // One of the injured counted before died later: a death only (taxonomy.md:
            // injured people who later died count only as deaths).
            if single_died_later {
                c.injured = c.injured.and_then(|n| n.checked_sub(1)).filter(|&n| n > 0);
                c.seriously_injured = c.seriously_injured.min(c.injured);
            }
        }
        // The kin or body-part injury of a text that states a death is the dead victim's
        // before death, or another story's (杀害亲生母亲 … 7岁时头部受伤), as
        // `extract_marked` rules when it reads the death itself.
        if uncounted && c.deaths.is_some() {
            c.injured = None;
            c.seriously_injured = None;
        }
        // A count after an injury verb outweighs a single victim the patterns read
        // (扎伤15名幼童 … 孩子受伤).
        c.injured = c.injured.max(hurt_count);
        // An uncounted injury in a text that states deaths is most often the dead
        // victim's before death (撞成重伤 … 抢救无效死亡), or one of an uncounted many.
        if c.deaths.is_none() {
            if c.injured.is_none() && hurt {
                c.injured = Some(1);
            }
            if c.injured == Some(1) && c.seriously_injured.is_none() && hurt_serious {
                c.seriously_injured = Some(1);
            }
        }
        // Light only: the light figure covers every injury, and no serious one is stated
        // (the text is searched for one last, when the figures leave it open).
        c.light_only = c.seriously_injured.is_none()
            && match (c.injured, light) {
                (Some(i), Some(l)) => l >= i,
                _ => false,
            }
            && !self.serious.any_in(text);
    }

    /// Whether a sentence names one person dying without a count ([`VictimWords::person_died`]).
    /// Most sentences marked deathly hold no 死亡 (世, 命 … mark them too): the pattern,
    /// which has no literal prefix to skip to, runs only on those that do.
    fn person_died(&self, sentence: &str) -> bool {
        sentence.contains("死亡")
            && self
                .person_died
                .as_ref()
                .is_some_and(|re| re.captures_iter(sentence).any(|caps| caps.get(1).is_none()))
    }

    /// Whether the gap between a count and a single-death word undoes the count as the
    /// toll: a near miss or negation ends it, before a passive marker too (2人险些丧命,
    /// 3名工人差点被压死), or it holds an agent construction, so the count is of the
    /// attackers (3名男子将其殴打致死, 3名歹徒持刀砍死).
    fn refuses_count(&self, gap: &str) -> bool {
        let bare = gap.trim_end_matches(PASSIVE_MARKERS);
        self.not_single.ends(gap) || self.not_single.ends(bare) || gap.contains(AGENT_MARKERS)
    }

    /// Whether a sentence states one injured person without a count (行人被撞伤, 伤者,
    /// 伤势严重), and whether seriously. Not when the sentence states a death (`named`, or
    /// 死/亡: the hurt person died, 被撞伤后死亡) or a plural, hypothetical or negation
    /// (`plural`, tested last: it is the costliest).
    fn read_hurt(
        &self,
        sentence: &str,
        named: bool,
        plural: impl Fn() -> bool,
        hurt: &mut bool,
        serious: &mut bool,
    ) {
        if named || sentence.contains(['死', '亡']) {
            return;
        }
        let grave = self.serious.any_in(sentence);
        let stated = || {
            self.single_injury.any_in(sentence)
                || self
                    .agent_injury
                    .as_ref()
                    .is_some_and(|re| re.is_match(sentence))
                || self.verb_victim.as_ref().is_some_and(|re| {
                    re.captures_iter(sentence)
                        .any(|caps| caps.get(1).is_none() && caps.get(2).is_none())
                })
                || self
                    .caused_victim
                    .as_ref()
                    .is_some_and(|re| re.captures_iter(sentence).any(|caps| caps.get(1).is_none()))
        };
        if (grave || stated()) && !plural() {
            *hurt = true;
            *serious |= grave;
        }
    }

    /// The largest count after an injury verb in a sentence (扎伤15名幼童, 伤3人); not
    /// after 死伤, 重伤, 轻伤 or 受伤, which the patterns read. Those of the count the
    /// sentence then says died (捅伤2人，其中1人死亡) count only as deaths: 1 injured; so
    /// do those the `next` sentence says died when it points back to the count with a word
    /// of `points_back.txt` (捅伤2人。其中1人经抢救无效死亡。).
    fn count_after_injury_verb(&self, reader: &Reader, sentence: &str, next: &str) -> Option<u32> {
        if !sentence.contains('伤') {
            return None;
        }
        self.injured_after_verb
            .as_ref()?
            .captures_iter(sentence)
            .filter(|caps| caps.get(1).is_none())
            .filter_map(|caps| {
                let n = parse_count(caps.get(2)?.as_str())?;
                let dead = reader.dead_among(&sentence[caps.get(0)?.end()..]).max(
                    if reader.points_back.iter().any(|w| next.contains(w.as_str())) {
                        reader.dead_among(next)
                    } else {
                        0
                    },
                );
                n.checked_sub(dead).filter(|&n| n > 0)
            })
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::Words;

    #[test]
    fn ends_sees_a_suffix_overlapped_by_an_earlier_word() {
        let words = Words::new(&[
            "周年".to_string(),
            "年前".to_string(),
            "无一".to_string(),
            "一旦".to_string(),
        ])
        .expect("words build");
        assert!(words.ends("船员周年前"));
        assert!(words.ends("无一旦"));
        assert!(words.ends("十周年"));
        assert!(!words.ends("周年前夕"));
        assert!(!Words::default().ends("年前"));
    }
}
