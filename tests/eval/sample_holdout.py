#!/usr/bin/env python3
"""Reproduce the selection of the held-out items in tests/eval/holdout.jsonl and print them.

The holdout set is never used while tuning rules or dictionaries: it checks that they
generalise beyond the development set (labels.jsonl). Items are drawn with a seed different
from the development set's, from the rows that the development selection did not take.
Like sample.py, this prints corpus text to stdout only and never writes it anywhere.

Usage:
  python3 tests/eval/sample_holdout.py ids                    # "set<TAB>id" of the selection
  python3 tests/eval/sample_holdout.py show SET [START [END]]  # texts of SET's selection[START:END]
"""
import os
import random
import sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sample  # noqa: E402

SEED = 20261125
# Teddy bodies are shown up to this many characters (the development set showed 700).
TEDDY_CHARS = 2000

CEC_QUOTA = {"交通事故": 18, "火灾": 18, "地震": 18, "食物中毒": 18, "恐怖袭击": 18}
TEDDY_QUOTA = {
    "环境保护": 8, "教育文体": 10, "卫生计生": 9, "商贸旅游": 8,
    "劳动和社会保障": 10, "城乡建设": 10, "交通运输": 5,
}
# liuyan: 投诉/求助 by domain, then the other types. 金融 and 感谢 are absent: the
# development set took every row of both.
LIUYAN_COMPLAINT = {
    "城建": 12, "交通": 5, "企业": 6, "环保": 7, "治安": 6, "政务": 4, "教育": 4,
    "就业": 3, "医疗": 3, "旅游": 2, "三农": 2, "文娱": 2,
}
LIUYAN_TYPE = {"咨询": 8, "建言": 4, None: 2}


def select():
    dev = sample.select()
    taken = {(s, r["id"]) for s, rows in dev.items() for r in rows}
    rng = random.Random(SEED)

    def fresh(set_name, rows):
        return [r for r in rows if (set_name, r["id"]) not in taken]

    out = {}
    by = defaultdict(list)
    for r in fresh("cec-emergencies", sample.load("cec-emergencies.jsonl")):
        by[r["event_type"]].append(r)
    out["cec-emergencies"] = [r for k, n in CEC_QUOTA.items() for r in sample.pick(rng, by[k], n)]

    by = defaultdict(list)
    for r in fresh("teddy-messages", sample.load("teddy-messages.jsonl")):
        if r["id"] not in sample.TEDDY_EXCLUDE:
            by[r["label_raw"]].append(r)
    out["teddy-messages"] = [r for k, n in TEDDY_QUOTA.items() for r in sample.pick(rng, by[k], n)]

    liu = fresh("liuyan-posts", sample.load("liuyan-posts.jsonl"))
    sel = []
    by = defaultdict(list)
    for r in liu:
        if r["type"] == "投诉/求助":
            by[r["domain"]].append(r)
    for k, n in LIUYAN_COMPLAINT.items():
        sel += sample.pick(rng, by[k], n)
    by = defaultdict(list)
    for r in liu:
        by[r["type"]].append(r)
    for k, n in LIUYAN_TYPE.items():
        sel += sample.pick(rng, by[k], n)
    out["liuyan-posts"] = sel
    return out


if __name__ == "__main__":
    sample.main(select(), TEDDY_CHARS)
