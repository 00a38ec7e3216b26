//! `yuqing demo` end to end: the real binary serves its sources on 127.0.0.1 (an RSS
//! feed, the official feed, a JSON board and a GBK board), runs its own SMTP server,
//! runs the daemon with the compressed policy and `[smtp]` pointing at that server,
//! acts through the control API and exits 0 by itself. The narration tells the story
//! in order, and the mail folder holds what the SMTP server received, numbered in
//! arrival order, with the daemon's headers.

use std::process::Command;

use mail_parser::MessageParser;

/// The narration's milestones, in the order they must be told.
const STORY: [&str; 8] = [
    "台账立案：事件 #1「安丘市景芝镇一烟花爆竹仓库发生爆炸",
    "✉ 告警邮件：事件 #1 立案通知",
    "值班员通过控制接口签收事件 #1",
    "识别为事件 #1 的官方回应 1：《关于景芝镇烟花爆竹仓库爆炸事故的情况通报》，完成节点：发布权威信息",
    "效果评估（窗口 1m）：平息",
    "计为超期答复",
    "按时答复率 66.7%",
    "✉ 舆情日报邮件",
];

#[test]
fn the_demo_tells_the_story_in_order_and_its_smtp_server_keeps_the_mails() {
    let dir = tempfile::tempdir().expect("temp dir");
    let site = dir.path().join("demo");
    let out = Command::new(assert_cmd::cargo::cargo_bin("yuqing"))
        .arg("demo")
        .arg("--dir")
        .arg(&site)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("YUQING_TOKEN")
        .env_remove("YUQING_API")
        .env_remove("YUQING_CONFIG")
        .output()
        .expect("run yuqing demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{stderr}",
        out.status
    );

    let mut from = 0;
    for said in STORY {
        let at = stdout[from..]
            .find(said)
            .unwrap_or_else(|| panic!("the narration lacks {said:?} after byte {from}:\n{stdout}"));
        from += at + said.len();
    }
    // The board answers the late post only after its overdue notice.
    let overdue = stdout.find("✉ 留言超期邮件：demo-board 留言 25489103");
    let answered = stdout.find("超期之后，领导留言板才答复留言「景芝镇驻地主街路灯多日不亮");
    assert!(
        overdue.is_some() && answered.is_some() && overdue < answered,
        "the overdue notice, then the late answer:\n{stdout}"
    );
    let mail = site.join("mail");
    assert!(
        stdout.contains(&format!("存在 {} 下", mail.display())),
        "the narration says where the mails are:\n{stdout}"
    );

    // Every file is one mail the SMTP server received: numbered 01, 02, … in arrival
    // order, named by its notice key, with the daemon's headers.
    let mut files: Vec<String> = std::fs::read_dir(&mail)
        .expect("the mail folder")
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert!(
        stdout.contains(&format!("邮件服务器共收到 {} 封邮件", files.len())),
        "{files:?}\n{stdout}"
    );
    let mut keys = Vec::new();
    for (n, file) in files.iter().enumerate() {
        assert!(
            file.starts_with(&format!("{:02}-", n + 1)) && file.ends_with(".eml"),
            "{file} is not mail number {}: {files:?}",
            n + 1
        );
        let raw = std::fs::read(mail.join(file)).unwrap();
        let message = MessageParser::default()
            .parse(&raw)
            .unwrap_or_else(|| panic!("{file} parses as a mail"));
        let header = |name: &str| {
            message
                .header_raw(name)
                .map(|v| v.trim().to_string())
                .unwrap_or_else(|| panic!("{file} has no {name} header"))
        };
        assert!(header("From").contains("yuqing@demo.invalid"), "{file}");
        assert!(!header("Date").is_empty(), "{file}");
        assert!(message.subject().is_some_and(|s| !s.is_empty()), "{file}");
        let key = header("X-Yuqing-Notice");
        assert!(
            file.ends_with(&format!("-{}.eml", key.replace('/', "."))),
            "{file} is named by its key {key}"
        );
        keys.push((key, message.subject().unwrap_or_default().to_string()));
    }
    let subject = |wanted: &str| {
        keys.iter()
            .find(|(key, _)| key == wanted)
            .map(|(_, subject)| subject.as_str())
            .unwrap_or_else(|| panic!("no mail {wanted}: {keys:?}"))
    };
    assert!(subject("1/opened").contains("安丘市景芝镇一烟花爆竹仓库发生爆炸"));
    for key in ["1/ack/50", "1/ack/80", "1/statement/50", "1/responses/1"] {
        subject(key);
    }
    assert!(
        subject("reply/demo-board/25489103/overdue/1").contains("景芝镇驻地主街路灯多日不亮"),
        "{keys:?}"
    );
    assert!(
        keys.iter()
            .any(|(key, subject)| key.starts_with("digest/") && subject.contains("舆情日报")),
        "{keys:?}"
    );
}
