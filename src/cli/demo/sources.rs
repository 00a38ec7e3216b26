//! The demo's sources, served from memory on 127.0.0.1 (port 0) with axum, and what
//! they say (all text written for the demo):
//!
//! - `/news.xml`, RSS: 潍坊本地新闻 — the accident report, then reposts and questions
//!   (转载/追问) as the script publishes them;
//! - `/gov.xml`, RSS: 安丘市人民政府 政务公开 (`role = "official"`) — empty until the
//!   script publishes the 情况通报;
//! - `/board/api/threads`, JSON: a 领导留言板 API (`responseData`, `tid`, `subject`,
//!   `dateline` in epoch seconds, `status` 待回复/办理中/已办理, `replyTime`);
//! - `/liuyan/list.asp`, HTML: an older 政府网站 网上留言 table, GBK-encoded with
//!   `encoding_rs` and declared only in its `<meta charset="gbk">` (the content type has
//!   no charset, so the daemon must detect it).
//!
//! This is the one place outside `sources` that serves HTTP: a fixture; it fetches nothing.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::{DateTime, Duration, Utc};
use tokio::sync::oneshot;

use super::CliError;

pub const NEWS_TITLE: &str = "安丘市景芝镇一烟花爆竹仓库发生爆炸 已致11人死亡";
const NEWS_BODY: &str = "今天上午10时许，安丘市景芝镇一烟花爆竹经营企业的仓库突然发生爆炸，\
    附近多间民房门窗受损。据现场救援人员介绍，爆炸已造成11人死亡、6人受伤，伤者已送往医院救治。\
    有网友发帖称爆炸声数公里外都能听到，当地消防、应急部门已赶赴现场处置。";
pub const STATEMENT_TITLE: &str = "关于景芝镇烟花爆竹仓库爆炸事故的情况通报";
const STATEMENT_BODY: &str = "安丘市人民政府通报：今天上午，景芝镇一烟花爆竹经营企业仓库发生爆炸，\
    经核实，事故造成11人死亡、6人受伤，伤者均已送医救治，无生命危险。事故原因正在调查，\
    涉事企业已停业，相关责任人已被控制，遇难者善后工作正有序开展。";

/// Reposts and questions before the 情况通报, in the order the script publishes them.
pub const FOLLOW_UPS: [(&str, &str); 4] = [
    (
        "转载：安丘市景芝镇烟花爆竹仓库爆炸 现场浓烟滚滚",
        "网友上传的视频显示，安丘市景芝镇烟花爆竹仓库爆炸现场浓烟滚滚，附近民房门窗受损。\
         据介绍，爆炸已造成11人死亡、6人受伤，消防、应急部门正在现场处置。",
    ),
    (
        "网友追问：景芝镇烟花爆竹仓库为何紧挨民房",
        "安丘市景芝镇烟花爆竹仓库爆炸造成11人死亡、6人受伤后，不少网友追问：\
         存放烟花爆竹的仓库为何紧挨民房？经营企业是否取得许可？",
    ),
    (
        "转载：安丘景芝镇烟花爆竹仓库爆炸 伤者已送医救治",
        "安丘市景芝镇烟花爆竹仓库爆炸已造成11人死亡、6人受伤，伤者已送往医院救治。\
         网友纷纷转发，询问事故原因和伤者情况。",
    ),
    (
        "景芝镇烟花爆竹仓库爆炸 网友追问事故原因何时公布",
        "安丘市景芝镇烟花爆竹仓库爆炸造成11人死亡、6人受伤，网友追问爆炸原因，\
         希望当地政府尽快公布调查进展。",
    ),
];

/// The one report after the 情况通报.
pub const AFTER: (&str, &str) = (
    "安丘通报景芝镇烟花爆竹仓库爆炸事故 网友：希望依法追责",
    "安丘市景芝镇烟花爆竹仓库爆炸造成11人死亡、6人受伤，当地已通报事故情况，\
     涉事企业已停业。有网友留言希望依法追责。",
);

/// The JSON board's id, and the `tid` of the post the demo answers late.
pub const BOARD: &str = "demo-board";
pub const LATE_POST: u32 = 25_489_103;
/// The post answered in time, when the duty officer signs for the incident.
pub const PROMPT_POST: u32 = 25_489_102;

/// One RSS item.
#[derive(Clone)]
struct FeedItem {
    guid: String,
    title: &'static str,
    body: &'static str,
    published: DateTime<Utc>,
}

/// One post of the JSON board.
#[derive(Clone)]
struct BoardPost {
    tid: u32,
    subject: &'static str,
    content: &'static str,
    dateline: DateTime<Utc>,
    status: &'static str,
    reply_time: Option<DateTime<Utc>>,
}

/// One row of the GBK list page.
struct ListPost {
    id: u32,
    title: &'static str,
    posted: DateTime<Utc>,
    state: &'static str,
}

/// Everything published so far.
struct Published {
    news: Vec<FeedItem>,
    official: Vec<FeedItem>,
    board: Vec<BoardPost>,
    list: Vec<ListPost>,
}

/// The demo's sites; clones share them.
#[derive(Clone)]
pub struct Sources {
    published: Arc<Mutex<Published>>,
}

impl Sources {
    /// The sites as they are when the demo starts at `now`.
    pub fn new(now: DateTime<Utc>) -> Sources {
        let post = |tid, subject, content, age: i64, status, replied: Option<i64>| BoardPost {
            tid,
            subject,
            content,
            dateline: now - Duration::seconds(age),
            status,
            reply_time: replied.map(|ago| now - Duration::seconds(ago)),
        };
        Sources {
            published: Arc::new(Mutex::new(Published {
                news: vec![FeedItem {
                    guid: "news-1".into(),
                    title: NEWS_TITLE,
                    body: NEWS_BODY,
                    published: now,
                }],
                official: Vec::new(),
                board: vec![
                    post(
                        25_489_101,
                        "咨询城乡居民医保今年的缴费截止时间",
                        "请问今年城乡居民医保在哪里缴费，截止到哪一天？",
                        80,
                        "已办理",
                        Some(20),
                    ),
                    post(
                        PROMPT_POST,
                        "兴安街道文化广场健身器材损坏 希望尽快更换",
                        "兴安街道文化广场的几件健身器材坏了很久，希望有关部门尽快更换。",
                        30,
                        "办理中",
                        None,
                    ),
                    post(
                        LATE_POST,
                        "景芝镇驻地主街路灯多日不亮 夜间出行不便",
                        "景芝镇驻地主街的路灯已经一个多星期不亮了，晚上出行很不方便，请尽快维修。",
                        0,
                        "待回复",
                        None,
                    ),
                ],
                list: vec![
                    ListPost {
                        id: 87,
                        title: "咨询公租房申请条件和办理地点",
                        posted: now - Duration::hours(26),
                        state: "已办结",
                    },
                    ListPost {
                        id: 88,
                        title: "建议在景芝镇中心小学门口增设公交站点",
                        posted: now - Duration::hours(3),
                        state: "办理中",
                    },
                ],
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Published> {
        self.published
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Publishes a news report now.
    pub fn publish_news(&self, (title, body): (&'static str, &'static str)) {
        let mut published = self.lock();
        let guid = format!("news-{}", published.news.len() + 1);
        published.news.push(FeedItem {
            guid,
            title,
            body,
            published: Utc::now(),
        });
    }

    /// Publishes the county's 情况通报 now.
    pub fn publish_statement(&self) {
        self.lock().official.push(FeedItem {
            guid: "gov-1".into(),
            title: STATEMENT_TITLE,
            body: STATEMENT_BODY,
            published: Utc::now(),
        });
    }

    /// The JSON board shows post `tid` answered (已办理) at `at`; returns its subject.
    pub fn answer(&self, tid: u32, at: DateTime<Utc>) -> &'static str {
        let mut published = self.lock();
        match published.board.iter_mut().find(|post| post.tid == tid) {
            Some(post) => {
                post.status = "已办理";
                post.reply_time = Some(at);
                post.subject
            }
            None => "",
        }
    }

    /// The JSON board post `tid`'s subject.
    pub fn subject(&self, tid: u32) -> &'static str {
        self.lock()
            .board
            .iter()
            .find(|post| post.tid == tid)
            .map_or("", |post| post.subject)
    }

    /// Serves the sites on 127.0.0.1 (port 0) until `stop`; returns the base URL.
    pub async fn serve(&self, stop: oneshot::Receiver<()>) -> Result<String, CliError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| CliError::failed(format!("无法在 127.0.0.1 上提供演示信息源：{e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| CliError::failed(format!("无法读取演示信息源的端口：{e}")))?;
        let app = Router::new()
            .route("/news.xml", get(news_feed))
            .route("/gov.xml", get(official_feed))
            .route("/board/api/threads", get(board_api))
            .route("/liuyan/list.asp", get(list_page))
            .with_state(self.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.await;
                })
                .await;
        });
        Ok(format!("http://{addr}"))
    }
}

/// An RSS 2.0 document of `items` (all text is the demo's own and needs no escaping).
fn rss(channel: &str, host: &str, items: &[FeedItem]) -> String {
    let items: String = items
        .iter()
        .map(|item| {
            format!(
                "<item><title>{}</title><link>http://{host}/{}.html</link><guid>{}</guid>\
                 <pubDate>{}</pubDate><description>{}</description></item>",
                item.title,
                item.guid,
                item.guid,
                item.published.to_rfc2822(),
                item.body
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel>\
         <title>{channel}</title><link>http://{host}/</link><description>{channel}</description>\
         {items}</channel></rss>"
    )
}

fn feed_response(body: String) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/rss+xml; charset=utf-8")],
        body,
    )
}

async fn news_feed(State(sources): State<Sources>) -> impl IntoResponse {
    let body = rss("潍坊本地新闻", "news.demo.invalid", &sources.lock().news);
    feed_response(body)
}

async fn official_feed(State(sources): State<Sources>) -> impl IntoResponse {
    let body = rss(
        "安丘市人民政府 政务公开",
        "gov.demo.invalid",
        &sources.lock().official,
    );
    feed_response(body)
}

/// The 领导留言板 API: `{"result": "success", "responseData": [...]}`, newest first.
fn board_json(posts: &[BoardPost]) -> serde_json::Value {
    let posts: Vec<serde_json::Value> = posts
        .iter()
        .rev()
        .map(|post| {
            serde_json::json!({
                "tid": post.tid,
                "subject": post.subject,
                "content": post.content,
                "dateline": post.dateline.timestamp(),
                "status": post.status,
                "replyTime": post.reply_time.map(|at| at.timestamp()),
            })
        })
        .collect();
    serde_json::json!({"result": "success", "responseData": posts})
}

async fn board_api(State(sources): State<Sources>) -> impl IntoResponse {
    axum::Json(board_json(&sources.lock().board))
}

/// The 网上留言 list page, GBK-encoded (every character of it is in GBK).
fn list_html(posts: &[ListPost]) -> Vec<u8> {
    let rows: String = posts
        .iter()
        .rev()
        .map(|post| {
            format!(
                "<tr class=\"row\"><td class=\"title\"><a href=\"show.asp?id={}\">{}</a></td>\
                 <td class=\"date\">{}</td><td class=\"state\">{}</td></tr>\n",
                post.id,
                post.title,
                post.posted
                    .with_timezone(&crate::time::ZONE)
                    .format("%Y-%m-%d %H:%M"),
                post.state
            )
        })
        .collect();
    let html = format!(
        "<html><head><meta charset=\"gbk\"><title>安丘市人民政府 网上留言</title></head><body>\n\
         <table class=\"liuyan\">\n<tr><th>标题</th><th>留言时间</th><th>办理状态</th></tr>\n\
         {rows}</table></body></html>\n"
    );
    encoding_rs::GBK.encode(&html).0.into_owned()
}

async fn list_page(State(sources): State<Sources>) -> impl IntoResponse {
    let body = list_html(&sources.lock().list);
    ([(header::CONTENT_TYPE, "text/html")], body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_page_is_gbk_and_says_so() {
        let now = Utc::now();
        let sources = Sources::new(now);
        let bytes = list_html(&sources.lock().list);
        assert!(std::str::from_utf8(&bytes).is_err(), "not UTF-8");
        let (text, _, bad) = encoding_rs::GBK.decode(&bytes);
        assert!(!bad, "every byte decodes as GBK");
        assert!(text.contains("<meta charset=\"gbk\">"));
        assert!(text.contains("建议在景芝镇中心小学门口增设公交站点"));
        // No character was replaced when encoding.
        assert!(!text.contains("&#"), "{text}");
    }

    #[test]
    fn a_board_post_answered_late_shows_its_reply_time() {
        let now = Utc::now();
        let sources = Sources::new(now);
        let before = board_json(&sources.lock().board);
        let late = |json: &serde_json::Value| {
            json["responseData"]
                .as_array()
                .unwrap()
                .iter()
                .find(|post| post["tid"] == LATE_POST)
                .cloned()
                .unwrap()
        };
        assert_eq!(late(&before)["status"], "待回复");
        assert!(late(&before)["replyTime"].is_null());
        let at = now + Duration::seconds(100);
        assert_eq!(sources.answer(LATE_POST, at), sources.subject(LATE_POST));
        let after = board_json(&sources.lock().board);
        assert_eq!(late(&after)["status"], "已办理");
        assert_eq!(late(&after)["replyTime"], at.timestamp());
        assert_eq!(sources.answer(1, at), "", "no such post");
    }
}
