//! A mutation fuzzer that runs on stable Rust, without coverage feedback:
//!
//! ```text
//! cargo run --release --example fuzz -- TARGET --minutes N [--seed S] [--max-len BYTES]
//! ```
//!
//! TARGET is one of `feed`, `html`, `json`, `dates`, `casualty`, `config` (see
//! `tests/fuzz/targets.rs`). The run starts from the seeds in `tests/fuzz/corpus/TARGET/`
//! and mutates them (byte flips, random bytes, insertions of tokens the target cares
//! about, truncation, deletion, splicing two inputs, repeated chunks, deep nesting).
//! An input that panics, or takes longer than its budget (a fixed part plus a part per
//! byte, in CPU time of the fuzzing thread), is saved under
//! `tests/fuzz/regressions/TARGET/`, where `cargo test --test fuzz` replays it. An input
//! still running after a minute is saved as a hang and the run stops with exit 1.

#[path = "../tests/fuzz/targets.rs"]
mod targets;

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use targets::{TARGETS, Target};

/// Per-input budget: this much CPU time, plus [`BUDGET_PER_BYTE`] per input byte.
const BUDGET_BASE: Duration = Duration::from_millis(200);
const BUDGET_PER_BYTE: Duration = Duration::from_micros(20);
/// An input running longer than this (wall time) is a hang.
const HANG: Duration = Duration::from_secs(60);
/// The pool of inputs mutated further (seeds plus recent survivors).
const POOL: usize = 512;
/// At most this many saved inputs per distinct panic location or per kind of slowness.
const SAVED_PER_CAUSE: usize = 2;

/// Tokens inserted by mutation: markup, syntax and vocabulary the targets react to.
const TOKENS: &[&str] = &[
    "<",
    ">",
    "</",
    "/>",
    "<item>",
    "</item>",
    "<entry>",
    "<title>",
    "</title>",
    "<link>",
    "<pubDate>",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    "&amp;",
    "&#",
    "&#x",
    ";",
    "<?xml ",
    "encoding=\"gbk\"",
    "<meta charset=\"gb2312\">",
    "<ul class=\"list\">",
    "<li>",
    "<a href=\"",
    "\">",
    "<span class=\"date\">",
    "<p>",
    "<div>",
    "<script>",
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"",
    "\\u",
    "\\ud800",
    "null",
    "true",
    "1e999",
    "-0",
    "99999999999999999999",
    "\"data\":",
    "\"list\":",
    "\"id\":",
    "\"title\":",
    "\"time\":",
    "=",
    "[[source]]",
    "[policy]",
    "ack = \"",
    "\"\n",
    "kind = \"html\"",
    "interval = \"",
    "天",
    "小时",
    "分钟",
    "2026-11-24",
    "年",
    "月",
    "日",
    "时",
    "分",
    "秒",
    "T",
    "Z",
    "+08:00",
    " GMT",
    "1732000000000",
    "昨天",
    "刚刚",
    "前",
    "死亡",
    "遇难",
    "受伤",
    "重伤",
    "轻伤",
    "失联",
    "人",
    "名",
    "余",
    "多",
    "十",
    "百",
    "千",
    "万",
    "两",
    "三",
    "零",
    "，",
    "。",
    "、",
    "；",
    "\u{FEFF}",
    "\u{202E}",
    "\u{0}",
    "\u{FFFD}",
    "\r\n",
    "\t",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match Options::parse(&args) {
        Ok(options) => fuzz(&options),
        Err(message) => {
            eprintln!("{message}");
            eprintln!(
                "usage: cargo run --release --example fuzz -- TARGET --minutes N [--seed S] [--max-len BYTES]"
            );
            let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
            eprintln!("targets: {}", names.join(", "));
            ExitCode::from(2)
        }
    }
}

struct Options {
    target: &'static Target,
    minutes: f64,
    seed: u64,
    max_len: usize,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let mut target = None;
        let mut minutes = None;
        let mut seed = None;
        let mut max_len = 64 * 1024;
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .ok_or_else(|| format!("{name} needs a value"))
                    .cloned()
            };
            match arg.as_str() {
                "--minutes" => {
                    let v = value("--minutes")?;
                    minutes = Some(v.parse::<f64>().map_err(|_| format!("bad --minutes {v}"))?);
                }
                "--seed" => {
                    let v = value("--seed")?;
                    seed = Some(v.parse::<u64>().map_err(|_| format!("bad --seed {v}"))?);
                }
                "--max-len" => {
                    let v = value("--max-len")?;
                    max_len = v.parse().map_err(|_| format!("bad --max-len {v}"))?;
                }
                name if target.is_none() && !name.starts_with('-') => {
                    target = Some(
                        TARGETS
                            .iter()
                            .find(|t| t.name == name)
                            .ok_or_else(|| format!("unknown target {name}"))?,
                    );
                }
                other => return Err(format!("unexpected argument {other}")),
            }
        }
        let minutes = minutes.ok_or("--minutes is required")?;
        if !(minutes > 0.0 && minutes.is_finite()) {
            return Err("--minutes must be a positive number".into());
        }
        Ok(Options {
            target: target.ok_or("a TARGET is required")?,
            minutes,
            seed: seed.unwrap_or_else(rand::random),
            max_len: max_len.max(16),
        })
    }
}

/// What the watchdog thread needs: the input in flight and whether one is running.
struct InFlight {
    input: Mutex<(Vec<u8>, Option<Instant>)>,
    done: AtomicBool,
}

fn fuzz(options: &Options) -> ExitCode {
    let target = options.target;
    let seeds = read_folder(&targets::folder("corpus", target.name));
    if seeds.is_empty() {
        eprintln!("no seeds in tests/fuzz/corpus/{}/", target.name);
        return ExitCode::FAILURE;
    }
    let saved_dir = targets::folder("regressions", target.name);
    let mut rng = StdRng::seed_from_u64(options.seed);
    let budget_unit = if thread_cpu_time().is_some() {
        "CPU"
    } else {
        "wall"
    };
    println!(
        "fuzz {}: {} seeds, seed {}, {} minutes, inputs up to {} bytes, budget {} ms + {} µs/byte ({budget_unit} time)",
        target.name,
        seeds.len(),
        options.seed,
        options.minutes,
        options.max_len,
        BUDGET_BASE.as_millis(),
        BUDGET_PER_BYTE.as_micros(),
    );

    // Quiet panics: the message is recorded with the saved input instead.
    let last_panic: Arc<Mutex<String>> = Arc::default();
    let hook_panic = last_panic.clone();
    std::panic::set_hook(Box::new(move |info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        *hook_panic.lock().unwrap_or_else(|e| e.into_inner()) = format!("{location}: {payload}");
    }));

    let in_flight = Arc::new(InFlight {
        input: Mutex::new((Vec::new(), None)),
        done: AtomicBool::new(false),
    });
    let watchdog = spawn_watchdog(in_flight.clone(), saved_dir.clone());

    let mut pool = seeds.clone();
    let mut causes: std::collections::HashMap<String, usize> = Default::default();
    let mut seen_saved = HashSet::new();
    let (mut runs, mut crashes, mut slow) = (0u64, 0u64, 0u64);
    let mut slowest = (Duration::ZERO, 0usize); // (time, length) of the slowest passing input
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(options.minutes * 60.0);
    let mut next_report = start + Duration::from_secs(60);

    while Instant::now() < end {
        let input = if runs < seeds.len() as u64 {
            seeds[runs as usize].clone()
        } else {
            mutate(&mut rng, &pool, options.max_len)
        };
        {
            let mut slot = in_flight.input.lock().unwrap_or_else(|e| e.into_inner());
            slot.0.clone_from(&input);
            slot.1 = Some(Instant::now());
        }
        let cpu_before = thread_cpu_time();
        let wall_before = Instant::now();
        let outcome = std::panic::catch_unwind(|| (target.run)(&input));
        let spent = match (cpu_before, thread_cpu_time()) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => wall_before.elapsed(),
        };
        in_flight.input.lock().unwrap_or_else(|e| e.into_inner()).1 = None;
        runs += 1;

        let budget = BUDGET_BASE + BUDGET_PER_BYTE * input.len() as u32;
        let cause = if outcome.is_err() {
            crashes += 1;
            let message = last_panic.lock().unwrap_or_else(|e| e.into_inner()).clone();
            Some(("crash", message))
        } else if spent > budget {
            slow += 1;
            Some((
                "slow",
                format!("{} ms for {} bytes", spent.as_millis(), input.len()),
            ))
        } else {
            None
        };
        if let Some((kind, message)) = cause {
            // Group by panic location (or by slowness) so one bug does not fill the folder.
            let group = format!("{kind}:{}", message.split(": ").next().unwrap_or(""));
            let count = causes.entry(group).or_default();
            if *count < SAVED_PER_CAUSE && seen_saved.insert(hash(&input)) {
                *count += 1;
                match save(&saved_dir, kind, &input) {
                    Ok(path) => println!("{kind}: {message}\n  saved {}", path.display()),
                    Err(err) => eprintln!("{kind}: {message}\n  could not save: {err}"),
                }
            }
        } else {
            if spent > slowest.0 {
                slowest = (spent, input.len());
            }
            // Survivors join the pool, so mutations stack up over time.
            if pool.len() < POOL {
                pool.push(input);
            } else {
                let slot = rng.random_range(seeds.len().min(POOL - 1)..POOL);
                pool[slot] = input;
            }
        }
        if Instant::now() >= next_report {
            next_report += Duration::from_secs(60);
            println!(
                "  {:.0} min: {runs} inputs, {crashes} crashes, {slow} slow",
                start.elapsed().as_secs_f64() / 60.0
            );
        }
    }
    in_flight.done.store(true, Ordering::Relaxed);
    let _ = watchdog.join();
    println!(
        "fuzz {} done: {:.1} minutes, {runs} inputs, {crashes} crashes, {slow} slow; slowest input {:.1} ms ({} bytes)",
        target.name,
        start.elapsed().as_secs_f64() / 60.0,
        slowest.0.as_secs_f64() * 1e3,
        slowest.1,
    );
    if crashes + slow > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Saves an input that has run longer than [`HANG`], then ends the process.
fn spawn_watchdog(
    in_flight: Arc<InFlight>,
    saved_dir: std::path::PathBuf,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !in_flight.done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_secs(1));
            let slot = in_flight.input.lock().unwrap_or_else(|e| e.into_inner());
            if let (input, Some(started)) = &*slot
                && started.elapsed() > HANG
            {
                match save(&saved_dir, "hang", input) {
                    Ok(path) => println!("hang: {} bytes, saved {}", input.len(), path.display()),
                    Err(err) => eprintln!("hang: could not save: {err}"),
                }
                std::process::exit(1);
            }
        }
    })
}

/// One mutation (sometimes several stacked) of an input from the pool.
fn mutate(rng: &mut StdRng, pool: &[Vec<u8>], max_len: usize) -> Vec<u8> {
    let mut data = pool[rng.random_range(0..pool.len())].clone();
    let rounds = 1 + rng.random_range(0..4usize);
    for _ in 0..rounds {
        let at = rng.random_range(0..=data.len());
        match rng.random_range(0..10u8) {
            0 if !data.is_empty() => {
                let i = at.min(data.len() - 1);
                data[i] ^= 1 << rng.random_range(0..8u8);
            }
            1 if !data.is_empty() => {
                let i = at.min(data.len() - 1);
                data[i] = rng.random();
            }
            2 => {
                let n = rng.random_range(1..=8usize);
                let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                data.splice(at..at, bytes);
            }
            3 | 4 => {
                let token = TOKENS[rng.random_range(0..TOKENS.len())].as_bytes();
                data.splice(at..at, token.iter().copied());
            }
            5 => data.truncate(at),
            6 if !data.is_empty() => {
                let end = (at + rng.random_range(1..=32usize)).min(data.len());
                data.drain(at.min(end)..end);
            }
            7 => {
                // Splice: our head, another input's tail.
                let other = &pool[rng.random_range(0..pool.len())];
                let from = rng.random_range(0..=other.len());
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
            8 if !data.is_empty() => {
                // Repeat a chunk many times.
                let start = at.min(data.len() - 1);
                let end = (start + rng.random_range(1..=16usize)).min(data.len());
                let chunk = data[start..end].to_vec();
                let times = rng.random_range(2..=1000usize);
                let repeated: Vec<u8> = chunk
                    .iter()
                    .copied()
                    .cycle()
                    .take(chunk.len() * times)
                    .collect();
                data.splice(end..end, repeated);
            }
            _ => {
                // Deep nesting: an opener repeated, sometimes closed again.
                let (open, close) = [
                    ("<div>", "</div>"),
                    ("[", "]"),
                    ("{\"a\":", "}"),
                    ("<a>", "</a>"),
                    ("（", "）"),
                ][rng.random_range(0..5usize)];
                let depth = rng.random_range(10..=5000usize);
                let mut nest = open.repeat(depth);
                if rng.random_bool(0.5) {
                    nest.push_str(&close.repeat(depth));
                }
                data.splice(at..at, nest.into_bytes());
            }
        }
        data.truncate(max_len);
    }
    data
}

fn read_folder(dir: &Path) -> Vec<Vec<u8>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    paths.sort();
    paths
        .into_iter()
        .filter(|p| p.is_file())
        .filter_map(|p| std::fs::read(p).ok())
        .collect()
}

fn hash(input: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    input.hash(&mut hasher);
    hasher.finish()
}

fn save(dir: &Path, kind: &str, input: &[u8]) -> std::io::Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{kind}-{:016x}", hash(input)));
    std::fs::write(&path, input)?;
    Ok(path)
}

/// CPU time used by the calling thread (Linux: `/proc/thread-self/schedstat`), so a
/// busy shared machine does not make inputs look slow.
fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = stat.split_whitespace().next()?.parse::<u64>().ok()?;
    Some(Duration::from_nanos(nanos))
}
