//! Intake benchmarks (release build: `cargo bench --bench intake`).
//!
//! 1. Idle polling: 2,000 sources polled every minute against a local server that
//!    answers 304. Reports the daemon side's CPU share of one core and its peak RSS.
//!    The server runs in a child process (this same executable, re-run with
//!    `YUQING_BENCH_SERVER=1`), so its CPU and memory are not counted.
//! 2. Ingestion: 200 sources serving fresh 50-item feeds. Reports items/s for
//!    fetch + parse + dedupe + store on the first poll (all new), and for a second
//!    poll of the same documents (all deduplicated).
//!
//! `YUQING_BENCH_SECS` sets the idle-polling measurement time (default 180 s).

use std::io::{BufRead, BufReader, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::sync::{mpsc, watch};
use yuqing::config::{Config, HumanDuration, IntakeConfig, SourceConfig, SourceKind, SourceRole};
use yuqing::sources::Intake;
use yuqing::store::{SourceState, Store};

const IDLE_SOURCES: usize = 2000;
const FRESH_SOURCES: usize = 200;
const ITEMS_PER_FEED: usize = 50;
const ETAG: &str = "\"v1\"";

fn main() {
    if std::env::var_os("YUQING_BENCH_SERVER").is_some() {
        serve();
        return;
    }
    let server = Server::start();
    idle_polling(&server);
    ingestion(&server);
}

// ---------------------------------------------------------------- the server (child process)

/// A local HTTP server: `/idle/N` answers 304 to `If-None-Match: "v1"` (200 with a tiny
/// feed otherwise); `/fresh/N` serves source N's 50-item feed; `/stats` counts requests.
fn serve() {
    let runtime = tokio::runtime::Runtime::new().expect("server runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        println!("PORT {port}");
        std::io::stdout().flush().unwrap();
        let count = Arc::new(AtomicU64::new(0));
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap| {
                let count = count.clone();
                async move { respond(&uri, &headers, &count) }
            },
        );
        // The parent closes our stdin when it is done: stop then.
        std::thread::spawn(|| {
            let _ = std::io::stdin().lines().count();
            std::process::exit(0);
        });
        axum::serve(listener, app).await.unwrap();
    });
}

fn respond(
    uri: &axum::http::Uri,
    headers: &axum::http::HeaderMap,
    count: &AtomicU64,
) -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let path = uri.path();
    if path == "/stats" {
        return count.load(Ordering::Relaxed).to_string().into_response();
    }
    count.fetch_add(1, Ordering::Relaxed);
    let rss = [(header::CONTENT_TYPE, "application/rss+xml; charset=utf-8")];
    if let Some(n) = path.strip_prefix("/idle/") {
        if headers
            .get(header::IF_NONE_MATCH)
            .is_some_and(|v| v == ETAG)
        {
            return (StatusCode::NOT_MODIFIED, [(header::ETAG, ETAG)]).into_response();
        }
        return (StatusCode::OK, [(header::ETAG, ETAG)], rss, feed(n, 1)).into_response();
    }
    if let Some(n) = path.strip_prefix("/fresh/") {
        return (StatusCode::OK, rss, feed(n, ITEMS_PER_FEED)).into_response();
    }
    StatusCode::NOT_FOUND.into_response()
}

/// A feed of realistic Chinese news items, distinct per source.
fn feed(source: &str, items: usize) -> String {
    const PLACES: [&str; 6] = [
        "安丘市",
        "兴安街道",
        "景芝镇",
        "凌河街道",
        "石埠子镇",
        "潍坊市",
    ];
    const TOPICS: [&str; 6] = [
        "召开安全生产专题会议，部署冬季隐患排查整治工作",
        "居民反映小区供暖温度不达标，相关部门已介入调查",
        "一企业被曝拖欠农民工工资，劳动监察大队回应",
        "开展食品安全专项检查，查处过期食品若干",
        "城区主干道积水严重，市民出行受影响",
        "举行新闻发布会，通报近期重点工作进展",
    ];
    let mut out = String::with_capacity(items * 700);
    out.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel>\
         <title>基准测试</title><link>http://127.0.0.1/</link><description>bench</description>\n",
    );
    for i in 0..items {
        let place = PLACES[i % PLACES.len()];
        let topic = TOPICS[(i / PLACES.len()) % TOPICS.len()];
        out.push_str(&format!(
            "<item><title>{place}{topic}（{source}-{i}）</title>\
             <link>http://127.0.0.1/news/{source}/{i}.html</link><guid>{source}-{i}</guid>\
             <pubDate>Tue, 24 Nov 2026 08:{:02}:00 +0800</pubDate>\
             <description>&lt;p&gt;本网讯 {place}{topic}。据了解，相关情况已引起当地高度重视，\
             有关部门第一时间组织人员赶赴现场核查处置，并表示将及时向社会公布进展。\
             记者将持续关注。&lt;/p&gt;</description></item>\n",
            i % 60
        ));
    }
    out.push_str("</channel></rss>\n");
    out
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start() -> Server {
        let exe = std::env::current_exe().expect("bench executable");
        let mut child = Command::new(exe)
            .env("YUQING_BENCH_SERVER", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the bench server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line.trim().strip_prefix("PORT ").unwrap().parse().unwrap();
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    fn requests(&self) -> u64 {
        let url = format!("{}/stats", self.base);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            reqwest::get(url)
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
                .parse()
                .unwrap()
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- measurements

/// User + system CPU time of this process (all threads, including exited ones).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which may contain spaces) start after ") ".
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the full line: 11 and 12 here.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // USER_HZ is 100 on Linux by ABI.
    Duration::from_millis(ticks * 10)
}

/// Peak resident set size (VmHWM) in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn source(id: String, url: String, interval: u64) -> SourceConfig {
    SourceConfig {
        name: id.clone(),
        id,
        url: url.parse().unwrap(),
        interval: HumanDuration::from_secs(interval),
        local: false,
        enabled: true,
        encoding: None,
        role: SourceRole::News,
        kind: SourceKind::Feed,
        reply: None,
        board: false,
        board_unmarked: false,
    }
}

fn config(dir: &std::path::Path, sources: Vec<SourceConfig>) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
        sources,
        intake: IntakeConfig::default(),
        ..Config::default()
    }
}

// ---------------------------------------------------------------- 1. idle polling

fn idle_polling(server: &Server) {
    let secs: u64 = std::env::var("YUQING_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(180);
    let dir = tempfile::tempdir().unwrap();
    let sources: Vec<_> = (0..IDLE_SOURCES)
        .map(|i| source(format!("idle-{i}"), format!("{}/idle/{i}", server.base), 60))
        .collect();
    let config = config(dir.path(), sources);
    let store = Store::open(dir.path()).unwrap();
    // Steady state: every source already has validators and a schedule spread over the minute.
    let now = chrono::Utc::now();
    let mut rng = rand::rng();
    for s in &config.sources {
        let state = SourceState {
            etag: Some(ETAG.into()),
            next_poll_at: Some(now + chrono::Duration::milliseconds(rng.random_range(0..60_000))),
            ..SourceState::default()
        };
        store.put_source_state(&s.id, &state).unwrap();
    }

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (items_tx, mut items_rx) = mpsc::channel(1024);
    let intake = Intake::new(&config, store.clone(), items_tx).unwrap();
    let (stop, stopping) = watch::channel(false);
    let requests_before = server.requests();
    let (wall, cpu) = runtime.block_on(async {
        let consumer = tokio::spawn(async move { while items_rx.recv().await.is_some() {} });
        let running = tokio::spawn(intake.run(stopping));
        // Let the tasks start and the first minute's polls begin before measuring.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let (wall0, cpu0) = (Instant::now(), cpu_time());
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let measured = (wall0.elapsed(), cpu_time() - cpu0);
        stop.send(true).unwrap();
        running.await.unwrap();
        consumer.await.unwrap();
        measured
    });
    let polls = server.requests() - requests_before;
    let states = store.source_states().unwrap();
    let failures: u32 = states.iter().map(|(_, s)| s.consecutive_failures).sum();
    let not_modified = states
        .iter()
        .filter(|(_, s)| s.last_status == Some(304))
        .count();
    println!("== idle polling: {IDLE_SOURCES} sources, 304 every minute, {secs} s measured ==");
    println!(
        "  polls answered       {polls} ({:.1}/s; {not_modified} sources last saw 304; {failures} failures)",
        polls as f64 / (wall.as_secs_f64() + 10.0)
    );
    println!(
        "  daemon-side CPU      {:.2} % of one core ({:.2} s CPU over {:.1} s)   target <= 5 %",
        100.0 * cpu.as_secs_f64() / wall.as_secs_f64(),
        cpu.as_secs_f64(),
        wall.as_secs_f64()
    );
    println!(
        "  peak RSS (VmHWM)     {:.1} MiB   target <= 150 MB",
        peak_rss_mib()
    );
}

// ---------------------------------------------------------------- 2. ingestion

fn ingestion(server: &Server) {
    let dir = tempfile::tempdir().unwrap();
    let sources: Vec<_> = (0..FRESH_SOURCES)
        .map(|i| {
            source(
                format!("fresh-{i}"),
                format!("{}/fresh/{i}", server.base),
                60,
            )
        })
        .collect();
    let ids: Vec<String> = sources.iter().map(|s| s.id.clone()).collect();
    let config = config(dir.path(), sources);
    let store = Store::open(dir.path()).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (items_tx, mut items_rx) = mpsc::channel(1024);
    let intake = Intake::new(&config, store.clone(), items_tx).unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    runtime.spawn(async move {
        while items_rx.recv().await.is_some() {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });

    println!(
        "== ingestion: {FRESH_SOURCES} sources × {ITEMS_PER_FEED} items, fetch + parse + dedupe + store =="
    );
    for round in ["first poll (all new)", "second poll (all duplicates)"] {
        let before = received.load(Ordering::Relaxed);
        let start = Instant::now();
        let (parsed, new, failed) = runtime.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for id in &ids {
                let (intake, id) = (intake.clone(), id.clone());
                set.spawn(async move { intake.poll_source(&id, chrono::Utc::now()).await });
            }
            let (mut parsed, mut new, mut failed) = (0, 0, 0);
            while let Some(done) = set.join_next().await {
                match done.unwrap().unwrap().result {
                    Ok(done) => {
                        parsed += done.parsed;
                        new += done.new;
                    }
                    Err(err) => {
                        if failed == 0 {
                            eprintln!("  first failure: {err}");
                        }
                        failed += 1;
                    }
                }
            }
            (parsed, new, failed)
        });
        let elapsed = start.elapsed();
        // Every new item was sent before its poll returned; let the consumer catch up.
        for _ in 0..500 {
            if received.load(Ordering::Relaxed) - before >= new as u64 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        println!(
            "  {round:<30} {parsed} items ({new} new, {} handed on, {failed} failed polls) in {:.2} s = {:.0} items/s   target >= 5000",
            received.load(Ordering::Relaxed) - before,
            elapsed.as_secs_f64(),
            parsed as f64 / elapsed.as_secs_f64()
        );
    }
    println!("  stored items         {}", store.item_count());
}
