#!/usr/bin/env python3
"""Python jieba on the same text as benches/classify.rs, for comparison.

    pip install jieba
    python3 benches/jieba_compare.py

Reads titles and bodies of cec-emergencies, teddy-messages and liuyan-posts from the
shared corpus (../shared/corpus, or $YUQING_CORPUS), times jieba.lcut (HMM off, as the
Rust side) over every title and body, best of 3, and prints MB/s.
"""
import json
import os
import sys
import time

try:
    import jieba
except ImportError:
    sys.exit("需要 Python jieba：pip install jieba")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def corpus_dir():
    if os.environ.get("YUQING_CORPUS"):
        return os.environ["YUQING_CORPUS"]
    for rel in ("../shared/corpus", "../../shared/corpus"):
        path = os.path.join(ROOT, rel)
        if os.path.isdir(path):
            return path
    sys.exit("语料目录不存在（../shared/corpus 或 $YUQING_CORPUS）")


def items(path):
    out = []
    for name, body in (("cec-emergencies", "body"), ("teddy-messages", "body"),
                       ("liuyan-posts", "content")):
        with open(os.path.join(path, name + ".jsonl"), encoding="utf-8") as f:
            for line in f:
                try:
                    v = json.loads(line)
                except ValueError:
                    continue
                out.append((v.get("title") or "", v.get(body) or ""))
    return out


def main():
    texts = items(corpus_dir())
    size = sum(len(t.encode()) + len(b.encode()) for t, b in texts)
    jieba.setLogLevel(60)
    start = time.perf_counter()
    jieba.initialize()
    print(f"jieba initialize: {(time.perf_counter() - start) * 1e3:.0f} ms")
    best = None
    for _ in range(3):
        start = time.perf_counter()
        tokens = 0
        for title, body in texts:
            tokens += len(jieba.lcut(title, HMM=False)) + len(jieba.lcut(body, HMM=False))
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    print(f"corpus: {len(texts)} items, {size / 1e6:.2f} MB")
    print(f"python jieba.lcut (HMM off): {size / 1e6 / best:.2f} MB/s ({best * 1e3:.0f} ms, {tokens} tokens)")


if __name__ == "__main__":
    main()
