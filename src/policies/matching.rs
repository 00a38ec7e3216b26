//! Which tracked document an answering document (a 解读, 征集结果 …) answers. Pure, no IO.
//!
//! ## Rule
//! An answer is matched to the open documents in three tiers, the first tier that finds
//! anything decides:
//! 1. **文号**: a document number both texts carry, brackets normalised (〔2025〕12号,
//!    [2025]12号, ［2025］12号, (2025)12号 and 2025年第3号 are read alike). The issuer
//!    prefixes (某政办发) must agree where both are given: one ends with the other.
//! 2. **Quoted title**: a title the answer quotes in 《…》 or 〈…〉 (at least 4 characters)
//!    that the document's title contains, or that equals the document's core title.
//! 3. **Title overlap**: the answer's core title (without 解读/图解/关于/的通知 …) equals,
//!    contains or is contained in the document's core title, the shorter being at least
//!    6 characters.
//!
//! A tier that finds two or more documents is ambiguous: no match (the caller logs it at
//! DEBUG). A document is never its own answer: candidates with the answer's own
//! source and key are skipped.

/// A 文号 read from a text: the issuer prefix (CJK characters right before the year, at
/// most 4, possibly empty), the year and the number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocNo {
    pub prefix: String,
    pub year: u32,
    pub number: u32,
}

impl DocNo {
    /// The normalised display form, e.g. `某政发〔2025〕12号`.
    pub fn display(&self) -> String {
        format!("{}〔{}〕{}号", self.prefix, self.year, self.number)
    }

    /// Same year and number, and issuer prefixes that agree (one ends with the other).
    pub fn same(&self, other: &DocNo) -> bool {
        self.year == other.year
            && self.number == other.number
            && (self.prefix.ends_with(&other.prefix) || other.prefix.ends_with(&self.prefix))
    }
}

const OPEN: &[char] = &['〔', '[', '［', '(', '（', '【', '〖'];
const CLOSE: &[char] = &['〕', ']', '］', ')', '）', '】', '〗'];

fn is_cjk(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

/// Reads the digits starting at `chars[at]`; returns the number and the index after it.
fn digits(chars: &[char], at: usize) -> Option<(u32, usize)> {
    let end = chars[at..]
        .iter()
        .position(|c| !c.is_ascii_digit())
        .map_or(chars.len(), |n| at + n);
    let text: String = chars[at..end].iter().collect();
    text.parse().ok().map(|n| (n, end))
}

/// The issuer prefix before `at`: the CJK run ending there, its last 4 characters.
fn prefix_before(chars: &[char], at: usize) -> String {
    let start = chars[..at]
        .iter()
        .rposition(|c| !is_cjk(*c))
        .map_or(0, |n| n + 1);
    let run = &chars[start..at];
    run[run.len().saturating_sub(4)..].iter().collect()
}

/// Every 文号 in `text`, in order.
pub fn doc_numbers(text: &str) -> Vec<DocNo> {
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if let Some(doc) = bracketed(&chars, i).or_else(|| yearly(&chars, i)) {
            found.push(doc.0);
            i = doc.1;
        } else {
            i += 1;
        }
    }
    found
}

/// `PREFIX〔2025〕12号` at `i` (the opening bracket).
fn bracketed(chars: &[char], i: usize) -> Option<(DocNo, usize)> {
    if !OPEN.contains(&chars[i]) {
        return None;
    }
    let (year, after_year) = digits(chars, i + 1)?;
    if !(1949..=2199).contains(&year) || !CLOSE.contains(chars.get(after_year)?) {
        return None;
    }
    let mut at = after_year + 1;
    if chars.get(at) == Some(&'第') {
        at += 1;
    }
    numbered(chars, i, year, at)
}

/// The number at `at` ending in 号, of a 文号 of `year` that starts at `start`.
fn numbered(chars: &[char], start: usize, year: u32, at: usize) -> Option<(DocNo, usize)> {
    let (number, after) = digits(chars, at)?;
    (chars.get(after) == Some(&'号')).then(|| {
        let doc = DocNo {
            prefix: prefix_before(chars, start),
            year,
            number,
        };
        (doc, after + 1)
    })
}

/// `PREFIX2025年第3号` at `i` (the first digit of the year).
fn yearly(chars: &[char], i: usize) -> Option<(DocNo, usize)> {
    if !chars[i].is_ascii_digit() || i > 0 && chars[i - 1].is_ascii_digit() {
        return None;
    }
    let (year, after_year) = digits(chars, i)?;
    if !(1949..=2199).contains(&year)
        || chars.get(after_year) != Some(&'年')
        || chars.get(after_year + 1) != Some(&'第')
    {
        return None;
    }
    numbered(chars, i, year, after_year + 2)
}

/// The titles quoted in 《…》 or 〈…〉, innermost quotes included, each at least 4
/// characters.
pub fn quoted_titles(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    for (at, c) in text.char_indices() {
        match c {
            '《' | '〈' => open.push(at + c.len_utf8()),
            '》' | '〉' => {
                if let Some(start) = open.pop() {
                    let title = text[start..at].to_string();
                    if title.chars().count() >= 4 {
                        found.push(title);
                    }
                }
            }
            _ => {}
        }
    }
    found
}

/// Words an answer's title wraps around the title it answers.
const ANSWER_WORDS: &[&str] = &[
    "政策解读",
    "一图读懂",
    "一图看懂",
    "政策问答",
    "答记者问",
    "征集结果",
    "采纳情况",
    "意见征集情况",
    "征求意见情况",
    "图解",
    "解读",
    "的反馈",
    "反馈",
    "公示",
];

/// Words a document's title wraps around its subject.
const DOCUMENT_WORDS: &[&str] = &[
    "关于印发",
    "关于公开征求",
    "公开征求",
    "关于",
    "的通知",
    "的意见",
    "的决定",
    "的公告",
    "意见建议",
    "征求意见稿",
    "征求意见",
    "（）",
    "()",
];

/// A title without quotes, spaces, punctuation and the wrapping words: what it is about.
pub fn core_title(title: &str) -> String {
    let mut text: String = title
        .chars()
        .filter(|c| !c.is_whitespace() && !"《》〈〉“”\"：:，,。".contains(*c))
        .collect();
    for word in ANSWER_WORDS.iter().chain(DOCUMENT_WORDS) {
        text = text.replace(word, "");
    }
    text.trim_end_matches('的').to_string()
}

/// A document an answer may answer: its identity and title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate<'a> {
    pub source: &'a str,
    pub key: &'a str,
    pub title: &'a str,
    /// The document's 文号, if it has one (read from its title or text by [`doc_numbers`]).
    pub doc_no: Option<&'a DocNo>,
}

/// The answering document: identity, title, and its text (summary) when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer<'a> {
    pub source: &'a str,
    pub key: &'a str,
    pub title: &'a str,
    pub text: &'a str,
}

/// What matching found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// The index of the one candidate answered, and the tier that decided.
    One(usize, Tier),
    /// Two or more candidates in the deciding tier: nothing is marked answered.
    Ambiguous(Vec<usize>, Tier),
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    DocNo,
    QuotedTitle,
    TitleOverlap,
}

/// Matches `answer` to one of `candidates` by the module rule.
pub fn match_answer(answer: &Answer<'_>, candidates: &[Candidate<'_>]) -> Match {
    let eligible: Vec<usize> = (0..candidates.len())
        .filter(|&i| candidates[i].source != answer.source || candidates[i].key != answer.key)
        .collect();
    let whole = format!("{}\n{}", answer.title, answer.text);
    let read = Read {
        numbers: doc_numbers(&whole),
        quoted: quoted_titles(&whole),
        core: core_title(answer.title),
    };
    for tier in [Tier::DocNo, Tier::QuotedTitle, Tier::TitleOverlap] {
        let hits: Vec<usize> = eligible
            .iter()
            .copied()
            .filter(|&i| read.hits(tier, &candidates[i]))
            .collect();
        match hits.len() {
            0 => continue,
            1 => return Match::One(hits[0], tier),
            _ => return Match::Ambiguous(hits, tier),
        }
    }
    Match::None
}

/// What an answer offers for matching, read once.
struct Read {
    numbers: Vec<DocNo>,
    quoted: Vec<String>,
    core: String,
}

impl Read {
    /// Whether `candidate` is answered by the evidence of `tier`.
    fn hits(&self, tier: Tier, candidate: &Candidate<'_>) -> bool {
        match tier {
            Tier::DocNo => candidate
                .doc_no
                .is_some_and(|d| self.numbers.iter().any(|n| n.same(d))),
            Tier::QuotedTitle => {
                let doc_core = core_title(candidate.title);
                self.quoted
                    .iter()
                    .any(|q| candidate.title.contains(q.as_str()) || core_title(q) == doc_core)
            }
            Tier::TitleOverlap => overlaps(&self.core, &core_title(candidate.title)),
        }
    }
}

/// Whether two core titles overlap: one contains the other, the shorter ≥ 6 characters.
fn overlaps(a: &str, b: &str) -> bool {
    let (short, long) = if a.chars().count() <= b.chars().count() {
        (a, b)
    } else {
        (b, a)
    };
    short.chars().count() >= 6 && long.contains(short)
}
