#!/usr/bin/env python3
"""Check tests/eval/labels.jsonl: valid JSON, required keys and types, topic ids from
../shared/corpus taxonomy (parsed from taxonomy.md), no duplicate (set, id), ids present
in the corpus, flag/topics consistency. Prints counts. Exit status 1 on any error.

Usage: validate.py [FILE]   (default labels.jsonl; a path or a name in tests/eval/)
Any other file, such as holdout.jsonl, is also checked to share no (set, id) with
labels.jsonl, so that held-out items never leak into the development set."""
import collections
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sample  # noqa: E402

SHARED = os.path.dirname(sample.CORPUS.rstrip("/"))
KEYS = {"set", "id", "flag", "topics", "deaths", "injured", "seriously_injured", "note"}


def taxonomy_ids():
    with open(os.path.join(SHARED, "taxonomy.md"), encoding="utf-8") as f:
        return set(re.findall(r"^\| ([a-z_]+) \|", f.read(), re.M)) - {"id", "level"}


def corpus_ids():
    ids = {}
    for s, name in [("cec-emergencies", "cec-emergencies.jsonl"),
                    ("teddy-messages", "teddy-messages.jsonl"),
                    ("liuyan-posts", "liuyan-posts.jsonl")]:
        ids[s] = {r["id"] for r in sample.load(name)}
    ids["chinanews-rss"] = {r["id"] for r in sample.rss_items()}
    return ids


def keys_of(path):
    with open(path, encoding="utf-8") as f:
        return {(o["set"], o["id"]) for o in map(json.loads, f)}


def main():
    dev = os.path.join(HERE, "labels.jsonl")
    path = sys.argv[1] if len(sys.argv) > 1 else dev
    if not os.path.exists(path):
        path = os.path.join(HERE, path)
    if not os.path.exists(path):
        sys.exit(f"ERROR no such file: {sys.argv[1]}")
    dev_keys = set() if os.path.samefile(path, dev) else keys_of(dev)
    topics_ok = taxonomy_ids()
    assert len(topics_ok) == 17, topics_ok
    ids = corpus_ids()
    errors, seen = [], set()
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                o = json.loads(line)
            except json.JSONDecodeError as e:
                errors.append(f"line {n}: bad JSON: {e}")
                continue
            if set(o) != KEYS:
                errors.append(f"line {n}: keys {sorted(o)}")
                continue
            key = (o["set"], o["id"])
            if o["set"] not in ids:
                errors.append(f"line {n}: unknown set {o['set']}")
            elif o["id"] not in ids[o["set"]]:
                errors.append(f"line {n}: id not in corpus: {key}")
            if key in seen:
                errors.append(f"line {n}: duplicate {key}")
            if key in dev_keys:
                errors.append(f"line {n}: {key} is also in labels.jsonl")
            seen.add(key)
            if not isinstance(o["flag"], bool):
                errors.append(f"line {n}: flag not bool")
            if not isinstance(o["topics"], list) or any(t not in topics_ok for t in o["topics"]):
                errors.append(f"line {n}: bad topics {o['topics']}")
            elif len(set(o["topics"])) != len(o["topics"]):
                errors.append(f"line {n}: repeated topic")
            if o["flag"] != bool(o["topics"]):
                errors.append(f"line {n}: flag/topics mismatch")
            for k in ("deaths", "injured", "seriously_injured"):
                v = o[k]
                if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
                    errors.append(f"line {n}: bad {k}")
            si, inj = o["seriously_injured"], o["injured"]
            if si is not None and (inj is None or si > inj):
                errors.append(f"line {n}: seriously_injured without/above injured")
            if not isinstance(o["note"], str) or len(o["note"]) > 160:
                errors.append(f"line {n}: note missing or too long")
            rows.append(o)
    for e in errors:
        print("ERROR", e)
    by_set = collections.Counter(o["set"] for o in rows)
    flagged = collections.Counter((o["set"], o["flag"]) for o in rows)
    print(f"{os.path.basename(path)}: {len(rows)} rows")
    for s in by_set:
        print(f"  {s}: {by_set[s]} (flagged {flagged[(s, True)]}, not {flagged[(s, False)]})")
    tot_f = sum(o["flag"] for o in rows)
    print(f"  flagged {tot_f}, not flagged {len(rows) - tot_f} ({(len(rows) - tot_f) / max(1, len(rows)):.0%})")
    prim = collections.Counter(o["topics"][0] for o in rows if o["topics"])
    anyt = collections.Counter(t for o in rows for t in o["topics"])
    print("  topic: primary / any")
    for t in sorted(topics_ok):
        print(f"    {t}: {prim[t]} / {anyt[t]}")
    cas = collections.Counter(
        (o["deaths"] is not None, o["injured"] is not None, o["seriously_injured"] is not None)
        for o in rows)
    print("  casualty fields (deaths, injured, serious) present:", dict(cas))
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
