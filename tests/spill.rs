//! A burst does not hold up polling and loses nothing (issue 16 point 2): with the
//! daemon's wiring (`Intake::spill_to_store` + `Pipeline::with_spill`) a full item
//! channel leaves the items pending in the store, and the pipeline reads them from
//! there.

use std::path::Path;
use std::sync::Arc;

use chrono::Utc;
use tokio::sync::{mpsc, watch};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use yuqing::classify::Classifier;
use yuqing::config::Config;
use yuqing::ledger::Ledger;
use yuqing::pipeline::{BACKLOG_CHUNK, Pipeline};
use yuqing::sources::{Intake, Spill};
use yuqing::store::Store;

/// A feed of `n` items: every tenth reports a death toll, the rest are routine.
fn rss(source: &str, n: usize) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>测试</title>\
         <link>http://example.org/</link><description>测试</description>\n",
    );
    for i in 0..n {
        let title = if i % 10 == 0 {
            format!("景芝镇一工地发生坍塌事故致2人死亡（{source}-{i}）")
        } else {
            format!("兴安街道召开冬季安全生产会议（{source}-{i}）")
        };
        out.push_str(&format!(
            "<item><title>{title}</title><guid>{source}-{i}</guid></item>\n"
        ));
    }
    out.push_str("</channel></rss>\n");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_channel_leaves_items_in_the_store_and_the_pipeline_handles_every_one() {
    // Two sources whose items together are more than a chunk of the backlog.
    let per_source = BACKLOG_CHUNK / 2 + 100;
    let server = MockServer::start().await;
    for id in ["a", "b"] {
        Mock::given(method("GET"))
            .and(path(format!("/{id}.xml")))
            .respond_with(
                ResponseTemplate::new(200).set_body_raw(rss(id, per_source), "application/rss+xml"),
            )
            .mount(&server)
            .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let feeds: String = ["a", "b"]
        .iter()
        .map(|id| {
            format!(
                "[[source]]\nid = \"{id}\"\nname = \"测试源 {id}\"\nkind = \"feed\"\nurl = \"{}/{id}.xml\"\ninterval = \"1m\"\n\n",
                server.uri()
            )
        })
        .collect();
    std::fs::write(dir.path().join("feeds.toml"), feeds).unwrap();
    let dictionaries = Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries");
    let config_path = dir.path().join("yuqing.toml");
    std::fs::write(
        &config_path,
        format!(
            "data_dir = \"data\"\ndictionaries = {:?}\n\n[recipients]\nduty = [\"duty@example.org\"]\n\n\
             [intake]\njitter = 0.0\nmax_items_per_poll = 5000\n",
            dictionaries.display().to_string()
        ),
    )
    .unwrap();
    let config = Arc::new(Config::load(&config_path).unwrap());
    let store = Store::open(&config.data_dir).unwrap();

    // A channel of 8 and nobody reading it yet: a waiting intake would never return.
    let (tx, items) = mpsc::channel(8);
    let intake = Intake::new(&config, store.clone(), tx).unwrap();
    let spill = Spill::default();
    intake.spill_to_store(spill.clone());
    for id in ["a", "b"] {
        let report = intake.poll_source(id, Utc::now()).await.unwrap();
        assert_eq!(report.result.unwrap().new, per_source, "{id}");
    }
    assert_eq!(store.pending_count(), 2 * per_source);
    drop(intake);

    let classifier =
        Arc::new(Classifier::load(&config.dictionaries, &config.jurisdiction).unwrap());
    let ledger = Ledger::new(store.clone(), config.clone(), Arc::default());
    let pipeline = Pipeline::new(classifier, store.clone(), ledger, &config).with_spill(spill);
    let (_stop, stopping) = watch::channel(false);
    pipeline.run(items, stopping).await;

    // Every item was classified and left the pending list; the flagged ones reached
    // the ledger.
    assert_eq!(store.pending_count(), 0);
    for id in ["a", "b"] {
        for i in 0..per_source {
            let item = store.item(id, &format!("{id}-{i}")).unwrap().unwrap();
            let class = item
                .classification
                .unwrap_or_else(|| panic!("{id}-{i} was not classified"));
            assert_eq!(class.flag, i % 10 == 0, "{id}-{i}: {class:?}");
            assert_eq!(item.incident.is_some(), i % 10 == 0, "{id}-{i}");
        }
    }
}
