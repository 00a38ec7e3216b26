//! The load harness (issue 16): the real daemon against N local feeds.
//!
//! ```text
//! cargo build --release --bin yuqing --example load
//! target/release/examples/load --sources 2000 --interval 60s --minutes 5
//! ```
//!
//! It serves N distinct RSS feeds on 127.0.0.1 (in this process, its own threads), writes
//! a configuration for them into a temporary directory, runs the release `yuqing run`
//! (next to this executable, or `--bin PATH`) as a child process and samples the child
//! from /proc every second: CPU (utime + stime), RSS (VmRSS, peak VmHWM) and threads.
//! Every `--every` (default 10 s) it prints a row: polls per minute (counted by the feed
//! server), items classified (the daemon's `/metrics`), the pipeline's backlog, CPU, RSS,
//! threads. At the end: the summary and the lateness of polls (time between two polls
//! of one source minus the interval; jitter is set to 0 so the schedule is exact).
//!
//! Each feed lists `--items` items (default 20), newest first; `--new` more (default 3)
//! appear every `--advance` (default 60 s). The first poll of every source therefore
//! brings `--items` new items at once (the burst: 10,000 sources × 20 = 200,000 items),
//! later polls a few; a poll with nothing new is answered 304 (ETag). Titles and bodies
//! are generated Chinese news text (places × topics, written for this harness); about
//! one item in twelve is an alarm (a casualty report) so the ledger opens incidents.
//!
//! Options: `--sources N` `--interval D` `--minutes M` `--items N` `--new N`
//! `--advance D` `--every D` `--per-host N` (the daemon's `[intake] per_host`; default
//! 64: every feed is on one host here, unlike in a real deployment) `--keep` (keep the
//! data directory and the daemon's log) `--bin PATH` `--cache-bytes N` (the daemon's
//! `[store] cache_bytes`; default: the daemon's default). Durations as in yuqing.toml
//! ("60s", "5m").

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone)]
struct Options {
    sources: usize,
    interval: Duration,
    minutes: f64,
    items: usize,
    new: usize,
    advance: Duration,
    every: Duration,
    per_host: usize,
    keep: bool,
    bin: PathBuf,
    cache_bytes: Option<usize>,
}

fn options() -> Result<Options, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // target/release/examples/load → target/release/yuqing
    let default_bin = exe
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("yuqing"))
        .unwrap_or_else(|| PathBuf::from("yuqing"));
    let mut o = Options {
        sources: 2000,
        interval: Duration::from_secs(60),
        minutes: 5.0,
        items: 20,
        new: 3,
        advance: Duration::from_secs(60),
        every: Duration::from_secs(10),
        per_host: 64,
        keep: false,
        bin: default_bin,
        cache_bytes: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--keep" {
            o.keep = true;
            continue;
        }
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        let number = || value.parse::<usize>().map_err(|e| format!("{arg}: {e}"));
        let duration = || yuqing::config::parse_duration(&value).map_err(|e| format!("{arg}: {e}"));
        match arg.as_str() {
            "--sources" => o.sources = number()?,
            "--interval" => o.interval = duration()?,
            "--minutes" => o.minutes = value.parse().map_err(|e| format!("{arg}: {e}"))?,
            "--items" => o.items = number()?,
            "--new" => o.new = number()?,
            "--advance" => o.advance = duration()?,
            "--every" => o.every = duration()?,
            "--per-host" => o.per_host = number()?,
            "--bin" => o.bin = PathBuf::from(value),
            "--cache-bytes" => o.cache_bytes = Some(number()?),
            _ => return Err(format!("unknown option {arg}")),
        }
    }
    if o.sources == 0 || o.items == 0 || o.advance.is_zero() || o.every.is_zero() {
        return Err("--sources, --items, --advance and --every must be positive".into());
    }
    Ok(o)
}

fn main() {
    let options = match options() {
        Ok(o) => o,
        Err(err) => {
            eprintln!("load: {err}");
            std::process::exit(2);
        }
    };
    if !options.bin.exists() {
        eprintln!(
            "load: no daemon at {} (cargo build --release --bin yuqing, or --bin PATH)",
            options.bin.display()
        );
        std::process::exit(2);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let feeds = Arc::new(Feeds::new(&options));
    let feed_port = runtime.block_on(serve(feeds.clone()));
    let dir = tempfile::tempdir().expect("temporary directory");
    let (config, metrics_url) = write_config(dir.path(), &options, feed_port);
    let log = std::fs::File::create(dir.path().join("daemon.log")).expect("log file");
    let mut child = Command::new(&options.bin)
        .arg("--config")
        .arg(&config)
        .arg("run")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start yuqing run");
    println!(
        "load: {} sources every {:?}, {} items per feed, {} new every {:?}; daemon pid {}, data in {}",
        options.sources,
        options.interval,
        options.items,
        options.new,
        options.advance,
        child.id(),
        dir.path().display()
    );
    let summary = runtime.block_on(sample(&options, &feeds, &mut child, &metrics_url));
    stop(&mut child);
    summary.print(&options, &feeds);
    if options.keep {
        println!("kept {}", dir.keep().display());
    }
}

// ---------------------------------------------------------------- the feeds

/// N feeds that grow `new` items every `advance`, counted as they are polled.
struct Feeds {
    started: Instant,
    options: Options,
    requests: AtomicU64,
    /// Per source: when it was last requested (ms since start, +1; 0 = never).
    last: Vec<AtomicU64>,
    /// Per source: requests so far.
    polls: Vec<AtomicU64>,
    /// Lateness (ms) of every poll after a source's first: gap − interval.
    late: Mutex<Vec<(u64, i64)>>,
}

impl Feeds {
    fn new(options: &Options) -> Feeds {
        Feeds {
            started: Instant::now(),
            options: options.clone(),
            requests: AtomicU64::new(0),
            last: (0..options.sources).map(|_| AtomicU64::new(0)).collect(),
            polls: (0..options.sources).map(|_| AtomicU64::new(0)).collect(),
            late: Mutex::new(Vec::new()),
        }
    }

    /// The newest item's number now: feeds advance together.
    fn top(&self) -> u64 {
        let steps = self.started.elapsed().as_millis() / self.options.advance.as_millis();
        self.options.items as u64 + steps as u64 * self.options.new as u64
    }

    fn record(&self, source: usize) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let now = self.started.elapsed().as_millis() as u64 + 1;
        let before = self.last[source].swap(now, Ordering::Relaxed);
        let n = self.polls[source].fetch_add(1, Ordering::Relaxed);
        if before != 0 {
            let late = (now - before) as i64 - self.options.interval.as_millis() as i64;
            self.late.lock().unwrap().push((n, late));
        }
    }
}

async fn serve(feeds: Arc<Feeds>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the feed server");
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new()
        .route("/feed/{n}", axum::routing::get(feed))
        .with_state(feeds);
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

async fn feed(
    State(feeds): State<Arc<Feeds>>,
    Path(n): Path<usize>,
    headers: HeaderMap,
) -> Response {
    if n >= feeds.options.sources {
        return StatusCode::NOT_FOUND.into_response();
    }
    feeds.record(n);
    let top = feeds.top();
    let etag = format!("\"{top}\"");
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let body = rss(n, top, feeds.options.items as u64);
    (
        StatusCode::OK,
        [
            (header::ETAG, etag),
            (
                header::CONTENT_TYPE,
                "application/rss+xml; charset=utf-8".to_string(),
            ),
        ],
        body,
    )
        .into_response()
}

const PLACES: [&str; 8] = [
    "安丘市",
    "兴安街道",
    "景芝镇",
    "凌河街道",
    "石埠子镇",
    "官庄镇",
    "大盛镇",
    "新安街道",
];
const ROUTINE: [&str; 11] = [
    "召开安全生产专题会议，部署冬季隐患排查整治工作",
    "开展食品安全专项检查，规范校园周边经营秩序",
    "举行新闻发布会，通报近期重点项目建设进展",
    "组织农技人员下乡，指导冬小麦田间管理",
    "新建社区养老服务中心投入使用，惠及周边老人",
    "举办招聘会，百余家企业提供就业岗位",
    "推进老旧小区改造，今年完成改造项目二十余个",
    "开展文明城市创建志愿服务活动",
    "召开人大代表座谈会，听取意见建议",
    "公布第三季度空气质量排名情况",
    "中小学开展防溺水安全教育",
];
const ALARMS: [&str; 1] = ["一在建工地发生坍塌事故，造成2人死亡、3人受伤，事故原因正在调查"];

/// Item `i` of source `n`: one in twelve is an alarm.
fn headline(n: usize, i: u64) -> (&'static str, &'static str) {
    let place = PLACES[(n + i as usize) % PLACES.len()];
    let k = (n as u64 * 7 + i) % 12;
    let topic = if k == 11 {
        ALARMS[0]
    } else {
        ROUTINE[k as usize]
    };
    (place, topic)
}

/// Source `n`'s feed: items `top - items + 1 ..= top`, newest first.
fn rss(n: usize, top: u64, items: u64) -> String {
    let mut out = String::with_capacity(items as usize * 800);
    out.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel>\
         <title>负载测试</title><link>http://127.0.0.1/</link><description>load</description>\n",
    );
    let now = chrono::Utc::now();
    for i in (top.saturating_sub(items) + 1..=top).rev() {
        let (place, topic) = headline(n, i);
        let published = (now - chrono::Duration::minutes((top - i) as i64)).to_rfc2822();
        out.push_str(&format!(
            "<item><title>{place}{topic}（{n}-{i}）</title>\
             <link>http://127.0.0.1/news/{n}/{i}.html</link><guid>{n}-{i}</guid>\
             <pubDate>{published}</pubDate>\
             <description>&lt;p&gt;本网讯 {place}{topic}。据了解，相关情况已引起当地高度重视，\
             有关部门第一时间组织人员赶赴现场核查处置，并表示将及时向社会公布进展。\
             群众可通过政务服务热线反映问题，记者将持续关注后续进展。&lt;/p&gt;</description></item>\n"
        ));
    }
    out.push_str("</channel></rss>\n");
    out
}

// ---------------------------------------------------------------- the daemon

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

/// Writes yuqing.toml and feeds.toml; returns the config path and the metrics URL.
fn write_config(dir: &std::path::Path, o: &Options, feed_port: u16) -> (PathBuf, String) {
    let dictionaries = std::env::current_dir()
        .expect("working directory")
        .join("dictionaries");
    let (api, metrics) = (free_port(), free_port());
    let config = dir.join("yuqing.toml");
    let mut f = std::fs::File::create(&config).expect("yuqing.toml");
    writeln!(
        f,
        "feeds = \"feeds.toml\"\ndictionaries = {:?}\ndata_dir = \"data\"\n\
         [api]\nbind = \"127.0.0.1:{api}\"\n[metrics]\nbind = \"127.0.0.1:{metrics}\"\n\
         [intake]\njitter = 0.0\nper_host = {}\n",
        dictionaries.display().to_string(),
        o.per_host
    )
    .expect("write yuqing.toml");
    if let Some(bytes) = o.cache_bytes {
        writeln!(f, "[store]\ncache_bytes = {bytes}").expect("write yuqing.toml");
    }
    let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join("feeds.toml")).unwrap());
    let interval = format!("{}s", o.interval.as_secs().max(1));
    for n in 0..o.sources {
        writeln!(
            f,
            "[[source]]\nid = \"load-{n}\"\nname = \"负载源{n}\"\nkind = \"feed\"\n\
             url = \"http://127.0.0.1:{feed_port}/feed/{n}\"\ninterval = \"{interval}\"\n"
        )
        .expect("write feeds.toml");
    }
    f.flush().expect("write feeds.toml");
    (config, format!("http://127.0.0.1:{metrics}/metrics"))
}

fn stop(child: &mut Child) {
    // SIGTERM, as systemd stops it; the daemon exits within its 5 s bound.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    for _ in 0..100 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

// ---------------------------------------------------------------- sampling

/// One reading of the child's /proc files.
#[derive(Debug, Default, Clone, Copy)]
struct Proc {
    cpu: Duration,
    rss_mib: f64,
    hwm_mib: f64,
    threads: u64,
}

fn read_proc(pid: u32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    // utime, stime: fields 14 and 15 of the line, 11 and 12 after the name; USER_HZ = 100.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0)
    };
    Some(Proc {
        cpu: Duration::from_millis(ticks * 10),
        rss_mib: field("VmRSS:") / 1024.0,
        hwm_mib: field("VmHWM:") / 1024.0,
        threads: field("Threads:") as u64,
    })
}

/// Items classified and the backlog, from the daemon's metrics.
async fn scrape(client: &reqwest::Client, url: &str) -> Option<(u64, u64)> {
    let text = client.get(url).send().await.ok()?.text().await.ok()?;
    let value = |name: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|v| v as u64)
    };
    Some((
        value("yuqing_classification_duration_seconds_count")?,
        value("yuqing_pipeline_backlog_items")?,
    ))
}

#[derive(Debug, Default)]
struct Summary {
    seconds: f64,
    cpu: Duration,
    peak_rss: f64,
    last_rss: f64,
    max_threads: u64,
    classified: u64,
    /// When the backlog of the first polls was first seen empty again.
    burst_done: Option<f64>,
    peak_backlog: u64,
    exited: Option<String>,
}

async fn sample(o: &Options, feeds: &Feeds, child: &mut Child, metrics: &str) -> Summary {
    let client = reqwest::Client::new();
    let pid = child.id();
    let start = Instant::now();
    let end = Duration::from_secs_f64(o.minutes * 60.0);
    let mut summary = Summary::default();
    let mut window = (Instant::now(), Proc::default(), 0u64, 0u64);
    println!(
        "{:>6} {:>10} {:>11} {:>8} {:>7} {:>9} {:>9} {:>8}",
        "t (s)", "polls/min", "classified", "backlog", "CPU %", "RSS MiB", "peak MiB", "threads"
    );
    while start.elapsed() < end {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Ok(Some(status)) = child.try_wait() {
            summary.exited = Some(status.to_string());
            break;
        }
        let Some(now) = read_proc(pid) else { continue };
        summary.cpu = now.cpu;
        summary.peak_rss = summary.peak_rss.max(now.hwm_mib);
        summary.last_rss = now.rss_mib;
        summary.max_threads = summary.max_threads.max(now.threads);
        if window.0.elapsed() < o.every {
            continue;
        }
        let (classified, backlog) = scrape(&client, metrics).await.unwrap_or_default();
        summary.classified = classified;
        summary.peak_backlog = summary.peak_backlog.max(backlog);
        if summary.burst_done.is_none() && classified > 0 && backlog == 0 {
            summary.burst_done = Some(start.elapsed().as_secs_f64());
        }
        let requests = feeds.requests.load(Ordering::Relaxed);
        let secs = window.0.elapsed().as_secs_f64();
        println!(
            "{:>6.0} {:>10.0} {:>11} {:>8} {:>7.1} {:>9.1} {:>9.1} {:>8}",
            start.elapsed().as_secs_f64(),
            (requests - window.2) as f64 * 60.0 / secs,
            classified,
            backlog,
            100.0 * (now.cpu - window.1.cpu).as_secs_f64() / secs,
            now.rss_mib,
            now.hwm_mib,
            now.threads
        );
        window = (Instant::now(), now, requests, classified);
    }
    summary.seconds = start.elapsed().as_secs_f64();
    summary
}

impl Summary {
    fn print(&self, o: &Options, feeds: &Feeds) {
        let requests = feeds.requests.load(Ordering::Relaxed);
        let late = feeds.late.lock().unwrap();
        let second: Vec<i64> = late.iter().filter(|(n, _)| *n == 1).map(|l| l.1).collect();
        let later: Vec<i64> = late.iter().filter(|(n, _)| *n > 1).map(|l| l.1).collect();
        let never = feeds
            .polls
            .iter()
            .filter(|p| p.load(Ordering::Relaxed) == 0)
            .count();
        println!(
            "== {} sources every {:?}, {:.0} s ==",
            o.sources, o.interval, self.seconds
        );
        if let Some(status) = &self.exited {
            println!("  DAEMON EXITED EARLY: {status} (see its log with --keep)");
        }
        println!(
            "  polls                 {requests} ({:.0}/min over the run; {never} sources never polled)",
            requests as f64 * 60.0 / self.seconds
        );
        println!(
            "  items classified      {} (peak backlog {}; first polls' backlog empty at {})",
            self.classified,
            self.peak_backlog,
            self.burst_done
                .map_or("never".to_string(), |t| format!("{t:.0} s"))
        );
        println!(
            "  CPU                   {:.1} s = {:.1} % of one core over the run",
            self.cpu.as_secs_f64(),
            100.0 * self.cpu.as_secs_f64() / self.seconds
        );
        println!(
            "  RSS                   peak {:.1} MiB (VmHWM), at the end {:.1} MiB",
            self.peak_rss, self.last_rss
        );
        println!("  threads               at most {}", self.max_threads);
        println!("  second polls late     {}", percentiles(second));
        println!("  later polls late      {}", percentiles(later));
    }
}

fn percentiles(mut ms: Vec<i64>) -> String {
    if ms.is_empty() {
        return "none".into();
    }
    ms.sort_unstable();
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    format!(
        "{} polls: median {:.2} s, p99 {:.2} s, max {:.2} s",
        ms.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    )
}
