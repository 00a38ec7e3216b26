//! Reading the dictionary folder (`dictionaries/`, see its README.md): topics and
//! their lead units, one term list per topic, cue lists, place files, stopwords and
//! the jieba user dictionary. Everything here runs once, at load.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ClassifyError;

/// Whether a topic term reports a problem by itself or only names the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TermKind {
    /// 火灾, 欠薪, 食物中毒: the word itself reports a problem or harmful event.
    Event,
    /// 医院, 学校, 养老金: names the field; a problem needs a cue besides.
    Subject,
}

/// How a topic ranks (the optional fourth column of `topics.txt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TopicRole {
    /// A field (医疗, 房地产, 教育 …): ranks by its score.
    Field,
    /// A kind of wrong that happens in any field (市场监管): ranks after the field
    /// topics found beside it (医院乱收费 is 医疗卫生 first).
    Cross,
    /// About officials (干部作风): counts only when the text names an office or an
    /// official (`cues/official.txt`); ranks by score when the title names one, else
    /// as `Cross`.
    Official,
}

/// One line of a topic's term list.
#[derive(Debug, Clone)]
pub(crate) struct TopicTerm {
    pub term: String,
    pub weight: f64,
    pub kind: TermKind,
    /// Overrides the topic's lead unit when this term is the strongest evidence.
    pub unit: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Topic {
    pub id: String,
    pub name: String,
    pub unit: String,
    /// How the topic ranks beside others.
    pub role: TopicRole,
    /// Topics (indexes) this one ranks after when both are kept (`after:` column):
    /// 教育 is added to an accident or a poisoning at a school, not its primary topic.
    pub after: Vec<usize>,
    pub terms: Vec<TopicTerm>,
}

/// A weighted cue (harm, grievance, routine).
#[derive(Debug, Clone)]
pub(crate) struct Cue {
    pub term: String,
    pub weight: f64,
}

/// A place a text may name, with the government answerable for it (属地管理).
#[derive(Debug, Clone)]
pub(crate) struct Place {
    pub name: String,
    pub aliases: Vec<String>,
    pub government: Option<String>,
    /// Inside the configured jurisdiction (the county itself or one of its towns).
    pub local: bool,
    /// A parent of the jurisdiction (its city, its province): "潍坊市景芝镇" is ours.
    pub ancestor: bool,
}

/// Everything the folder holds, parsed.
#[derive(Debug, Clone)]
pub(crate) struct Dictionaries {
    pub topics: Vec<Topic>,
    pub harm: Vec<Cue>,
    pub grievance: Vec<Cue>,
    pub routine: Vec<Cue>,
    pub official: Vec<Cue>,
    pub places: Vec<Place>,
    pub stopwords: Vec<String>,
    /// The jieba user dictionary, verbatim (validated: every entry has a frequency).
    pub userdict: String,
}

/// A place file (`places/<name>.toml`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaceFile {
    name: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    government: Option<String>,
    #[serde(default)]
    place: Vec<PlaceEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaceEntry {
    name: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    government: Option<String>,
}

fn read(path: &Path) -> Result<String, ClassifyError> {
    std::fs::read_to_string(path).map_err(|source| ClassifyError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn format_error(path: &Path, line: usize, message: impl Into<String>) -> ClassifyError {
    ClassifyError::Format {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// Non-empty, non-comment lines with their 1-based numbers, split on whitespace.
fn rows(text: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    text.lines().enumerate().filter_map(|(i, line)| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            None
        } else {
            Some((i + 1, line.split_whitespace().collect()))
        }
    })
}

/// The line each term of one file was first written on. A term written twice in a
/// file would be counted twice per occurrence in the text (every entry scores), which
/// silently doubles its weight; the second line is refused instead, naming the first.
#[derive(Default)]
struct FirstLines<'a>(HashMap<&'a str, usize>);

impl<'a> FirstLines<'a> {
    fn check(&mut self, path: &Path, line: usize, term: &'a str) -> Result<(), ClassifyError> {
        match self.0.insert(term, line) {
            Some(first) => Err(format_error(
                path,
                line,
                format!("“{term}”已在第 {first} 行出现；同一文件中每个词只写一行，请删去其中一行"),
            )),
            None => Ok(()),
        }
    }
}

fn parse_weight(path: &Path, line: usize, text: &str) -> Result<f64, ClassifyError> {
    match text.parse::<f64>() {
        Ok(w) if w.is_finite() && w > 0.0 => Ok(w),
        _ => Err(format_error(
            path,
            line,
            format!("权重“{text}”无效，应为正数，如 1、2、0.5"),
        )),
    }
}

fn load_topic_table(dir: &Path) -> Result<Vec<Topic>, ClassifyError> {
    let path = dir.join("topics.txt");
    let text = read(&path)?;
    let mut topics: Vec<Topic> = Vec::new();
    let mut after_ids = Vec::new();
    for (line, cols) in rows(&text) {
        let (id, name, unit, role, after) = match cols[..] {
            [id, name, unit] => (id, name, unit, TopicRole::Field, ""),
            [id, name, unit, "cross"] => (id, name, unit, TopicRole::Cross, ""),
            [id, name, unit, "official"] => (id, name, unit, TopicRole::Official, ""),
            [id, name, unit, after] if after.starts_with("after:") => {
                (id, name, unit, TopicRole::Field, &after["after:".len()..])
            }
            _ => {
                return Err(format_error(
                    &path,
                    line,
                    "应为三列（话题id 中文名 牵头单位），可加第四列 cross、official 或 after:话题id,话题id",
                ));
            }
        };
        if topics.iter().any(|t| t.id == id) {
            return Err(format_error(&path, line, format!("话题 {id} 重复")));
        }
        topics.push(Topic {
            id: id.to_string(),
            name: name.to_string(),
            unit: unit.to_string(),
            role,
            after: Vec::new(),
            terms: Vec::new(),
        });
        after_ids.push((line, after));
    }
    for (t, (line, ids)) in after_ids.into_iter().enumerate() {
        for other in ids.split(',').filter(|s| !s.is_empty()) {
            let Some(i) = topics.iter().position(|x| x.id == other) else {
                return Err(format_error(
                    &path,
                    line,
                    format!("after: 中的话题 {other} 不在话题表中"),
                ));
            };
            topics[t].after.push(i);
        }
    }
    if topics.is_empty() {
        return Err(format_error(&path, 0, "没有任何话题"));
    }
    for topic in &mut topics {
        let path = dir.join("topics").join(format!("{}.txt", topic.id));
        topic.terms = load_topic_terms(&path)?;
        if topic.terms.is_empty() {
            return Err(format_error(&path, 0, "词表为空；每个话题至少要有一个词"));
        }
    }
    Ok(topics)
}

fn load_topic_terms(path: &Path) -> Result<Vec<TopicTerm>, ClassifyError> {
    let text = read(path)?;
    let mut terms = Vec::new();
    let mut seen = FirstLines::default();
    for (line, cols) in rows(&text) {
        let (term, weight, kind, unit) = match cols[..] {
            [term, weight, kind] => (term, weight, kind, None),
            [term, weight, kind, unit] => (term, weight, kind, Some(unit.to_string())),
            _ => {
                return Err(format_error(
                    path,
                    line,
                    "应为三或四列：词 权重 类别(event/subject) [牵头单位]",
                ));
            }
        };
        let kind = match kind {
            "event" => TermKind::Event,
            "subject" => TermKind::Subject,
            other => {
                return Err(format_error(
                    path,
                    line,
                    format!("类别“{other}”无效，应为 event 或 subject"),
                ));
            }
        };
        let weight = parse_weight(path, line, weight)?;
        seen.check(path, line, term)?;
        terms.push(TopicTerm {
            term: term.to_string(),
            weight,
            kind,
            unit,
        });
    }
    Ok(terms)
}

fn load_cues(path: &Path) -> Result<Vec<Cue>, ClassifyError> {
    let text = read(path)?;
    let mut cues = Vec::new();
    let mut seen = FirstLines::default();
    for (line, cols) in rows(&text) {
        let [term, weight] = cols[..] else {
            return Err(format_error(path, line, "应为两列：词 权重"));
        };
        let weight = parse_weight(path, line, weight)?;
        seen.check(path, line, term)?;
        cues.push(Cue {
            term: term.to_string(),
            weight,
        });
    }
    Ok(cues)
}

/// Reads every `places/*.toml`; the jurisdiction's file and its towns are local,
/// its parents and any other file are not.
fn load_places(
    dir: &Path,
    jurisdiction: &crate::config::Jurisdiction,
) -> Result<Vec<Place>, ClassifyError> {
    let folder = dir.join("places");
    let entries = std::fs::read_dir(&folder).map_err(|source| ClassifyError::Read {
        path: folder.clone(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let text = read(&path)?;
        let file: PlaceFile = toml::from_str(&text).map_err(|err| {
            format_error(&path, 0, format!("地名文件格式错误：{}", err.message()))
        })?;
        files.push(file);
    }
    let Some(own) = files.iter().find(|f| f.name == jurisdiction.name) else {
        return Err(ClassifyError::NoJurisdiction {
            name: jurisdiction.name.clone(),
            folder,
        });
    };
    let mut places = vec![Place {
        name: own.name.clone(),
        aliases: own.aliases.clone(),
        government: own.government.clone(),
        local: true,
        ancestor: false,
    }];
    places.extend(own.place.iter().map(|p| Place {
        name: p.name.clone(),
        aliases: p.aliases.clone(),
        government: p.government.clone(),
        local: true,
        ancestor: false,
    }));
    places.extend(jurisdiction.places.iter().map(|name| Place {
        name: name.clone(),
        aliases: Vec::new(),
        government: None,
        local: true,
        ancestor: false,
    }));
    // Parents first (for the record), then any other county a deployment dropped in.
    for file in files.iter().filter(|f| f.name != own.name) {
        places.push(Place {
            name: file.name.clone(),
            aliases: file.aliases.clone(),
            government: file.government.clone(),
            local: false,
            ancestor: false,
        });
        places.extend(file.place.iter().map(|p| Place {
            name: p.name.clone(),
            aliases: p.aliases.clone(),
            government: p.government.clone(),
            local: false,
            ancestor: false,
        }));
    }
    // A parent named in a file must exist: a typo would silently drop a level.
    let mut parent = own.parent.as_deref();
    let mut depth = 0;
    while let Some(name) = parent {
        let Some(file) = files.iter().find(|f| f.name == name) else {
            return Err(ClassifyError::NoJurisdiction {
                name: name.to_string(),
                folder,
            });
        };
        for p in places.iter_mut().filter(|p| p.name == file.name) {
            p.ancestor = true;
        }
        parent = file.parent.as_deref();
        depth += 1;
        if depth > 8 {
            return Err(format_error(&folder, 0, "上级地名（parent）形成了循环"));
        }
    }
    Ok(places)
}

/// Checks the jieba user dictionary: `word freq [tag]`, and the frequency must be there
/// (jieba-rs treats a missing one as 0 and then never picks the word).
fn load_userdict(path: &Path) -> Result<String, ClassifyError> {
    let text = read(path)?;
    let mut out = String::with_capacity(text.len());
    for (line, cols) in rows(&text) {
        match cols[..] {
            [word, freq] | [word, freq, _] => {
                if freq.parse::<u64>().map_or(true, |f| f == 0) {
                    return Err(format_error(
                        path,
                        line,
                        format!(
                            "词“{word}”的词频“{freq}”无效：必须写正整数词频，否则分词时永远不会选中它"
                        ),
                    ));
                }
            }
            _ => {
                return Err(format_error(
                    path,
                    line,
                    "应为：词 词频 [词性]，词频必须写（如 景芝镇 2000 ns）",
                ));
            }
        }
        out.push_str(&cols.join(" "));
        out.push('\n');
    }
    Ok(out)
}

fn load_stopwords(path: &Path) -> Result<Vec<String>, ClassifyError> {
    let text = read(path)?;
    Ok(rows(&text)
        .filter_map(|(_, cols)| cols.first().map(|w| w.to_string()))
        .collect())
}

impl Dictionaries {
    pub(crate) fn load(
        dir: &Path,
        jurisdiction: &crate::config::Jurisdiction,
    ) -> Result<Dictionaries, ClassifyError> {
        if !dir.is_dir() {
            return Err(ClassifyError::NoFolder(dir.to_path_buf()));
        }
        Ok(Dictionaries {
            topics: load_topic_table(dir)?,
            harm: load_cues(&dir.join("cues/harm.txt"))?,
            grievance: load_cues(&dir.join("cues/grievance.txt"))?,
            routine: load_cues(&dir.join("cues/routine.txt"))?,
            official: load_cues(&dir.join("cues/official.txt"))?,
            places: load_places(dir, jurisdiction)?,
            stopwords: load_stopwords(&dir.join("stopwords.txt"))?,
            userdict: load_userdict(&dir.join("userdict.txt"))?,
        })
    }

    /// Topic id → Chinese name.
    pub(crate) fn topic_names(&self) -> BTreeMap<String, String> {
        self.topics
            .iter()
            .map(|t| (t.id.clone(), t.name.clone()))
            .collect()
    }
}
