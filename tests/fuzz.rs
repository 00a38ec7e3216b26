//! Replays the fuzz targets' seeds and every saved crashing or slow input
//! (`tests/fuzz/regressions/TARGET/`): each must now return without panicking.
//! The fuzzer itself is `cargo run --release --example fuzz` (see docs/fuzzing.md).

#[path = "fuzz/targets.rs"]
mod targets;

use std::path::Path;

fn inputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.display().to_string(), bytes)
        })
        .collect()
}

#[test]
fn every_target_has_seeds() {
    for target in targets::TARGETS {
        let seeds = inputs(&targets::folder("corpus", target.name));
        assert!(
            !seeds.is_empty(),
            "tests/fuzz/corpus/{}/ has no seeds",
            target.name
        );
    }
}

#[test]
fn seeds_and_regressions_run_without_panic() {
    let mut replayed = 0;
    for target in targets::TARGETS {
        for kind in ["corpus", "regressions"] {
            for (name, bytes) in inputs(&targets::folder(kind, target.name)) {
                let outcome = std::panic::catch_unwind(|| (target.run)(&bytes));
                assert!(outcome.is_ok(), "{} panics on {name}", target.name);
                replayed += 1;
            }
        }
    }
    assert!(replayed >= targets::TARGETS.len(), "nothing replayed");
}
