//! `yuqing demo` end to end: the real binary serves its sources on 127.0.0.1, runs the
//! daemon with the compressed policy, acts through the control API and exits 0 by
//! itself; the mail folder under `--dir` holds the alert and the recognition mail, and
//! the narration names the incident.

use std::process::Command;

#[test]
fn the_demo_runs_to_the_end_and_leaves_its_mails() {
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

    let mail = site.join("mail");
    for (file, header) in [
        ("1.opened.eml", "X-Yuqing-Notice: 1/opened"),
        ("1.responses.1.eml", "X-Yuqing-Notice: 1/responses/1"),
    ] {
        let text = std::fs::read_to_string(mail.join(file))
            .unwrap_or_else(|e| panic!("{file} in {}: {e}\n{stdout}", mail.display()));
        assert!(text.contains(header), "{file}:\n{text}");
    }
    for said in [
        "台账立案：事件 #1「安丘市景芝镇一烟花爆竹仓库发生爆炸",
        "值班员通过控制接口签收事件 #1",
        "识别为事件 #1 的官方回应 1",
        "完成节点：发布权威信息",
        "效果评估",
        "演示结束",
        &mail.display().to_string(),
    ] {
        assert!(
            stdout.contains(said),
            "the narration lacks {said:?}:\n{stdout}"
        );
    }
}
