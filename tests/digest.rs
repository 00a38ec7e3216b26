//! The daily digest over a scripted week: figures, rendering, mail, once per date.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use chrono::TimeZone;
use serde_json::{Value, json};
use yuqing::config::Config;
use yuqing::digest::{
    DigestInput, DigestReport, Period, SourceInfo, compute, digest_key, queue, render_html,
    render_text,
};
use yuqing::model::{
    AuditEntry, Classification, Deadline, Incident, ItemRef, Level, Milestone, NoticeKind,
    PolicySnapshot, Status, Timestamp,
};
use yuqing::store::{SourceState, Store};

/// A Beijing wall-clock time, `2026-11-23 10:00`.
fn bj(text: &str) -> Timestamp {
    let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap();
    yuqing::time::ZONE
        .from_local_datetime(&naive)
        .single()
        .unwrap()
        .with_timezone(&chrono::Utc)
}

fn policy() -> PolicySnapshot {
    PolicySnapshot::from(&yuqing::config::Policy::default())
}

/// One deadline: milestone, due, met.
fn dl(milestone: Milestone, due: &str, met: Option<&str>) -> Deadline {
    Deadline {
        milestone,
        due_at: bj(due),
        met_at: met.map(bj),
    }
}

struct Script {
    id: u64,
    title: &'static str,
    level: Level,
    status: Status,
    topics: &'static [&'static str],
    unit: Option<&'static str>,
    sources: &'static [&'static str],
    event: &'static str,
    opened: &'static str,
    updated: Option<&'static str>,
    deadlines: Vec<Deadline>,
}

fn incident(s: Script) -> Incident {
    Incident {
        id: s.id,
        title: s.title.into(),
        level: s.level,
        detected_level: s.level,
        status: s.status,
        topics: s.topics.iter().map(|t| t.to_string()).collect(),
        unit: s.unit.map(Into::into),
        places: vec!["安丘市".into()],
        local: true,
        event_at: bj(s.event),
        opened_at: bj(s.opened),
        updated_at: bj(s.updated.unwrap_or(s.opened)),
        items: s
            .sources
            .iter()
            .map(|src| ItemRef {
                source: src.to_string(),
                key: format!("{}-{src}", s.id),
            })
            .collect(),
        sources: s
            .sources
            .iter()
            .map(|t| t.to_string())
            .collect::<BTreeSet<_>>(),
        terms: Vec::new(),
        deadlines: s.deadlines,
        policy: policy(),
        merged_into: (s.status == Status::Merged).then_some(1),
    }
}

use Milestone::{Ack, Press, Response, Statement};

/// The week of 2026-11-17 … 11-24; the digest is the scheduled one of 11-24 08:00.
fn week() -> Vec<Incident> {
    vec![
        // II, statement late; press due after the period.
        incident(Script {
            id: 1,
            title: "某化工厂发生爆炸事故 致多人受伤",
            level: Level::II,
            status: Status::Acknowledged,
            topics: &["work_safety"],
            unit: Some("市应急管理局"),
            sources: &["weifang-news", "anqiu-board"],
            event: "2026-11-23 09:30",
            opened: "2026-11-23 10:00",
            updated: Some("2026-11-23 16:00"),
            deadlines: vec![
                dl(Ack, "2026-11-23 10:30", Some("2026-11-23 10:20")),
                dl(Statement, "2026-11-23 14:30", Some("2026-11-23 16:00")),
                dl(Press, "2026-11-24 09:30", None),
            ],
        }),
        // III, acked on time, response due after the period.
        incident(Script {
            id: 2,
            title: "学校食堂饭菜变质 家长反映",
            level: Level::III,
            status: Status::Acknowledged,
            topics: &["food_drug", "market"],
            unit: Some("市市场监管局"),
            sources: &["anqiu-board"],
            event: "2026-11-23 11:00",
            opened: "2026-11-23 12:00",
            updated: None,
            deadlines: vec![
                dl(Ack, "2026-11-23 12:30", Some("2026-11-23 12:10")),
                dl(Response, "2026-11-25 11:00", None),
            ],
        }),
        // IV from earlier in the week, response due and met in the period.
        incident(Script {
            id: 3,
            title: "校车超载问题",
            level: Level::IV,
            status: Status::Responded,
            topics: &["education"],
            unit: Some("市教体局"),
            sources: &["anqiu-board"],
            event: "2026-11-21 09:00",
            opened: "2026-11-21 09:00",
            updated: Some("2026-11-23 08:30"),
            deadlines: vec![
                dl(Ack, "2026-11-21 09:30", Some("2026-11-21 09:10")),
                dl(Response, "2026-11-23 09:00", Some("2026-11-23 08:30")),
            ],
        }),
        // III, response missed in the period.
        incident(Script {
            id: 4,
            title: "农民工讨薪 聚集在项目部门口",
            level: Level::III,
            status: Status::Acknowledged,
            topics: &["wage_arrears"],
            unit: Some("市人社局"),
            sources: &["weifang-news"],
            event: "2026-11-21 13:00",
            opened: "2026-11-21 14:00",
            updated: None,
            deadlines: vec![
                dl(Ack, "2026-11-21 14:30", Some("2026-11-21 14:05")),
                dl(Response, "2026-11-23 13:00", None),
            ],
        }),
        // IV without a unit, ack missed.
        incident(Script {
            id: 5,
            title: "河道发现大量死鱼",
            level: Level::IV,
            status: Status::New,
            topics: &["environment"],
            unit: None,
            sources: &["weifang-news"],
            event: "2026-11-23 19:00",
            opened: "2026-11-23 20:00",
            updated: None,
            deadlines: vec![
                dl(Ack, "2026-11-23 20:30", None),
                dl(Response, "2026-11-25 19:00", None),
            ],
        }),
        // Watch level, no clock; a hostile title.
        incident(Script {
            id: 6,
            title: "<script>alert('x')</script>医院 & 诊所 \"排队\"",
            level: Level::Watch,
            status: Status::New,
            topics: &["health"],
            unit: Some("市卫生健康局<b>"),
            sources: &["dazhong"],
            event: "2026-11-23 15:00",
            opened: "2026-11-23 15:00",
            updated: None,
            deadlines: vec![],
        }),
        // Dismissed (误报): its missed ack does not count.
        incident(Script {
            id: 7,
            title: "网传某镇停水（误报）",
            level: Level::III,
            status: Status::Dismissed,
            topics: &["hardship"],
            unit: Some("市住建局"),
            sources: &["anqiu-board"],
            event: "2026-11-23 11:00",
            opened: "2026-11-23 11:00",
            updated: Some("2026-11-23 11:40"),
            deadlines: vec![dl(Ack, "2026-11-23 11:30", None)],
        }),
        // Closed in the period (no audit: updated_at stands for the closing time).
        incident(Script {
            id: 8,
            title: "小区供暖不热",
            level: Level::IV,
            status: Status::Closed,
            topics: &["hardship"],
            unit: Some("市住建局"),
            sources: &["anqiu-board"],
            event: "2026-11-20 10:00",
            opened: "2026-11-20 10:00",
            updated: Some("2026-11-23 09:00"),
            deadlines: vec![
                dl(Ack, "2026-11-20 10:30", Some("2026-11-20 10:05")),
                dl(Response, "2026-11-22 10:00", Some("2026-11-22 09:00")),
            ],
        }),
        // Closed (per its audit) before its response fell due: the response counts as
        // missed at the closing (in this period), never as not due.
        incident(Script {
            id: 9,
            title: "某企业排污投诉",
            level: Level::III,
            status: Status::Closed,
            topics: &["environment"],
            unit: Some("生态环境局分局"),
            sources: &["anqiu-board"],
            event: "2026-11-21 22:00",
            opened: "2026-11-21 22:30",
            updated: Some("2026-11-23 19:00"),
            deadlines: vec![
                dl(Ack, "2026-11-21 23:00", Some("2026-11-21 22:40")),
                dl(Response, "2026-11-23 22:00", None),
            ],
        }),
        // Merged into #1: not counted anywhere.
        incident(Script {
            id: 10,
            title: "化工厂爆炸（重复）",
            level: Level::II,
            status: Status::Merged,
            topics: &["work_safety"],
            unit: Some("市应急管理局"),
            sources: &["dazhong"],
            event: "2026-11-23 09:30",
            opened: "2026-11-23 10:30",
            updated: None,
            deadlines: vec![dl(Statement, "2026-11-23 14:30", None)],
        }),
        // I from the day before: press conference on time in the period.
        incident(Script {
            id: 11,
            title: "山体滑坡 道路中断",
            level: Level::I,
            status: Status::Responded,
            topics: &["disaster"],
            unit: Some("市应急管理局"),
            sources: &["weifang-news"],
            event: "2026-11-22 11:00",
            opened: "2026-11-22 12:00",
            updated: Some("2026-11-23 10:00"),
            deadlines: vec![
                dl(Ack, "2026-11-22 12:30", Some("2026-11-22 12:10")),
                dl(Statement, "2026-11-22 16:00", Some("2026-11-22 15:00")),
                dl(Press, "2026-11-23 11:00", Some("2026-11-23 10:00")),
            ],
        }),
        // Earlier in the week, for the trend.
        incident(Script {
            id: 12,
            title: "菜市场缺斤短两",
            level: Level::IV,
            status: Status::Closed,
            topics: &["market"],
            unit: Some("市市场监管局"),
            sources: &["anqiu-board"],
            event: "2026-11-19 10:00",
            opened: "2026-11-19 10:00",
            updated: Some("2026-11-20 10:00"),
            deadlines: vec![],
        }),
        incident(Script {
            id: 13,
            title: "养老院伙食",
            level: Level::Watch,
            status: Status::Closed,
            topics: &["elderly"],
            unit: None,
            sources: &["dazhong"],
            event: "2026-11-18 10:00",
            opened: "2026-11-18 10:00",
            updated: Some("2026-11-19 10:00"),
            deadlines: vec![],
        }),
    ]
}

fn item(source: &str, key: &str, title: &str, flag: bool, seen: &str) -> yuqing::model::Item {
    yuqing::model::Item {
        source: source.into(),
        key: key.into(),
        title: title.into(),
        link: None,
        body: String::new(),
        published: None,
        date_quality: None,
        first_seen: bj(seen),
        updated_at: bj(seen),
        revisions: 0,
        classification: Some(Classification {
            flag,
            ..Default::default()
        }),
        incident: None,
    }
}

fn sources() -> Vec<SourceInfo> {
    let failing = SourceState {
        consecutive_failures: 15,
        failing_since: Some(bj("2026-11-22 08:00")),
        last_error: Some("HTTP 503 <Service Unavailable>".into()),
        last_ok_at: Some(bj("2026-11-22 07:55")),
        ..Default::default()
    };
    vec![
        SourceInfo {
            id: "weifang-news".into(),
            name: "潍坊新闻网".into(),
            state: SourceState::default(),
        },
        SourceInfo {
            id: "anqiu-board".into(),
            name: "安丘市政府网站留言板".into(),
            state: failing,
        },
        SourceInfo {
            id: "dazhong".into(),
            name: "大众网".into(),
            state: SourceState::default(),
        },
        SourceInfo {
            id: "quiet-site".into(),
            name: "安静的网站".into(),
            state: SourceState::default(),
        },
    ]
}

fn week_input() -> DigestInput {
    let now = bj("2026-11-24 08:00");
    let mut audits = BTreeMap::new();
    audits.insert(
        9,
        vec![AuditEntry {
            incident: 9,
            at: bj("2026-11-23 18:00"),
            by: "张三".into(),
            action: "close".into(),
            detail: "办结".into(),
            reason: None,
        }],
    );
    DigestInput {
        jurisdiction: "安丘市".into(),
        period: Period::scheduled(now),
        now,
        incidents: week(),
        audits,
        items: vec![
            item("anqiu-board", "a1", "化工厂爆炸", true, "2026-11-23 09:50"),
            item(
                "anqiu-board",
                "a2",
                "食堂饭菜变质",
                true,
                "2026-11-23 11:50",
            ),
            item("anqiu-board", "a3", "路灯不亮", false, "2026-11-23 13:00"),
            item(
                "weifang-news",
                "w1",
                "化工厂爆炸多人受伤",
                true,
                "2026-11-23 10:10",
            ),
            item("weifang-news", "w2", "天气预报", false, "2026-11-24 07:59"),
            // Outside the period: the gatherer would not pass these, but compute must not count them either way.
        ],
        sources: sources(),
        top_terms: vec![
            ("化工厂".into(), 0.42),
            ("爆炸".into(), 0.31),
            ("<img src=x>".into(), 0.1),
        ],
    }
}

fn json_of(report: &DigestReport) -> Value {
    serde_json::to_value(report).unwrap()
}

#[test]
fn scripted_week_figures() {
    let report = compute(&week_input());
    let j = json_of(&report);

    assert_eq!(j["period"]["date"], "2026-11-24");
    assert_eq!(j["period"]["kind"], "scheduled");
    assert_eq!(j["period"]["start"], "2026-11-23T08:00:00+08:00");
    assert_eq!(j["period"]["end"], "2026-11-24T08:00:00+08:00");
    assert_eq!(j["quiet"], false);

    let c = &j["counts"];
    assert_eq!(c["items"], 5);
    assert_eq!(c["flagged_items"], 3);
    assert_eq!(
        c["new_incidents"], 4,
        "#1 #2 #5 #6; #7 dismissed, #10 merged"
    );
    assert_eq!(c["dismissed"], 1);
    assert_eq!(c["closed"], 2, "#8 (updated_at) and #9 (audit)");
    assert_eq!(c["open"], 7);
    assert_eq!(
        c["by_level"],
        json!({"I": 0, "II": 1, "III": 1, "IV": 1, "watch": 1})
    );
    let topics: Vec<(String, u64)> = c["by_topic"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["topic"].as_str().unwrap().to_string(),
                t["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(topics.len(), 5);
    assert!(topics.iter().all(|(_, n)| *n == 1));
    assert_eq!(c["by_topic"][0]["name"], "生态环境");
    let sources: BTreeMap<String, (u64, u64, u64)> = c["by_source"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["source"].as_str().unwrap().to_string(),
                (
                    s["items"].as_u64().unwrap(),
                    s["flagged"].as_u64().unwrap(),
                    s["incidents"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(sources["anqiu-board"], (3, 2, 2));
    assert_eq!(sources["weifang-news"], (2, 1, 2));
    assert_eq!(sources["dazhong"], (0, 0, 1));
    assert_eq!(sources["quiet-site"], (0, 0, 0));

    // New incidents: oldest first, dismissed listed with its status, merged left out.
    let new: Vec<(u64, &str)> = j["new_incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].as_u64().unwrap(), i["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        new,
        [
            (1, "acknowledged"),
            (7, "dismissed"),
            (2, "acknowledged"),
            (6, "new"),
            (5, "new")
        ]
    );

    // Open incidents, most urgent first; those without a clock last, most severe first.
    let open: Vec<u64> = j["open_incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_u64().unwrap())
        .collect();
    assert_eq!(open, [4, 5, 1, 2, 11, 3, 6]);
    assert_eq!(j["open_incidents"][0]["next_due"]["milestone"], "response");
    assert_eq!(j["open_incidents"][0]["next_due"]["left_secs"], -19 * 3600);
    assert_eq!(j["open_incidents"][2]["next_due"]["left_secs"], 5400);
    assert!(j["open_incidents"][6]["next_due"].is_null());

    // On-time rates.
    let d = &j["deadlines"];
    let rows = d["by_milestone"].as_array().unwrap();
    let want = [
        ("ack", 3, 2, 0, 1),
        ("statement", 1, 0, 1, 0),
        ("press", 1, 1, 0, 0),
        ("response", 3, 1, 0, 2),
    ];
    for (row, (key, due, on_time, late, missed)) in rows.iter().zip(want) {
        assert_eq!(row["key"], key);
        assert_eq!(
            (&row["due"], &row["on_time"], &row["late"], &row["missed"]),
            (&json!(due), &json!(on_time), &json!(late), &json!(missed)),
            "{key}"
        );
        assert_eq!(row["rate"], json!(on_time as f64 / due as f64), "{key}");
    }
    assert_eq!(d["overall"]["due"], 5);
    assert_eq!(d["overall"]["on_time"], 2);
    assert_eq!(d["overall"]["rate"], 0.4);
    let units: Vec<(String, u64, u64, f64)> = d["by_unit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["due"].as_u64().unwrap(),
                r["on_time"].as_u64().unwrap(),
                r["rate"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        units,
        [
            ("市人社局".to_string(), 1, 0, 0.0),
            ("生态环境局分局".to_string(), 1, 0, 0.0),
            ("市应急管理局".to_string(), 2, 1, 0.5),
            ("市教体局".to_string(), 1, 1, 1.0),
        ]
    );

    // Missed and late deadlines, with their units.
    let breaches: Vec<(u64, &str, &str, Value, i64)> = d["breaches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["incident"].as_u64().unwrap(),
                b["milestone"].as_str().unwrap(),
                b["outcome"].as_str().unwrap(),
                b["unit"].clone(),
                b["overdue_secs"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        breaches,
        [
            (4, "response", "missed", json!("市人社局"), 19 * 3600),
            (1, "statement", "late", json!("市应急管理局"), 5400),
            (5, "ack", "missed", Value::Null, 11 * 3600 + 1800),
            (9, "response", "missed", json!("生态环境局分局"), -4 * 3600),
        ]
    );
    assert_eq!(d["breaches"][1]["met_at"], "2026-11-23T16:00:00+08:00");
    assert_eq!(d["breaches"][3]["closed_at"], "2026-11-23T18:00:00+08:00");
    assert!(d["breaches"][0].get("closed_at").is_none());

    // Source health.
    assert_eq!(j["sources"]["total"], 4);
    let failing = &j["sources"]["failing"];
    assert_eq!(failing.as_array().unwrap().len(), 1);
    assert_eq!(failing[0]["source"], "anqiu-board");
    assert_eq!(failing[0]["failing_secs"], 2 * 86400);
    assert_eq!(failing[0]["failures"], 15);

    // Trend: the period and the six before it.
    let trend: Vec<(String, u64, Value)> = j["trend"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["label"].as_str().unwrap().to_string(),
                t["total"].as_u64().unwrap(),
                t["by_level"].clone(),
            )
        })
        .collect();
    let lv = |i: u32, ii: u32, iii: u32, iv: u32, w: u32| json!({"I": i, "II": ii, "III": iii, "IV": iv, "watch": w});
    assert_eq!(
        trend,
        [
            ("11-17".to_string(), 0, lv(0, 0, 0, 0, 0)),
            ("11-18".to_string(), 1, lv(0, 0, 0, 0, 1)),
            ("11-19".to_string(), 1, lv(0, 0, 0, 1, 0)),
            ("11-20".to_string(), 1, lv(0, 0, 0, 1, 0)),
            ("11-21".to_string(), 3, lv(0, 0, 2, 1, 0)),
            ("11-22".to_string(), 1, lv(1, 0, 0, 0, 0)),
            ("11-23".to_string(), 4, lv(0, 1, 1, 1, 1)),
        ]
    );
    assert_eq!(j["trend"][6]["start"], j["period"]["start"]);

    // The summary says it in plain Chinese.
    let s = j["summary"].as_str().unwrap();
    for want in [
        "本期共采集信息5条",
        "监测到新增舆情事件4起，其中重大1起、较大1起、一般1起、关注1起",
        "另有1起经研判为误报",
        "期内到期处置时限8个，按时完成4个，对外发布与回应按时率40%",
        "1起事件未按时签收、1起事件未按时发布权威信息、2起事件未按时回应，涉及市人社局、市应急管理局、未指定单位、生态环境局分局",
        "期内办结2起",
        "目前仍有7起事件未办结，其中2起已超时",
        "4个信息源中有1个抓取失败：“安丘市政府网站留言板”（已失败2天0时）",
    ] {
        assert!(s.contains(want), "summary lacks {want:?}:\n{s}");
    }

    // The JSON reads back into the same report (the CLI renders what the daemon sends).
    let back: DigestReport = serde_json::from_value(j).unwrap();
    assert_eq!(back, report);
}

#[test]
fn a_quiet_day_says_so() {
    let now = bj("2026-11-24 14:05");
    let input = DigestInput {
        jurisdiction: "安丘市".into(),
        period: Period::day("2026-11-24".parse().unwrap(), now).unwrap(),
        now,
        incidents: vec![],
        audits: BTreeMap::new(),
        items: vec![],
        sources: vec![SourceInfo {
            id: "s".into(),
            name: "源".into(),
            state: SourceState::default(),
        }],
        top_terms: vec![],
    };
    let report = compute(&input);
    assert!(report.quiet);
    assert_eq!(report.period.end, now, "today runs up to now");
    assert_eq!(report.counts.new_incidents, 0);
    assert_eq!(report.deadlines.overall.rate, None);
    assert_eq!(report.trend.len(), 7);
    assert!(report.trend.iter().all(|d| d.total == 0));
    assert_eq!(
        report.summary,
        "当日共采集信息0条，无新增舆情事件。期内无到期的处置时限。目前没有未办结的事件。1个信息源运行正常。"
    );
    let text = render_text(&report);
    assert!(text.contains("无新增舆情事件。"), "{text}");
    assert!(
        text.contains("2026-11-24 00:00 至 2026-11-24 14:05"),
        "{text}"
    );
    let html = render_html(&report);
    assert!(html.contains("无新增舆情事件"));
    assert!(yuqing::digest::subject(&report, false).ends_with("无新增舆情事件"));
}

#[test]
fn text_part_carries_the_figures() {
    let text = render_text(&compute(&week_input()));
    for want in [
        "安丘市舆情日报 2026年11月24日",
        "统计时段：2026-11-23 08:00 至 2026-11-24 08:00（北京时间）",
        "#4 农民工讨薪 聚集在项目部门口：回应，应于 2026-11-23 13:00，未完成，已超时 19时0分｜责任单位：市人社局",
        "#1 某化工厂发生爆炸事故 致多人受伤：发布权威信息，应于 2026-11-23 14:30，2026-11-23 16:00 完成，超时 1时30分｜责任单位：市应急管理局",
        "回应 已超时 19时0分",
        "举行新闻发布会 还剩 1时30分",
        "化工厂、爆炸",
        "自 2026-11-22 08:00 起失败，已持续 2天0时，连续失败 15 次",
        "11-23   4 ██████████████████████████████ 重大1 较大1 一般1 关注1\n",
        "11-17   0\n",
        "来源：安丘市政府网站留言板、潍坊新闻网",
        "已回应｜市应急管理局｜各时限节点均已完成",
        "关注中｜市卫生健康局<b>｜关注级，不计时限",
        "#9 某企业排污投诉：回应，应于 2026-11-23 22:00，未完成，2026-11-23 18:00 办结｜责任单位：生态环境局分局",
    ] {
        assert!(text.contains(want), "text lacks {want:?}:\n{text}");
    }
    // The rate table: unit rows then the total.
    let rates = text.split("【按时率").nth(1).unwrap();
    let unit_rows: Vec<&str> = rates
        .lines()
        .filter(|l| l.starts_with("市") || l.starts_with("生态") || l.starts_with("对外"))
        .collect();
    assert_eq!(unit_rows.len(), 5, "{rates}");
    assert!(unit_rows[0].starts_with("市人社局") && unit_rows[0].ends_with("0%"));
    assert!(unit_rows[1].starts_with("生态环境局分局") && unit_rows[1].ends_with("0%"));
    assert!(unit_rows[4].starts_with("对外发布与回应") && unit_rows[4].ends_with("40%"));
}

/// The digest of the scripted week in both parts, as leaders read it: a change of
/// wording or layout is a reviewed snapshot diff (`cargo insta review`).
#[test]
fn digest_snapshot() {
    let report = compute(&week_input());
    insta::assert_snapshot!("digest_text", render_text(&report));
    // One tag a line: the white space between tags is not part of the layout.
    let html = regex::Regex::new(r">[\r\n]*<")
        .unwrap()
        .replace_all(&render_html(&report), ">\n<")
        .into_owned();
    insta::assert_snapshot!("digest_html", html);
}

/// A 6 MB title does not make a 6 MB digest: titles are cut to 200 characters.
#[test]
fn huge_titles_are_cut_in_the_digest() {
    let mut input = week_input();
    input.incidents[0].title = "很".repeat(2_000_000);
    let report = compute(&input);
    let text = render_text(&report);
    let html = render_html(&report);
    assert!(text.len() < 64 * 1024, "{} bytes", text.len());
    assert!(html.len() < 128 * 1024, "{} bytes", html.len());
    assert!(text.contains(&format!("{}…", "很".repeat(199))), "{text}");
    assert!(!text.contains(&"很".repeat(200)));
}

fn parse(html: &str) -> scraper::Html {
    let doc = scraper::Html::parse_document(html);
    assert!(doc.errors.is_empty(), "HTML parse errors: {:?}", doc.errors);
    doc
}

fn sel(s: &str) -> scraper::Selector {
    scraper::Selector::parse(s).unwrap()
}

#[test]
fn html_is_well_formed_and_escapes_source_text() {
    let report = compute(&week_input());
    let html = render_html(&report);
    let doc = parse(&html);

    // Nothing a mail client would refuse or fetch.
    assert_eq!(doc.select(&sel("script")).count(), 0);
    assert_eq!(
        doc.select(&sel("b")).count(),
        0,
        "no markup from a unit name"
    );
    assert_eq!(
        doc.select(&sel("img, link, style, iframe, object")).count(),
        0
    );
    for el in doc.select(&sel("*")) {
        for (name, _) in el.value().attrs() {
            assert!(!name.starts_with("on"), "event handler {name}");
            assert!(
                !["src", "href", "background", "class"].contains(&name),
                "{name}: no external resources, inline styles only"
            );
        }
    }
    // The hostile text is shown as text.
    let all_text: String = doc.root_element().text().collect();
    assert!(all_text.contains("<script>alert('x')</script>医院 & 诊所 \"排队\""));
    assert!(all_text.contains("市卫生健康局<b>"));
    assert!(all_text.contains("<img src=x>"));
    assert!(all_text.contains("HTTP 503 <Service Unavailable>"));

    // Structure: title, the sections, the tables.
    let title: String = doc
        .select(&sel("head > title"))
        .next()
        .unwrap()
        .text()
        .collect();
    assert_eq!(title, "安丘市舆情日报 2026年11月24日");
    let headings: Vec<String> = doc.select(&sel("h2")).map(|h| h.text().collect()).collect();
    assert_eq!(
        headings,
        [
            "概况",
            "近7日新增事件",
            "新增事件（5起）",
            "未办结事件（7起）",
            "超时节点（4个）",
            "按时率（期内到期的时限）",
            "分布",
            "热词",
            "信息源状况",
        ]
    );
    // Every table row in the breach table names its unit.
    let breach_table = doc
        .select(&sel("h2"))
        .find(|h| h.text().collect::<String>().starts_with("超时节点"))
        .and_then(|h| h.next_siblings().find_map(scraper::ElementRef::wrap))
        .unwrap();
    let units: Vec<String> = breach_table
        .select(&sel("tr td:last-child"))
        .map(|td| td.text().collect())
        .collect();
    assert_eq!(
        units,
        ["市人社局", "市应急管理局", "未指定单位", "生态环境局分局"]
    );

    // The chart: seven rows, bars whose widths follow the counts, coloured per level.
    let trend = doc.select(&sel("table#trend")).next().unwrap();
    let rows: Vec<_> = trend.select(&sel(":scope > tbody > tr")).collect();
    assert_eq!(rows.len(), 7);
    let last = rows[6];
    let bar = last.select(&sel("table")).next().unwrap();
    assert_eq!(
        bar.value().attr("width"),
        Some("100%"),
        "the largest day is full width"
    );
    let cells: Vec<(String, String)> = bar
        .select(&sel("td"))
        .map(|td| {
            (
                td.value().attr("bgcolor").unwrap().to_string(),
                td.value().attr("width").unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        cells,
        [
            ("#ee7b12".to_string(), "25%".to_string()),
            ("#e6b800".to_string(), "25%".to_string()),
            ("#1f6fd1".to_string(), "25%".to_string()),
            ("#8c96a0".to_string(), "25%".to_string()),
        ]
    );
    let day21 = rows[4].select(&sel("table")).next().unwrap();
    assert_eq!(day21.value().attr("width"), Some("75%"), "3 of 4");
    let total: String = rows[4].select(&sel("td")).last().unwrap().text().collect();
    assert_eq!(total, "3");
}

/// The HTML in headless Chromium: the page renders and the chart's bars are there.
#[test]
fn html_renders_in_chromium() {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        common::skip::require_or_skip(
            "the digest's HTML in a browser",
            "chromium is not installed (apt-get install chromium)",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("digest.html");
    std::fs::write(&page, render_html(&compute(&week_input()))).unwrap();
    let png = dir.path().join("digest.png");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=900,2000")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        png.exists(),
        "chromium wrote no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if let Ok(keep) = std::env::var("YUQING_KEEP_SCREENSHOT") {
        std::fs::copy(&png, Path::new(&keep)).unwrap();
    }
    let (width, height, pixels) = decode_png(&png);
    assert_eq!((width, height), (900, 2000));
    // Not blank: many distinct colours.
    let distinct: BTreeSet<[u8; 3]> = pixels.iter().copied().collect();
    assert!(distinct.len() > 50, "only {} colours", distinct.len());
    // The chart: the widest bar (11-23, four levels at 25% each) draws runs of each
    // level colour far wider than the 10-pixel legend swatches.
    for (level, hex) in [
        ("II", "#ee7b12"),
        ("III", "#e6b800"),
        ("IV", "#1f6fd1"),
        ("watch", "#8c96a0"),
    ] {
        let rgb = rgb(hex);
        let longest = (0..height)
            .map(|y| {
                longest_run(
                    &pixels[(y * width) as usize..((y + 1) * width) as usize],
                    rgb,
                )
            })
            .max()
            .unwrap();
        assert!(
            longest >= 60,
            "bar of level {level} ({hex}) missing: longest run {longest}px"
        );
    }
}

fn rgb(hex: &str) -> [u8; 3] {
    let v = u32::from_str_radix(hex.trim_start_matches('#'), 16).unwrap();
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

fn longest_run(row: &[[u8; 3]], colour: [u8; 3]) -> usize {
    let close = |p: &[u8; 3]| p.iter().zip(colour).all(|(a, b)| a.abs_diff(b) <= 3);
    let (mut best, mut run) = (0, 0);
    for p in row {
        run = if close(p) { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}

fn decode_png(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let pixels = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, pixels)
}

/// Queued once per date: twice, then again after reopening the store: one outbox row.
#[tokio::test]
async fn queued_once_per_date_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.recipients.leaders = vec!["leader@localhost".into()];
    config.recipients.office = vec!["office@localhost".into(), "leader@localhost".into()];
    let report = compute(&week_input());
    let key = digest_key(report.period.date);
    assert_eq!(key, "digest/2026-11-24");
    let now = bj("2026-11-24 08:00");
    {
        let store = Store::open(dir.path()).unwrap();
        assert!(
            queue(&store, &config, &report, &key, false, now)
                .await
                .unwrap()
        );
        assert!(
            !queue(&store, &config, &report, &key, false, now)
                .await
                .unwrap()
        );
    }
    let store = Store::open(dir.path()).unwrap();
    assert!(
        !queue(&store, &config, &report, &key, true, now)
            .await
            .unwrap()
    );
    let rows = store.outbox_pending(10).unwrap();
    assert_eq!(rows.len(), 1);
    let notice = &rows[0].1.notice;
    assert_eq!(notice.key, "digest/2026-11-24");
    assert_eq!(notice.to, ["leader@localhost", "office@localhost"]);
    let NoticeKind::Digest {
        date,
        late,
        subject,
        text,
        html,
    } = &notice.kind
    else {
        panic!("not a digest: {:?}", notice.kind)
    };
    assert_eq!(date.to_string(), "2026-11-24");
    assert!(!late);
    assert_eq!(subject, "【舆情日报】安丘市 2026年11月24日 新增舆情事件4起");
    assert!(text.contains("【概况】"));
    parse(html);
}

/// An SMTP server on 127.0.0.1 that keeps every accepted message.
#[derive(Clone, Default)]
struct Inbox {
    got: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
    data: Vec<u8>,
}

impl mailin_embedded::Handler for Inbox {
    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _8bit: bool,
        _to: &[String],
    ) -> mailin_embedded::Response {
        self.data.clear();
        mailin_embedded::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        self.got
            .lock()
            .unwrap()
            .push(std::mem::take(&mut self.data));
        mailin_embedded::response::OK
    }
}

/// The queued digest goes out through notify to a real SMTP server as one
/// multipart mail with the digest's key, subject, text and HTML.
#[tokio::test]
async fn queued_digest_is_delivered_by_smtp() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox = Inbox::default();
    let server_inbox = inbox.clone();
    std::thread::spawn(move || {
        let mut server = mailin_embedded::Server::new(server_inbox);
        server.with_tcp_listener(listener);
        if let Err(err) = server.serve() {
            eprintln!("test SMTP server stopped: {err}");
        }
    });

    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    config.recipients.leaders = vec!["leader@localhost".into()];
    config.smtp = Some(yuqing::config::SmtpConfig {
        port,
        ..Default::default()
    });
    let config = std::sync::Arc::new(config);
    let store = Store::open(&config.data_dir).unwrap();
    let report = compute(&week_input());
    let key = digest_key(report.period.date);
    assert!(
        queue(&store, &config, &report, &key, true, bj("2026-11-24 10:00"))
            .await
            .unwrap()
    );

    let wake = std::sync::Arc::new(tokio::sync::Notify::new());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(yuqing::notify::run(
        store.clone(),
        config.clone(),
        wake.clone(),
        async move {
            let _ = stopped.await;
        },
    ));
    wake.notify_one();
    // The guard only keeps a broken test from hanging.
    for _ in 0..1500 {
        if !inbox.got.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    worker.await.unwrap().unwrap();

    let got = inbox.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "one mail");
    let mail = mail_parser::MessageParser::default()
        .parse(&got[0])
        .unwrap();
    assert_eq!(
        mail.header_raw("X-Yuqing-Notice").map(str::trim),
        Some("digest/2026-11-24")
    );
    assert_eq!(
        mail.subject(),
        Some("【舆情日报】安丘市 2026年11月24日 新增舆情事件4起（补发）")
    );
    let text = mail.body_text(0).unwrap();
    assert!(text.contains("【超时节点（4个）】"), "{text}");
    let html = mail.body_html(0).unwrap();
    assert!(html.contains("id=\"trend\""));
    parse(&html);
    assert_eq!(
        store.outbox_depth(),
        0,
        "delivered and removed from the outbox"
    );
}

/// A flagged (or plain) item stored as intake would, classified, and ingested.
fn ingest_at(
    store: &Store,
    ledger: &yuqing::ledger::Ledger,
    source: &str,
    key: &str,
    title: &str,
    class: Option<(Level, &str, &str)>,
    at: Timestamp,
) -> Option<u64> {
    store
        .upsert_item(
            source,
            yuqing::parse::ParsedItem {
                key: key.into(),
                title: title.into(),
                link: None,
                body: format!("{title}。"),
                published: None,
                date_quality: None,
            },
            at,
        )
        .unwrap();
    let classification = match class {
        Some((level, topic, unit)) => Classification {
            flag: true,
            topics: vec![topic.into()],
            severity: Some(level),
            places: vec!["安丘市".into()],
            local: true,
            unit: Some(unit.into()),
            ..Default::default()
        },
        None => Classification::default(),
    };
    store
        .set_classification(source, key, classification)
        .unwrap();
    let item = store.item(source, key).unwrap().unwrap();
    let terms: Vec<String> = title.split(' ').map(str::to_string).collect();
    ledger
        .ingest(&item, &terms, at)
        .unwrap()
        .map(|outcome| match outcome {
            yuqing::ledger::IngestOutcome::Opened(id) => id,
            other => panic!("expected a new incident, got {other:?}"),
        })
}

/// `gather` over a real ledger: incidents, closing times from the audit trail, the
/// period's items, source states and key terms reach the report.
#[test]
fn gathered_from_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("feeds.toml"),
        r#"
[[source]]
id = "news-a"
name = "甲新闻网"
kind = "feed"
url = "https://news.example.org/rss"
interval = "5m"

[[source]]
id = "board-b"
name = "乙留言板"
kind = "feed"
url = "https://board.example.org/rss"
interval = "5m"
"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("yuqing.toml"),
        "[recipients]\nduty = [\"duty@localhost\"]\nleaders = [\"leader@localhost\"]\n",
    )
    .unwrap();
    let config = std::sync::Arc::new(Config::load(&dir.path().join("yuqing.toml")).unwrap());
    let store = Store::temporary().unwrap();
    let ledger = yuqing::ledger::Ledger::new(
        store.clone(),
        config.clone(),
        std::sync::Arc::new(tokio::sync::Notify::new()),
    );
    let t = bj("2026-11-24 08:00");
    let h = chrono::Duration::hours;
    let m = chrono::Duration::minutes;

    // Before the period: an ordinary item, not counted.
    ingest_at(
        &store,
        &ledger,
        "news-a",
        "old",
        "天气 晴朗",
        None,
        t - h(30),
    );
    // III, acknowledged on time, closed (with a reason) before its response fell due:
    // the response counts as missed at the closing.
    let wages = ingest_at(
        &store,
        &ledger,
        "board-b",
        "w",
        "工地 讨薪 聚集",
        Some((Level::III, "wage_arrears", "市人社局")),
        t - h(20),
    )
    .unwrap();
    ledger
        .ack(wages, "值班员", None, t - h(20) + m(10))
        .unwrap();
    ledger
        .close(wages, "值班员", None, Some("诉求已转信访办理"), t - h(2))
        .unwrap();
    // II, statement recorded an hour late (which also records the ack, late).
    let blast = ingest_at(
        &store,
        &ledger,
        "news-a",
        "b",
        "化工厂 爆炸 起火",
        Some((Level::II, "work_safety", "市应急管理局")),
        t - h(10),
    )
    .unwrap();
    ledger
        .milestone(
            blast,
            Milestone::Statement,
            "宣传部",
            None,
            None,
            t - h(4),
            t - h(4),
        )
        .unwrap();
    ingest_at(&store, &ledger, "board-b", "p", "路灯 不亮", None, t - h(1));
    store
        .put_source_state(
            "board-b",
            &SourceState {
                consecutive_failures: 5,
                failing_since: Some(t - h(3)),
                last_error: Some("连接超时".into()),
                ..Default::default()
            },
        )
        .unwrap();

    // The daemon's extractor: the classifier's jieba TF-IDF over the shipped dictionaries.
    let classifier = yuqing::classify::Classifier::load(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/dictionaries")),
        &config.jurisdiction,
    )
    .unwrap();
    let seen = std::sync::Mutex::new(String::new());
    let keywords = |text: &str, n: usize| {
        *seen.lock().unwrap() = text.to_string();
        classifier.keywords(text, n)
    };
    let input =
        yuqing::digest::gather(&store, &config, &Period::scheduled(t), t, &keywords).unwrap();
    let text = seen.lock().unwrap().clone();
    assert!(
        text.contains("化工厂 爆炸 起火") && text.contains("路灯 不亮"),
        "{text}"
    );
    assert!(
        !text.contains("天气"),
        "items before the period are left out: {text}"
    );
    assert!(
        input.audits.contains_key(&wages),
        "closed incidents bring their audit"
    );

    let j = json_of(&compute(&input));
    assert_eq!(j["counts"]["items"], 3);
    assert_eq!(j["counts"]["flagged_items"], 2);
    assert_eq!(j["counts"]["new_incidents"], 2);
    assert_eq!(
        j["counts"]["by_level"],
        json!({"I": 0, "II": 1, "III": 1, "IV": 0, "watch": 0})
    );
    assert_eq!(j["counts"]["closed"], 1);
    assert_eq!(j["counts"]["open"], 1);
    let rows = j["deadlines"]["by_milestone"].as_array().unwrap();
    assert_eq!(
        (
            &rows[0]["key"],
            &rows[0]["due"],
            &rows[0]["on_time"],
            &rows[0]["late"]
        ),
        (&json!("ack"), &json!(2), &json!(1), &json!(1))
    );
    assert_eq!(
        (&rows[1]["key"], &rows[1]["due"], &rows[1]["late"]),
        (&json!("statement"), &json!(1), &json!(1))
    );
    assert_eq!(
        (&rows[3]["key"], &rows[3]["due"], &rows[3]["missed"]),
        (&json!("response"), &json!(1), &json!(1)),
        "the response left unmet at closing counts as missed, never as not due"
    );
    assert_eq!(j["deadlines"]["by_unit"][0]["name"], "市人社局");
    assert_eq!(j["deadlines"]["by_unit"][0]["rate"], 0.0);
    assert_eq!(j["deadlines"]["by_unit"][1]["name"], "市应急管理局");
    assert_eq!(j["deadlines"]["by_unit"][1]["rate"], 0.0);
    let breaches: Vec<(&str, &str)> = j["deadlines"]["breaches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["milestone"].as_str().unwrap(),
                b["unit"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        breaches,
        [
            ("ack", "市应急管理局"),
            ("statement", "市应急管理局"),
            ("response", "市人社局")
        ]
    );
    assert_eq!(
        j["deadlines"]["breaches"][2]["closed_at"],
        "2026-11-24T06:00:00+08:00"
    );
    assert_eq!(j["sources"]["total"], 2);
    assert_eq!(j["sources"]["failing"][0]["name"], "乙留言板");
    assert_eq!(j["sources"]["failing"][0]["failing_secs"], 3 * 3600);
    let terms: Vec<&str> = j["top_terms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["term"].as_str().unwrap())
        .collect();
    for want in ["化工厂", "讨薪", "路灯"] {
        assert!(terms.contains(&want), "{want} missing from {terms:?}");
    }
    assert!(!terms.contains(&"天气"), "{terms:?}");
}
