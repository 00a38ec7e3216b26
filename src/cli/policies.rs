//! `yuqing policies [--all] [--json]`: documents whose working-day clock runs (政策解读 …,
//! `GET /v1/policies`).

use super::incidents::{block_on, connect, emit};
use super::{CliError, PoliciesArgs};
use crate::api::policies::DocumentView;
use crate::config::Config;
use crate::format;
use crate::policies::DocumentState;
use crate::time;

pub fn run(config: &Config, args: &PoliciesArgs) -> Result<(), CliError> {
    let client = connect(config)?;
    let query = if args.all { "?all=true" } else { "" };
    let docs: Vec<DocumentView> = block_on(client.get_json(&format!("/v1/policies{query}")))??;
    if args.json {
        let mut text = serde_json::to_string_pretty(&docs).unwrap_or_default();
        text.push('\n');
        return emit(&text);
    }
    emit(&table(&docs, args.all))
}

fn state(state: DocumentState) -> &'static str {
    match state {
        DocumentState::Pending => "待发布",
        DocumentState::Met => "已发布",
        DocumentState::Overdue => "已超期",
        DocumentState::Backfilled => "首次轮询前",
    }
}

/// The text listing: state, clock, due time, title (文号, link and answer below).
fn table(docs: &[DocumentView], all: bool) -> String {
    if docs.is_empty() {
        return if all {
            "没有计时中的文件（政策文件来源须在 feeds.toml 中设 role = \"policy\"；文件时限见 yuqing.toml 的 [policy] interpretation 和 [[document_clock]]）。\n".into()
        } else {
            "没有待发布解读等材料的文件。\n".into()
        };
    }
    let mut out = format!(
        "{}{}{}标题\n",
        format::pad("状态", 12),
        format::pad("时限", 14),
        format::pad("期限", 18),
    );
    let indent = " ".repeat(44);
    for view in docs {
        let doc = &view.document;
        out.push_str(&format!(
            "{}{}{}{}\n",
            format::pad(state(view.state), 12),
            format::pad(&view.clock_name, 14),
            format::pad(&time::local(doc.due_at), 18),
            format::title(&doc.title)
        ));
        if let Some(no) = &doc.doc_no {
            out.push_str(&format!("{indent}文号：{no}\n"));
        }
        if let Some(url) = &doc.url {
            out.push_str(&format!("{indent}{url}\n"));
        }
        if let (Some(by), Some(at)) = (&doc.met_by, doc.met_at) {
            out.push_str(&format!(
                "{indent}{} 发布：{}\n",
                time::local(at),
                format::title(&by.title)
            ));
        }
    }
    out
}
