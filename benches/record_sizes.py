#!/usr/bin/env python3
"""Bytes of an item record's text compressed with zstd (level 2, as src/store/record.rs
writes records), in UTF-8 and in GB18030: is the GB18030 conversion still worth its
CPU now that records are zstd-compressed? (docs/performance.md, "Load", round 7.)

    python3 benches/record_sizes.py [N]

Each text (title, NUL, body) is compressed alone, as one record is, with the `zstd`
command. Two sets:
- the ingest bench's routine items (benches/ingest.rs `parsed`, ported: its sentences
  and towns are read from that file), one in 20;
- the first N (default 800) items of the inews tuning set (ids from
  tests/eval/inews-tune.jsonl, texts from the installed package's train split through
  tests/eval/inews.py; never the test sets).
"""

import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "eval"))


def zstd_len(data):
    out = subprocess.run(
        ["zstd", "-2", "-q", "-c", "--no-check"], input=data, capture_output=True, check=True
    )
    return len(out.stdout)


def measure(name, texts):
    utf8 = gb = n = 0
    for text in texts:
        raw = text.encode("utf-8")
        try:
            other = text.encode("gb18030")
        except UnicodeEncodeError:
            other = raw
        utf8 += zstd_len(raw)
        gb += zstd_len(other)
        n += 1
    print(
        f"{name}: {n} items; zstd -2: UTF-8 {utf8 / n:.0f} B, GB18030 {gb / n:.0f} B; "
        f"UTF-8 costs {(utf8 - gb) / n:+.0f} B a record ({100 * (utf8 - gb) / gb:+.1f} %)"
    )


def bench_items():
    src = open(os.path.join(ROOT, "benches", "ingest.rs"), encoding="utf-8").read()
    towns_at = src.index("const TOWNS")
    towns = re.findall(r'"([^"]+)"', src[towns_at : src.index("\n", towns_at)])
    sentences_at = src.index("const SENTENCES")
    sentences = re.findall(r'"((?:[^"\\]|\\.)*)",', src[sentences_at : src.index("];", sentences_at)])
    sentences = [s.replace('\\"', '"') for s in sentences]
    for source in range(0, 1000, 5):
        for n in range(0, 20, 4):
            body = ""
            target = 500 + (source * 31 + n * 17) % 200
            first = source + n * 3
            for i in range(first, first + len(sentences)):
                if len(body) >= target:
                    break
                body += sentences[i % len(sentences)]
            head = sentences[(source + n) % len(sentences)][5:23]
            yield f"{towns[(source + n) % len(towns)]}{head}{n}\0{body}"


def tuning_items(count):
    import inews

    titles, contents = inews.load_train()
    path = os.path.join(ROOT, "tests", "eval", "inews-tune.jsonl")
    with open(path, encoding="utf-8") as fp:
        ids = [int(json.loads(line)["id"].split("-")[1]) for line in fp][:count]
    return [titles[i] + "\0" + contents[i] for i in ids]


if __name__ == "__main__":
    measure("ingest bench, routine items", bench_items())
    measure("inews tuning items", tuning_items(int(sys.argv[1]) if len(sys.argv) > 1 else 800))
