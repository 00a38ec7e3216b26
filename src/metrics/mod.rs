//! Prometheus metrics (`[metrics] bind`, off by default): counters and histograms fed
//! at the stage boundaries (intake, pipeline, delivery workers) into [`METRICS`], and
//! gauges read from the store when `/metrics` is scraped. The text exposition format
//! (version 0.0.4) is written here ([`render`], pure); every metric is documented in
//! docs/metrics.md.
//!
//! Rules: names start with `yuqing_`, counters end in `_total`, durations are
//! `_seconds` histograms; label values are source ids, levels (`I` … `IV`, `watch`),
//! milestones (`ack`, `statement`, `press`, `response`) and channels (`mail` or a
//! `[[channel]]` name), so the number of series is bounded by the configuration.
//! Counters start at zero when the daemon starts (Prometheus' `rate` handles resets).

mod serve;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

pub use serve::{MetricsError, serve};

/// Upper bounds of the poll-duration buckets, in seconds (a poll includes storing).
const POLL_BUCKETS: &[f64] = &[0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// Upper bounds of the classification-time buckets, in seconds.
const CLASSIFY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5];

/// The channel label of mail.
pub const MAIL: &str = "mail";

/// The daemon's counters and histograms.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::default);

#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Counters>,
}

/// Everything counted since the start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    pub ingested: BTreeMap<String, u64>,
    pub flagged: BTreeMap<String, u64>,
    pub poll_failures: BTreeMap<String, u64>,
    pub poll_seconds: BTreeMap<String, Histogram>,
    pub classify_seconds: Histogram,
    pub sent: BTreeMap<String, u64>,
    pub failed: BTreeMap<String, u64>,
}

/// A histogram: counts per bucket (not cumulative), sum and count.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new(CLASSIFY_BUCKETS)
    }
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, seconds: f64) {
        if let Some(i) = self.bounds.iter().position(|b| seconds <= *b) {
            self.counts[i] += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }
}

impl Metrics {
    fn with(&self, f: impl FnOnce(&mut Counters)) {
        // A panic elsewhere while counting leaves the counters usable.
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut inner);
    }

    /// A poll of `source` ended: `Some(new items)` on success, `None` on failure.
    pub fn polled(&self, source: &str, took: Duration, new: Option<usize>) {
        self.with(|c| {
            c.poll_seconds
                .entry(source.to_string())
                .or_insert_with(|| Histogram::new(POLL_BUCKETS))
                .observe(took.as_secs_f64());
            match new {
                Some(n) => *c.ingested.entry(source.to_string()).or_default() += n as u64,
                None => *c.poll_failures.entry(source.to_string()).or_default() += 1,
            }
        });
    }

    /// An item of `source` was classified in `took`.
    pub fn classified(&self, source: &str, took: Duration, flagged: bool) {
        self.with(|c| {
            c.classify_seconds.observe(took.as_secs_f64());
            if flagged {
                *c.flagged.entry(source.to_string()).or_default() += 1;
            }
        });
    }

    /// A delivery attempt to `channel` (`None`: mail) ended.
    pub fn delivered(&self, channel: Option<&str>, ok: bool) {
        let channel = channel.unwrap_or(MAIL).to_string();
        self.with(|c| {
            let counter = if ok { &mut c.sent } else { &mut c.failed };
            *counter.entry(channel).or_default() += 1;
        });
    }

    pub fn snapshot(&self) -> Counters {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The values read from the store at scrape time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gauges {
    /// Every enabled source, configured order: whether its last poll succeeded.
    pub sources: Vec<(String, bool)>,
    /// Open incidents by level (every level present).
    pub open_by_level: Vec<(&'static str, u64)>,
    /// Overdue unmet deadlines of open incidents by milestone (every milestone present).
    pub overdue_by_milestone: Vec<(&'static str, u64)>,
    /// Queued notices by channel (`mail` and every configured channel).
    pub queued: Vec<(String, u64)>,
    /// Items stored but not yet through the pipeline.
    pub backlog: u64,
    /// The last retention sweep: when it finished (Unix seconds) and how many routine
    /// items it removed; `None` before the first sweep.
    pub last_sweep: Option<(f64, u64)>,
}

/// The exposition text of `counters` and `gauges`.
pub fn render(counters: &Counters, gauges: &Gauges) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "yuqing_build_info",
        "gauge",
        "Build information; always 1.",
    );
    sample(
        &mut out,
        "yuqing_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );

    let sources: Vec<&str> = gauges.sources.iter().map(|(s, _)| s.as_str()).collect();
    counter_family(
        &mut out,
        "yuqing_items_ingested_total",
        "New items stored, by source.",
        "source",
        &sources,
        &counters.ingested,
    );
    counter_family(
        &mut out,
        "yuqing_items_flagged_total",
        "Items the classifier flagged, by source.",
        "source",
        &sources,
        &counters.flagged,
    );
    counter_family(
        &mut out,
        "yuqing_poll_failures_total",
        "Failed polls, by source.",
        "source",
        &sources,
        &counters.poll_failures,
    );
    family(
        &mut out,
        "yuqing_poll_duration_seconds",
        "histogram",
        "Time of one poll (fetch, parse, store), by source.",
    );
    for source in &sources {
        let empty = Histogram::new(POLL_BUCKETS);
        let histogram = counters.poll_seconds.get(*source).unwrap_or(&empty);
        histogram_samples(
            &mut out,
            "yuqing_poll_duration_seconds",
            &[("source", source)],
            histogram,
        );
    }
    gauge_family(
        &mut out,
        "yuqing_source_up",
        "1 if the source's last poll succeeded, 0 if it failed or it was not polled yet.",
        "source",
        gauges
            .sources
            .iter()
            .map(|(source, up)| (source.as_str(), u64::from(*up))),
    );
    gauge_family(
        &mut out,
        "yuqing_incidents_open",
        "Open incidents, by level.",
        "level",
        gauges.open_by_level.iter().copied(),
    );
    gauge_family(
        &mut out,
        "yuqing_deadlines_overdue",
        "Unmet deadlines past due of open incidents, by milestone.",
        "milestone",
        gauges.overdue_by_milestone.iter().copied(),
    );
    gauge_family(
        &mut out,
        "yuqing_notices_queued",
        "Notices waiting in the outbox, by channel (mail or a [[channel]] name).",
        "channel",
        gauges.queued.iter().map(|(c, n)| (c.as_str(), *n)),
    );
    let channels: Vec<&str> = gauges.queued.iter().map(|(c, _)| c.as_str()).collect();
    counter_family(
        &mut out,
        "yuqing_notices_sent_total",
        "Notices delivered, by channel.",
        "channel",
        &channels,
        &counters.sent,
    );
    counter_family(
        &mut out,
        "yuqing_notices_failed_total",
        "Failed delivery attempts (each retry counts), by channel.",
        "channel",
        &channels,
        &counters.failed,
    );

    family(
        &mut out,
        "yuqing_pipeline_backlog_items",
        "gauge",
        "Items stored but not yet classified and handed to the ledger.",
    );
    sample(
        &mut out,
        "yuqing_pipeline_backlog_items",
        &[],
        gauges.backlog as f64,
    );
    family(
        &mut out,
        "yuqing_classification_duration_seconds",
        "histogram",
        "Time to classify one item.",
    );
    histogram_samples(
        &mut out,
        "yuqing_classification_duration_seconds",
        &[],
        &counters.classify_seconds,
    );
    let (swept_at, removed) = gauges.last_sweep.unwrap_or_default();
    family(
        &mut out,
        "yuqing_retention_last_sweep_timestamp_seconds",
        "gauge",
        "When the last retention sweep finished (Unix time); 0 before the first sweep.",
    );
    sample(
        &mut out,
        "yuqing_retention_last_sweep_timestamp_seconds",
        &[],
        swept_at,
    );
    family(
        &mut out,
        "yuqing_retention_last_sweep_removed_items",
        "gauge",
        "Routine items the last retention sweep removed.",
    );
    sample(
        &mut out,
        "yuqing_retention_last_sweep_removed_items",
        &[],
        removed as f64,
    );
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A gauge with one series per `(label value, value)`.
fn gauge_family<'a>(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    values: impl Iterator<Item = (&'a str, u64)>,
) {
    family(out, name, "gauge", help);
    for (key, value) in values {
        sample(out, name, &[(label, key)], value as f64);
    }
}

/// A counter with one series per `keys` (zero when not counted yet) and per
/// counted key beyond them (a source removed from the configuration since).
fn counter_family(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    keys: &[&str],
    values: &BTreeMap<String, u64>,
) {
    family(out, name, "counter", help);
    let extra = values
        .keys()
        .map(String::as_str)
        .filter(|k| !keys.contains(k));
    for key in keys.iter().copied().chain(extra) {
        let value = values.get(key).copied().unwrap_or(0);
        sample(out, name, &[(label, key)], value as f64);
    }
}

fn histogram_samples(out: &mut String, name: &str, labels: &[(&str, &str)], h: &Histogram) {
    let mut cumulative = 0;
    for (bound, count) in h.bounds.iter().zip(&h.counts) {
        cumulative += count;
        let le = bound.to_string();
        let mut with_le = labels.to_vec();
        with_le.push(("le", &le));
        sample(out, &format!("{name}_bucket"), &with_le, cumulative as f64);
    }
    let mut with_le = labels.to_vec();
    with_le.push(("le", "+Inf"));
    sample(out, &format!("{name}_bucket"), &with_le, h.count as f64);
    sample(out, &format!("{name}_sum"), labels, h.sum);
    sample(out, &format!("{name}_count"), labels, h.count as f64);
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (key, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{key}=\"{}\"", escape(value));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// A label value as the text format wants it: `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format_is_written_as_prometheus_reads_it() {
        let metrics = Metrics::default();
        metrics.polled("news", Duration::from_millis(300), Some(3));
        metrics.polled("news", Duration::from_secs(90), None);
        metrics.classified("news", Duration::from_micros(700), true);
        metrics.delivered(None, true);
        metrics.delivered(Some("duty-ding"), false);
        let gauges = Gauges {
            sources: vec![("news".into(), false), ("a\"b\\c".into(), true)],
            open_by_level: vec![("I", 0), ("II", 2)],
            overdue_by_milestone: vec![("ack", 1)],
            queued: vec![("mail".into(), 4), ("duty-ding".into(), 1)],
            backlog: 7,
            last_sweep: Some((1_764_979_200.5, 12)),
        };
        let text = render(&metrics.snapshot(), &gauges);
        for line in [
            "# TYPE yuqing_items_ingested_total counter",
            "yuqing_items_ingested_total{source=\"news\"} 3",
            "yuqing_items_ingested_total{source=\"a\\\"b\\\\c\"} 0",
            "yuqing_poll_failures_total{source=\"news\"} 1",
            "yuqing_items_flagged_total{source=\"news\"} 1",
            "yuqing_poll_duration_seconds_bucket{source=\"news\",le=\"0.25\"} 0",
            "yuqing_poll_duration_seconds_bucket{source=\"news\",le=\"0.5\"} 1",
            "yuqing_poll_duration_seconds_bucket{source=\"news\",le=\"60\"} 1",
            "yuqing_poll_duration_seconds_bucket{source=\"news\",le=\"+Inf\"} 2",
            "yuqing_poll_duration_seconds_count{source=\"news\"} 2",
            "yuqing_source_up{source=\"news\"} 0",
            "yuqing_incidents_open{level=\"II\"} 2",
            "yuqing_deadlines_overdue{milestone=\"ack\"} 1",
            "yuqing_notices_queued{channel=\"mail\"} 4",
            "yuqing_notices_sent_total{channel=\"mail\"} 1",
            "yuqing_notices_sent_total{channel=\"duty-ding\"} 0",
            "yuqing_notices_failed_total{channel=\"duty-ding\"} 1",
            "yuqing_pipeline_backlog_items 7",
            "yuqing_classification_duration_seconds_bucket{le=\"0.001\"} 1",
            "yuqing_classification_duration_seconds_count 1",
            "yuqing_retention_last_sweep_timestamp_seconds 1764979200.5",
            "yuqing_retention_last_sweep_removed_items 12",
            "yuqing_build_info{version=\"",
        ] {
            assert!(text.contains(line), "{line} missing in:\n{text}");
        }
        assert!(text.ends_with('\n'));
    }
}
