//! Rule tables for the classifier, against the shipped `dictionaries/`.

use std::path::Path;
use std::sync::LazyLock;

use super::*;
use crate::model::Level;

static CLASSIFIER: LazyLock<Classifier> = LazyLock::new(|| {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries");
    Classifier::load(&dir, &Jurisdiction::default()).expect("shipped dictionaries load")
});

fn classify(title: &str, body: &str) -> Classification {
    CLASSIFIER.classify(title, body, false)
}

#[test]
fn probe() {
    for s in [
        "这是一条爆炸性新闻",
        "全市交通事故死亡率下降",
        "开展防火灾宣传",
        "拆迁安置房交付仪式",
        "安丘市景芝镇发生火灾",
        "西安丘陵地带",
        "工地老板拖欠农民工工资三个月",
        "游客在河中溺亡",
    ] {
        eprintln!("{:?}", CLASSIFIER.segment(s));
    }
}
