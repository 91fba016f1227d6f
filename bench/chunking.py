"""Chunking benchmark: counting word pieces by word against the tokenizer over each text.

The chunker counts overlapping pieces of a document ~24 times (blocks, tails, each chunk's
final text). `WordPieceCounter.count` sums cached per-word counts; the baseline,
`WordPieceCounter.encoded_length`, runs the tokenizer over the whole text each time (what
`count` did before). Both arms chunk the same documents with the pipeline's settings, in
this process, baseline first; the word counter starts empty (cold) and runs again (warm).
The chunks must be identical, field by field, or the benchmark fails.

    .venv/bin/python bench/chunking.py [--synthetic 500] [--jsonl CORPUS.jsonl ...]

Corpora: the sample site's posts and pages (samples/pydocs, through the pipeline's own
HTML → markdown), bench/scale.py's synthetic posts, and any `{"title", "text"}` JSON-lines
corpus given (e.g. ../shared/eval/pyfaq/corpus.jsonl). Figures are CPU ms a document.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]
SAMPLE_EXPORT = REPO / "samples" / "pydocs" / "export.xml"

Corpus = list[tuple[str, str]]  # (title, markdown)


def sample_site() -> Corpus:
    from pressrag.assets.indexing.text import post_text
    from pressrag.resources.wordpress.wxr import iter_wxr

    return [
        (doc.title, post_text(doc.content_html))
        for doc in iter_wxr(SAMPLE_EXPORT)
        if not doc.is_attachment and doc.status == "publish"
    ]


def synthetic(count: int) -> Corpus:
    import scale

    from pressrag.assets.indexing.text import post_text

    words = scale.vocabulary()
    posts = (scale.synthetic_post(i, words) for i in range(1, count + 1))
    return [(post["title"], post_text(post["content"])) for post in posts]


def jsonl(path: Path) -> Corpus:
    with path.open(encoding="utf-8") as handle:
        return [(row["title"], row["text"]) for row in map(json.loads, handle)]


def chunk_all(
    corpus: Corpus, count: Callable[[str], int], max_tokens: int
) -> tuple[list[tuple], float]:
    """Every document's chunks (all fields) and the CPU seconds it took."""
    from pressrag.assets.transforms.chunking import chunk_document
    from pressrag.resources.settings import get_settings

    settings = get_settings()
    started = time.process_time()
    chunks = [
        tuple(
            (d.ordinal, d.heading_path, d.text, d.embed_text, d.token_count)
            for d in chunk_document(
                title,
                markdown,
                count_tokens=count,
                max_tokens=max_tokens,
                overlap_tokens=settings.chunk_overlap_tokens,
                target_tokens=settings.chunk_target_tokens,
            )
        )
        for title, markdown in corpus
    ]
    return chunks, time.process_time() - started


def measure(name: str, corpus: Corpus) -> bool:
    """One corpus, both arms; prints a line and says whether the chunks were identical."""
    from pressrag.resources.tokenization import WordPieceCounter

    baseline, by_word = WordPieceCounter(), WordPieceCounter()
    limit = baseline.max_tokens
    expected, base_s = chunk_all(corpus, baseline.encoded_length, limit)
    cold, cold_s = chunk_all(corpus, by_word.count, limit)
    warm, warm_s = chunk_all(corpus, by_word.count, limit)
    identical = expected == cold == warm
    per_doc = 1000 / max(1, len(corpus))
    print(
        f"{name:16s} {len(corpus):6d} docs {sum(map(len, expected)):7d} chunks | CPU ms/doc: "
        f"whole-text counts {base_s * per_doc:6.2f}, by word cold {cold_s * per_doc:6.2f} "
        f"(×{base_s / max(cold_s, 1e-9):.1f}), warm {warm_s * per_doc:6.2f} "
        f"(×{base_s / max(warm_s, 1e-9):.1f}) | chunks identical: {'yes' if identical else 'NO'}",
        flush=True,
    )
    return identical


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", type=int, default=500, help="synthetic posts (0: none)")
    parser.add_argument("--jsonl", type=Path, action="append", default=[], help="more corpora")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} before")
    corpora: dict[str, Callable[[], Corpus]] = {"sample site": sample_site}
    if args.synthetic:
        corpora["synthetic"] = lambda: synthetic(args.synthetic)
    for path in args.jsonl:
        corpora[path.parent.name or path.stem] = lambda path=path: jsonl(path)
    results = [measure(name, load()) for name, load in corpora.items()]
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
