//! The real `yuqing run` binary on a temporary site, driven over its control API.
//! Shared by the durability tests and `examples/crashtest.rs` (which includes this
//! file by path, so it uses only the binary path it is given).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long to wait for the daemon to come up or to reach a state.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// A free port on 127.0.0.1 (bound to port 0, then released).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// An RSS feed whose items were published 20 minutes ago.
pub fn rss(items: &[(&str, &str)]) -> String {
    let published = (chrono::Utc::now() - chrono::Duration::minutes(20)).to_rfc2822();
    let items: String = items
        .iter()
        .map(|(guid, title)| {
            format!(
                "<item><title>{title}</title><link>http://127.0.0.1/news/{guid}.html</link>\
                 <guid>{guid}</guid><pubDate>{published}</pubDate>\
                 <description>{title}。记者从当地获悉，相关部门已赶赴现场处置。</description></item>"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel>\
         <title>本地新闻</title><link>http://127.0.0.1/</link><description>测试</description>\
         {items}</channel></rss>"
    )
}

/// A local feed server answering `GET /feed.xml` with [`rss`] of `items`.
pub async fn feed_server(items: &[(&str, &str)]) -> wiremock::MockServer {
    serve_feed(rss(items)).await
}

/// A local feed server answering `GET /feed.xml` with `body` (RSS).
pub async fn serve_feed(body: String) -> wiremock::MockServer {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/rss+xml; charset=utf-8")
                .set_body_string(body),
        )
        .mount(&server)
        .await;
    server
}

/// A temporary deployment: config, feeds and data directory.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub port: u16,
    pub bin: PathBuf,
}

impl Site {
    /// `extra` is appended to `yuqing.toml` (e.g. `[smtp]`, `[policy]`, `[daemon]`).
    pub fn new(bin: &Path, dictionaries: &Path, feed_url: &str, extra: &str) -> Site {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        std::fs::write(
            dir.path().join("feeds.toml"),
            format!(
                "[[source]]\nid = \"local-news\"\nname = \"本地新闻\"\nkind = \"feed\"\n\
                 url = \"{feed_url}\"\ninterval = \"10s\"\nlocal = true\n"
            ),
        )
        .expect("write feeds.toml");
        let config = dir.path().join("yuqing.toml");
        std::fs::write(
            &config,
            format!(
                "feeds = \"feeds.toml\"\ndictionaries = {:?}\ndata_dir = \"data\"\n\n\
                 [api]\nbind = \"127.0.0.1:{port}\"\n\n{extra}\n",
                dictionaries.display().to_string()
            ),
        )
        .expect("write yuqing.toml");
        Site {
            dir,
            config,
            port,
            bin: bin.to_path_buf(),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .arg("--config")
            .arg(&self.config)
            .env_remove("YUQING_TOKEN")
            .env_remove("YUQING_CONFIG");
        command
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// The daemon process; killed if the caller fails before stopping it.
pub struct Daemon {
    pub child: Option<Child>,
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `yuqing run` with `env` added; its log (RUST_LOG=info) goes to a file
    /// appended across restarts.
    pub fn start(site: &Site, env: &[(&str, &str)]) -> Daemon {
        let log = site.dir.path().join("daemon.log");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("daemon log");
        let mut command = site.command();
        command
            .arg("run")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file);
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().expect("spawn yuqing run");
        Daemon {
            child: Some(child),
            log,
        }
    }

    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.log) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    /// Panics with the log if the daemon has exited.
    pub fn assert_running(&mut self, what: &str) {
        if let Some(status) = self
            .child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
        {
            panic!(
                "daemon exited ({status}) while {what}:\n{}",
                tail(&self.log())
            );
        }
    }

    /// SIGKILL, then wait.
    pub fn kill(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        child.wait().expect("wait for daemon")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The last lines of a log, for failure messages.
pub fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// The control API, as the CLI uses it.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
}

impl Api {
    /// Waits for the token file and a `status` answer.
    pub async fn connect(site: &Site, daemon: &mut Daemon) -> Api {
        let start = Instant::now();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("HTTP client");
        loop {
            daemon.assert_running("waiting for the control API");
            if let Ok(token) = std::fs::read_to_string(site.data_dir().join("api.token")) {
                let api = Api {
                    base: site.base(),
                    token: token.trim().to_string(),
                    http: http.clone(),
                };
                if api.get("/v1/status").await.is_ok() {
                    return api;
                }
            }
            assert!(
                start.elapsed() < PATIENCE,
                "the control API did not come up:\n{}",
                tail(&daemon.log())
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn get(&self, path: &str) -> Result<Value, String> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        answer(response).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        answer(response).await
    }

    /// Every incident (open and closed).
    pub async fn incidents(&self) -> Result<Vec<Value>, String> {
        let list = self.get("/v1/incidents?all=true").await?;
        Ok(list.as_array().cloned().unwrap_or_default())
    }
}

async fn answer(response: reqwest::Response) -> Result<Value, String> {
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("not JSON ({e}): {text}"))
}

/// Waits until the incident list (the API's JSON elements) satisfies `done`; returns it.
/// `what` names the wait in the failure message.
pub async fn incidents_until(
    api: &Api,
    daemon: &mut Daemon,
    what: &str,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let start = Instant::now();
    loop {
        daemon.assert_running(what);
        let incidents = api.incidents().await.unwrap_or_default();
        if done(&incidents) {
            return incidents;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{what}: not there in time\n{}",
            tail(&daemon.log())
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until at least `min` incidents exist; returns their ids.
pub async fn incident_ids(api: &Api, daemon: &mut Daemon, min: usize) -> Vec<u64> {
    incidents_until(api, daemon, "waiting for incidents", |list| {
        list.len() >= min
    })
    .await
    .iter()
    .filter_map(|i| i["id"].as_u64())
    .collect()
}
