//! `yuqing classify`: streaming, one output line per input line, bad lines reported
//! in place. Runs the real binary with the shipped configuration and dictionaries.

use assert_cmd::Command;
use serde_json::Value;

fn yuqing() -> Command {
    let mut cmd = Command::cargo_bin("yuqing").unwrap();
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("YUQING_CONFIG");
    cmd
}

const INPUT: &str = concat!(
    "{\"id\":\"a1\",\"title\":\"安丘市景芝镇一化工厂车间爆炸 致3人死亡5人受伤\",\"body\":\"事故原因正在调查。\"}\n",
    "小区旁工厂夜间偷排污水，臭味刺鼻，居民多次投诉无人管\n",
    "{\"id\": 7, \"title\": \"我市成功举办安全生产月宣传活动\"\n",
    "\n",
    "{\"id\":[1,2],\"title\":\"主队客场夺冠\",\"body\":\"\"}\n",
);

#[test]
fn json_lines_in_order_with_bad_lines_marked() {
    let out = yuqing()
        .args(["classify", "--json"])
        .write_stdin(INPUT)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("every output line is JSON"))
        .collect();
    assert_eq!(lines.len(), 5, "{stdout}");

    let first = &lines[0];
    assert_eq!(first["id"], "a1");
    assert_eq!(first["flag"], true);
    assert_eq!(first["topics"][0], "work_safety");
    assert_eq!(first["severity"], "III");
    assert_eq!(first["deaths"], 3);
    assert_eq!(first["injured"], 5);
    assert_eq!(first["seriously_injured"], Value::Null);
    assert_eq!(first["local"], true);
    assert_eq!(first["places"], serde_json::json!(["安丘市", "景芝镇"]));
    assert_eq!(first["unit"], "市应急管理局");
    assert!(first["score"].as_f64().unwrap() > 0.0);
    assert!(
        first["matches"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["topic"] == "work_safety")
    );

    // A plain text line is the body; its id is its line number.
    assert_eq!(lines[1]["id"], 2);
    assert_eq!(lines[1]["flag"], true);
    assert_eq!(lines[1]["topics"][0], "environment");

    // Truncated JSON: an error line, and the run goes on.
    assert_eq!(lines[2]["line"], 3);
    assert!(lines[2]["error"].as_str().unwrap().contains("JSON"));

    assert_eq!(lines[3]["id"], 4);
    assert_eq!(lines[3]["flag"], false);
    assert_eq!(lines[3]["severity"], Value::Null);

    assert_eq!(lines[4]["id"], serde_json::json!([1, 2]));
    assert_eq!(lines[4]["flag"], false);

    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("1 行无法解析"), "{stderr}");
}

#[test]
fn readable_lines_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("items.jsonl");
    std::fs::write(
        &file,
        "{\"id\":\"x\",\"title\":\"国道发生交通事故致2人死亡\",\"body\":\"\"}\n消防大队开展应急演练\n",
    )
    .unwrap();
    let out = yuqing()
        .arg("classify")
        .arg(&file)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let stdout = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("x\t【预警·一般】"), "{stdout}");
    assert!(
        lines[0].contains("事故灾难") && lines[0].contains("死亡2人"),
        "{stdout}"
    );
    assert!(lines[1].starts_with("2\t【未预警】"), "{stdout}");
}

#[test]
fn missing_input_file_is_a_usage_error() {
    let out = yuqing()
        .args(["classify", "/nonexistent/items.jsonl"])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8_lossy(&out).contains("无法打开输入文件"));
}
