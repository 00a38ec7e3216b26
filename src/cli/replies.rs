//! `yuqing replies [--all] [--json]`: board posts tracked for a reply (`GET /v1/replies`).

use super::incidents::{block_on, connect, emit};
use super::{CliError, ListArgs};
use crate::api::replies::ReplyView;
use crate::config::Config;
use crate::format;
use crate::time;

pub fn run(config: &Config, args: &ListArgs) -> Result<(), CliError> {
    let client = connect(config)?;
    let query = if args.all { "?all=true" } else { "" };
    let posts: Vec<ReplyView> = block_on(client.get_json(&format!("/v1/replies{query}")))??;
    if args.json {
        let mut text = serde_json::to_string_pretty(&posts).unwrap_or_default();
        text.push('\n');
        return emit(&text);
    }
    emit(&table(&posts, args.all))
}

/// The text listing: state, due time, board, title (with the link below).
fn table(posts: &[ReplyView], all: bool) -> String {
    if posts.is_empty() {
        return if all {
            "没有跟踪中的留言（需要在 feeds.toml 的留言板上设置 reply_status）。\n".into()
        } else {
            "没有待答复的留言。\n".into()
        };
    }
    let mut out = format!(
        "{}{}{}标题\n",
        format::pad("状态", 8),
        format::pad("答复期限", 18),
        format::pad("留言板", 16)
    );
    for post in posts {
        out.push_str(&format!(
            "{}{}{}{}\n",
            format::pad(post.state.chinese(), 8),
            format::pad(&time::local(post.due_at), 18),
            format::pad(&post.source, 16),
            format::title(&post.title)
        ));
        if let Some(url) = &post.url {
            out.push_str(&format!("{}{url}\n", " ".repeat(42)));
        }
    }
    out
}
