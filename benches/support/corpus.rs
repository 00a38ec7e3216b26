//! The classification bench's corpus items (`benches/classify.rs`), shared with the
//! classification profile (`examples/classify_prof.rs`).

use std::path::Path;

use serde_json::Value;

/// (title, body) of every item of the three sets.
pub fn items(dir: &Path) -> std::io::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (set, body) in [
        ("cec-emergencies", "body"),
        ("teddy-messages", "body"),
        ("liuyan-posts", "content"),
    ] {
        let text = std::fs::read_to_string(dir.join(format!("{set}.jsonl")))?;
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            out.push((field("title"), field(body)));
        }
    }
    Ok(out)
}
