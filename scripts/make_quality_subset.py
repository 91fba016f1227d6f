"""Build tests/data/pyfaq-mini/: a small, fixed sample of ../shared/eval/pyfaq for CI.

    python scripts/make_quality_subset.py ../shared/eval/pyfaq tests/data/pyfaq-mini

All 175 questions with their answers, and 200 distractors drawn at random (seed 8) among the
short ones (at most 150 words, so CI embeds few chunks: ~650 in all). No selection looks at
any retriever's output, so the subset is not tuned to one. Byte-for-byte reproducible.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

QUESTIONS, DISTRACTORS, MAX_WORDS = 175, 200, 150


def main(source: Path, target: Path) -> None:
    corpus = [json.loads(line) for line in (source / "corpus.jsonl").open(encoding="utf-8")]
    queries = [json.loads(line) for line in (source / "queries.jsonl").open(encoding="utf-8")]
    lines = (source / "qrels.tsv").read_text(encoding="utf-8").splitlines()
    qrels = [line.split("\t") for line in lines[1:]]
    chosen = set(random.Random(7).sample(sorted(q["id"] for q in queries), QUESTIONS))
    pairs = [p for p in qrels if p[0] in chosen]
    answers = {p[1] for p in qrels}
    short = sorted(
        d["id"] for d in corpus if d["id"] not in answers and len(d["text"].split()) <= MAX_WORDS
    )
    keep = {p[1] for p in pairs} | set(random.Random(8).sample(short, DISTRACTORS))
    target.mkdir(parents=True, exist_ok=True)
    with (target / "corpus.jsonl").open("w", encoding="utf-8") as f:
        for d in corpus:
            if d["id"] in keep:
                f.write(json.dumps(d, ensure_ascii=False) + "\n")
    with (target / "queries.jsonl").open("w", encoding="utf-8") as f:
        for q in queries:
            if q["id"] in chosen:
                f.write(json.dumps(q, ensure_ascii=False) + "\n")
    with (target / "qrels.tsv").open("w", encoding="utf-8") as f:
        f.write(lines[0] + "\n")
        for p in pairs:
            f.write("\t".join(p) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
