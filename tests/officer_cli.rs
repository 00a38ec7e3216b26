//! A duty officer's machine: the binary run from an empty folder with no
//! configuration. Commands that only talk to the daemon need nothing but
//! `YUQING_API` and `YUQING_TOKEN`; `classify` needs only the dictionaries; every
//! mistake is reported in Chinese (clap, toml/serde and OS errors included).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_yuqing");

/// The binary in `dir`, with none of the environment a developer may have set.
fn yuqing(dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .current_dir(dir)
        .env_remove("YUQING_TOKEN")
        .env_remove("YUQING_API")
        .env_remove("YUQING_CONFIG");
    command
}

fn out(command: &mut Command) -> (i32, String, String) {
    let out = command.output().expect("run yuqing");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// No English left in a Chinese error line.
fn assert_chinese(stderr: &str) {
    assert!(stderr.starts_with("错误："), "{stderr}");
    for english in [
        "error:",
        "os error",
        "No such file",
        "unexpected argument",
        "Usage:",
    ] {
        assert!(!stderr.contains(english), "English in: {stderr}");
    }
}

/// A daemon in its own folder, on a free port; killed on drop.
struct Daemon {
    child: Child,
    _dir: tempfile::TempDir,
    api: String,
    token: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn daemon() -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(dir.path().join("feeds.toml"), "").unwrap();
    std::fs::write(
        dir.path().join("yuqing.toml"),
        format!(
            "dictionaries = '{}'\n[api]\nbind = \"127.0.0.1:{port}\"\n",
            concat!(env!("CARGO_MANIFEST_DIR"), "/dictionaries")
        ),
    )
    .unwrap();
    let child = yuqing(dir.path())
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let token_file = dir.path().join("data/api.token");
    let mut daemon = Daemon {
        child,
        _dir: dir,
        api: format!("127.0.0.1:{port}"),
        token: String::new(),
    };
    for _ in 0..600 {
        let listening = std::net::TcpStream::connect(&daemon.api).is_ok();
        if let Ok(token) = std::fs::read_to_string(&token_file)
            && listening
        {
            daemon.token = token.trim().to_string();
            return daemon;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the daemon did not start within 60 s");
}

#[test]
fn daemon_commands_need_only_yuqing_api_and_yuqing_token() {
    let daemon = daemon();
    let empty = tempfile::tempdir().unwrap();
    for args in [&["list", "--json"][..], &["status"], &["export"]] {
        let (code, stdout, stderr) = out(yuqing(empty.path())
            .args(args)
            .env("YUQING_API", &daemon.api)
            .env("YUQING_TOKEN", &daemon.token));
        assert_eq!(code, 0, "{args:?}: {stderr}");
        if args[0] == "export" {
            // What to pass as the next incremental backup's --since, and nothing else.
            assert!(
                stderr.starts_with("导出完成（全量备份）。下次增量备份："),
                "{stderr}"
            );
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
        } else {
            assert!(stderr.is_empty(), "{args:?}: {stderr}");
        }
        if args[0] == "list" {
            assert_eq!(stdout.trim(), "[]", "{stdout}");
        }
    }
    // A hostname works too.
    let port = daemon.api.rsplit(':').next().unwrap();
    let (code, _, stderr) = out(yuqing(empty.path())
        .arg("status")
        .env("YUQING_API", format!("localhost:{port}"))
        .env("YUQING_TOKEN", &daemon.token));
    assert_eq!(code, 0, "{stderr}");
    assert!(!empty.path().join("data").exists(), "nothing written");
}

#[test]
fn daemon_commands_without_a_daemon_or_with_a_bad_address() {
    let empty = tempfile::tempdir().unwrap();
    // No config, no token: exit 3 (daemon not reachable), not a config error about feeds.toml.
    let (code, _, stderr) = out(yuqing(empty.path()).arg("list"));
    assert_eq!(code, 3, "{stderr}");
    assert!(!stderr.contains("feeds.toml"), "{stderr}");
    assert_chinese(&stderr);
    let (code, _, stderr) = out(yuqing(empty.path()).arg("list").env("YUQING_API", "nohost"));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("YUQING_API"), "{stderr}");
    assert_chinese(&stderr);
}

#[test]
fn classify_needs_only_the_dictionaries() {
    let empty = tempfile::tempdir().unwrap();
    let (code, _, stderr) = out(yuqing(empty.path()).arg("classify").stdin(Stdio::null()));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("词典目录"), "{stderr}");
    assert!(!stderr.contains("feeds.toml"), "{stderr}");
    assert_chinese(&stderr);

    // A config naming the dictionaries, and no feeds.toml beside it.
    std::fs::write(
        empty.path().join("yuqing.toml"),
        format!(
            "dictionaries = '{}'\n",
            concat!(env!("CARGO_MANIFEST_DIR"), "/dictionaries")
        ),
    )
    .unwrap();
    let mut child = yuqing(empty.path())
        .args(["classify", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        "安丘市一化工厂发生爆炸 造成3人死亡\n".as_bytes(),
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    let line: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(line["flag"], true, "{stdout}");
}

#[test]
fn usage_config_and_os_errors_are_chinese() {
    let empty = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 6] = [
        (
            &["list", "--bogus"],
            "无法识别的参数“--bogus”；用法见 yuqing list --help",
        ),
        (&["lst"], "没有“lst”这个命令"),
        (&["digest", "--format", "pdf"], "可选值：text、html、json"),
        (&["show", "abc"], "参数 <编号> 的取值“abc”格式不对"),
        (&["ack", "1"], "缺少必需的参数：--by"),
        (
            &["--config", "nope.toml", "list"],
            "无法读取配置文件 nope.toml：文件或目录不存在",
        ),
    ];
    for (args, needle) in cases {
        let (code, stdout, stderr) = out(yuqing(empty.path()).args(args));
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert_chinese(&stderr);
    }
    std::fs::write(empty.path().join("yuqing.toml"), "[policy]\nfoo = \"1h\"\n").unwrap();
    let (code, _, stderr) = out(yuqing(empty.path()).arg("list"));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("[policy] 未知的键“foo”；可用的键：ack、"),
        "{stderr}"
    );
    assert!(!stderr.contains("expected"), "{stderr}");

    // Help stays clap's layout, with Chinese headings and texts.
    let (code, stdout, _) = out(yuqing(empty.path()).arg("--help"));
    assert_eq!(code, 0);
    for needle in ["舆情监测守护进程", "用法：", "命令:", "显示帮助"] {
        assert!(stdout.contains(needle), "{needle}: {stdout}");
    }
    assert!(!stdout.contains("Print help"), "{stdout}");
}
