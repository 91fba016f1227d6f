"""Search quality on a BEIR-layout set, through the real pipeline and the real `/v1/search`.

    .venv/bin/python bench/quality.py DIR [--baseline dense | --baseline-run RUN.trec]
                                          [--folds 5] [--out DIR] [--home DIR]

DIR holds `corpus.jsonl` (id, title, text), `queries.jsonl` (id, text) and `qrels.tsv`
(query-id, corpus-id, score). What happens:

1. The corpus becomes a WXR export: one published post per document (its title; its text as
   paragraphs; its id as the slug, so a result URL names the document).
2. `pressrag`'s own indexing runs on it through Dagster: extraction, chunking, embedding,
   PostgreSQL. Nothing is bypassed. The home (`--home`, default
   ~/.cache/pressrag/bench-quality/<set>) is kept between runs: the site is rebuilt from
   scratch every time (so changes to chunking apply), while the embedding cache makes
   unchanged chunks free.
3. Every query goes through `POST /v1/search` of the serving app (in this process, admin
   key, k = 10 documents) — the same code path a visitor's question takes.
4. The product's parts are ranked from the same evidence: its vector side alone and its text
   side alone.
5. The baseline, measured in the same run: `dense` is a plain dense search with the same
   model (../shared/eval/baseline.py's method: chunks of at most 256 word pieces without
   overlap or title, exact cosine, a document scores by its best chunk; vectors cached).
   `--baseline-run` compares with any TREC run file instead.
6. nDCG@10, R@10, MRR@10 per run, each run against the baseline with a paired randomisation
   test; per-query scores and the runs are written to `--out`.
7. `--folds N`: the text side's weight chosen on N-1 folds of the questions and measured on
   the held-out fold, for every fold (is the one fitted constant fitted to these questions?).
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import re
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SITE = "bench"
BASE_URL = "http://bench.example"
K = 10
WEIGHTS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0)

Run = dict[str, list[str]]
Qrels = dict[str, dict[str, int]]


def load_set(folder: Path) -> tuple[list[dict], list[dict], Qrels]:
    def jsonl(name: str) -> list[dict]:
        with (folder / name).open(encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    corpus, queries = jsonl("corpus.jsonl"), jsonl("queries.jsonl")
    qrels: Qrels = {}
    with (folder / "qrels.tsv").open(encoding="utf-8") as f:
        for n, line in enumerate(f):
            parts = line.rstrip("\n").split("\t")
            if n == 0 and parts[-1] == "score":
                continue
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return corpus, [q for q in queries if q["id"] in qrels], qrels


# ------------------------------------------------------------------------------- the site


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def document_html(text: str) -> str:
    """Lines become paragraphs; runs of indented lines (code) one preformatted block."""
    blocks: list[str] = []
    code: list[str] = []
    for line in text.split("\n"):
        if line.startswith((" ", "\t")) and line.strip():
            code.append(html.escape(line))
            continue
        if code:
            blocks.append("<pre>" + "\n".join(code) + "</pre>")
            code = []
        if line.strip():
            blocks.append(f"<p>{html.escape(line.strip())}</p>")
    if code:
        blocks.append("<pre>" + "\n".join(code) + "</pre>")
    return "\n".join(blocks)


def write_wxr(corpus: Sequence[dict], path: Path) -> Path:
    items = []
    for n, doc in enumerate(corpus, start=1):
        link = f"{BASE_URL}/{doc['id']}/"
        items.append(
            f"""<item><title>{_cdata(doc.get("title", ""))}</title><link>{html.escape(link)}</link>
<pubDate>Mon, 01 Jan 2024 00:00:00 +0000</pubDate><dc:creator>{_cdata("bench")}</dc:creator>
<guid isPermaLink="false">{html.escape(link)}</guid><description></description>
<content:encoded>{_cdata(document_html(doc.get("text", "")))}</content:encoded>
<excerpt:encoded>{_cdata("")}</excerpt:encoded><wp:post_id>{n}</wp:post_id>
<wp:post_date>{_cdata("2024-01-01 00:00:00")}</wp:post_date>
<wp:post_date_gmt>{_cdata("2024-01-01 00:00:00")}</wp:post_date_gmt>
<wp:post_name>{_cdata(doc["id"])}</wp:post_name><wp:status>{_cdata("publish")}</wp:status>
<wp:post_parent>0</wp:post_parent><wp:post_type>{_cdata("post")}</wp:post_type>
<wp:post_password>{_cdata("")}</wp:post_password></item>"""
        )
    path.write_text(
        f"""<?xml version="1.0" encoding="UTF-8" ?>
<rss version="2.0" xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/"
 xmlns:content="http://purl.org/rss/1.0/modules/content/"
 xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:wp="http://wordpress.org/export/1.2/">
<channel><title>Quality benchmark</title><link>{BASE_URL}</link>
<wp:wxr_version>1.2</wp:wxr_version><wp:base_site_url>{BASE_URL}</wp:base_site_url>
<wp:base_blog_url>{BASE_URL}</wp:base_blog_url>
{chr(10).join(items)}
</channel></rss>
""",
        encoding="utf-8",
    )
    return path


def doc_id_of(url: str) -> str:
    return url.removeprefix(BASE_URL).strip("/")


def build_site(corpus: Sequence[dict], work: Path) -> dict[str, object]:
    """Register the set as a fresh site and index it with `pressrag index`'s own code."""
    from pressrag.orchestration.run import index_site_now
    from pressrag.orchestration.sites import add_site
    from pressrag.resources.settings import get_settings
    from pressrag.resources.store import Store

    export = write_wxr(corpus, work / "export.xml")
    with Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=1) as store, store.connection() as c:
        c.execute("DELETE FROM sites WHERE id = %s", (SITE,))
    add_site(SITE, wxr=str(export))
    t0 = time.perf_counter()
    if not index_site_now(SITE):
        raise SystemExit("indexing the benchmark site failed (see the log above)")
    seconds = time.perf_counter() - t0
    with Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=1) as store, store.connection() as c:
        documents, chunks = c.execute(
            "SELECT count(DISTINCT document_id), count(*) FROM chunks WHERE site_id = %s",
            (SITE,),
        ).fetchone()
    settings = get_settings()
    return {
        "documents": documents,
        "chunks": chunks,
        "index_seconds": round(seconds, 1),
        "chunk_target_tokens": settings.chunk_target_tokens,
        "chunk_overlap_tokens": settings.chunk_overlap_tokens,
    }


# ------------------------------------------------------------------------------ the runs


def product_run(queries: Sequence[dict]) -> tuple[Run, float]:
    """Every query through POST /v1/search of the serving app, as a visitor's would go."""
    from fastapi.testclient import TestClient

    from pressrag.serving.app import create_app

    key = secrets.token_urlsafe(24)
    os.environ["PRESSRAG_ADMIN_API_KEY"] = key
    run: Run = {}
    with TestClient(create_app()) as client:
        deadline = time.monotonic() + 300
        while client.get("/readyz").status_code != 200:
            if time.monotonic() > deadline:
                raise SystemExit("the serving app did not become ready")
            time.sleep(0.2)
        headers = {"Authorization": f"Bearer {key}"}
        t0 = time.perf_counter()
        for q in queries:
            response = client.post(
                "/v1/search", json={"site": SITE, "query": q["text"], "k": K}, headers=headers
            )
            response.raise_for_status()
            run[q["id"]] = [doc_id_of(h["url"]) for h in response.json()["hits"]]
        seconds = time.perf_counter() - t0
    return run, seconds / max(len(queries), 1)


def evidence_runs(queries: Sequence[dict]) -> tuple[dict[str, object], Callable[..., Run]]:
    """The evidence `/v1/search` ranks, gathered once per query, and a ranker over it, so the
    parts and other text weights are ranked from exactly what the product saw."""
    from pressrag.resources.embedders import make_embedder
    from pressrag.resources.store import Store
    from pressrag.resources.store.ranking import rank_documents
    from pressrag.resources.store.search import gather_evidence
    from pressrag.resources.store.spaces import active_space
    from pressrag.serving.settings import ServingSettings

    settings = ServingSettings()
    embedder = make_embedder(settings, backend=settings.embed_backend)  # as serving embeds
    vectors = embedder.embed([q["text"] for q in queries])
    evidence: dict[str, object] = {}
    with Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=1) as store, store.connection() as c:
        space = active_space(c)
        assert space is not None
        for q, vector in zip(queries, vectors, strict=True):
            evidence[q["id"]] = gather_evidence(
                c, site_id=SITE, space=space, query_text=q["text"], query_vector=vector, k=K
            )
        urls = dict(
            c.execute("SELECT id, url FROM documents WHERE site_id = %s", (SITE,)).fetchall()
        )

    def rank(**options: object) -> Run:
        return {
            qid: [
                doc_id_of(urls[r.document_id])
                for r in rank_documents(chunks, baseline, k=K, **options)  # type: ignore[arg-type]
            ]
            for qid, (chunks, baseline) in evidence.items()  # type: ignore[misc]
        }

    return evidence, rank


def dense_baseline(corpus: Sequence[dict], queries: Sequence[dict], cache: Path) -> Run:
    """Plain dense retrieval with the same model, as ../shared/eval/baseline.py does it."""
    import numpy as np

    from pressrag.resources.embedders.local import LocalEmbedder
    from pressrag.resources.tokenization import default_counter

    counter = default_counter()
    chunks: list[str] = []
    owner: list[int] = []
    for n, doc in enumerate(corpus):
        for chunk in baseline_chunks(doc.get("text", ""), counter.count, counter.max_tokens):
            chunks.append(chunk)
            owner.append(n)
    digest = hashlib.sha256("\x00".join(chunks).encode("utf-8", "surrogatepass")).hexdigest()
    path = cache / f"dense-baseline-{digest[:20]}.npy"
    model = LocalEmbedder(backend="torch", threads=os.cpu_count() or 1)
    if path.exists():
        vectors = np.load(path)
    else:
        print(f"baseline: embedding {len(chunks)} chunks once (cached in {path}) ...", flush=True)
        vectors = model.embed(chunks)
        cache.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    scores = model.embed([q["text"] for q in queries]) @ vectors.T
    owners = np.asarray(owner)
    run: Run = {}
    for q, row in zip(queries, scores, strict=True):
        best = np.full(len(corpus), -np.inf)
        np.maximum.at(best, owners, row)
        order = np.lexsort((np.arange(len(corpus)), -best))[:100]
        run[q["id"]] = [corpus[i]["id"] for i in order if np.isfinite(best[i])]
    return run


def baseline_chunks(text: str, count: Callable[[str], int], max_tokens: int) -> list[str]:
    """baseline.py's chunker: lines packed greedily up to the model's limit, no overlap; a
    line that is too long is split at sentence ends, then at word boundaries."""
    import re

    budget = max_tokens - 2  # [CLS] and [SEP]

    def cost(piece: str) -> int:
        return count(piece) - 2

    def pieces(block: str) -> list[tuple[str, int]]:
        if (k := cost(block)) <= budget:
            return [(block, k)]
        out: list[tuple[str, int]] = []
        for sentence in re.split(r"(?<=[.!?:;])\s+", block):
            if (k := cost(sentence)) <= budget:
                out.append((sentence, k))
                continue
            words: list[str] = []
            used = 0
            for word in sentence.split():
                w = cost(word)
                if used + w > budget and words:
                    out.append((" ".join(words), used))
                    words, used = [], 0
                words.append(word)
                used += w
            if words:
                out.append((" ".join(words), used))
        return out

    chunks: list[list[str]] = []
    current: list[str] = []
    used = 0
    for block in (b.strip() for b in text.split("\n") if b.strip()):
        for piece, k in pieces(block):
            if used + k > budget and current:
                chunks.append(current)
                current, used = [], 0
            current.append(piece)
            used += k
    if current:
        chunks.append(current)
    return ["\n".join(c) for c in chunks] or [text]


def read_trec(path: Path) -> Run:
    scored: dict[str, list[tuple[int, str]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 4:
            scored.setdefault(parts[0], []).append((int(parts[3]), parts[2]))
    return {q: [d for _, d in sorted(items)] for q, items in scored.items()}


def write_trec(run: Run, path: Path, tag: str) -> None:
    with path.open("w", encoding="utf-8") as f:
        for q, docs in run.items():
            for i, d in enumerate(docs):
                f.write(f"{q} Q0 {d} {i + 1} {len(docs) - i} {tag}\n")


# ---------------------------------------------------------------------------- the report


def cross_validated_weight(
    rank: Callable[..., Run], qrels: Qrels, folds: int
) -> tuple[dict[str, float], list[float]]:
    """Per-query nDCG@10 of the hybrid whose text weight was chosen on the other folds."""
    from pressrag.assets.transforms.relevance import per_query

    by_weight = {w: per_query(rank(text_weight=w), qrels)["nDCG@10"] for w in WEIGHTS}
    ids = sorted(qrels, key=lambda q: hashlib.sha256(q.encode()).hexdigest())
    held_out: dict[str, float] = {}
    chosen: list[float] = []
    for f in range(folds):
        test = set(ids[f::folds])
        train = [q for q in ids if q not in test]
        best = max(WEIGHTS, key=lambda w: (sum(by_weight[w][q] for q in train), -w))
        chosen.append(best)
        held_out |= {q: by_weight[best][q] for q in test}
    return held_out, chosen


def report(
    runs: dict[str, Run],
    qrels: Qrels,
    baseline: str,
    queries: Sequence[dict],
    out: Path,
    extra: dict[str, dict[str, float]],
) -> dict[str, dict[str, float]]:
    from pressrag.assets.transforms.relevance import mean, paired_randomisation_test, per_query

    scores = {name: per_query(run, qrels) for name, run in runs.items()}
    ids = list(qrels)
    base = scores[baseline]["nDCG@10"]
    lines = [
        f"| run | nDCG@10 | R@10 | MRR@10 | nDCG@10 vs {baseline} | p | better / worse |",
        "|---|---|---|---|---|---|---|",
    ]
    summary: dict[str, dict[str, float]] = {}
    rows = [(name, s["nDCG@10"], s) for name, s in scores.items()]
    rows += [(name, values, None) for name, values in extra.items()]
    for name, ndcg, s in rows:
        a = [ndcg[q] for q in ids]
        b = [base[q] for q in ids]
        diff = mean(ndcg) - mean(base)
        p = paired_randomisation_test(a, b) if name != baseline else 1.0
        better = sum(x > y for x, y in zip(a, b, strict=True))
        worse = sum(x < y for x, y in zip(a, b, strict=True))
        recall = f"{mean(s['R@10']):.3f}" if s else "—"
        mrr = f"{mean(s['MRR@10']):.3f}" if s else "—"
        lines.append(
            f"| {name} | {mean(ndcg):.3f} | {recall} | {mrr} | {diff:+.3f} | {p:.4f} | "
            f"{better} / {worse} |"
        )
        summary[name] = {"nDCG@10": mean(ndcg), "diff": diff, "p": p}
    print("\n".join(lines))
    text = {q["id"]: q["text"] for q in queries}
    with (out / "per_query.tsv").open("w", encoding="utf-8") as f:
        names = list(scores) + list(extra)
        f.write("query\t" + "\t".join(f"{n} nDCG@10" for n in names) + "\tquestion\n")
        for q in ids:
            values = [scores[n]["nDCG@10"][q] if n in scores else extra[n][q] for n in names]
            f.write(q + "\t" + "\t".join(f"{v:.4f}" for v in values) + f"\t{text[q]}\n")
    for name, run in runs.items():
        tag = re.sub(r"[^\w.-]+", "_", name).strip("_")  # "PressRAG /v1/search" is no path
        write_trec(run, out / f"{tag}.trec", tag)
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def prepare_home(home: Path) -> None:
    os.environ["PRESSRAG_HOME"] = str(home)
    for name in ("DATABASE_URL", "PRESSRAG_APP_DB_URL", "PRESSRAG_DAGSTER_PG_URL", "DAGSTER_HOME"):
        os.environ.pop(name, None)
    from pressrag.orchestration.environment import prepare

    prepare()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("set", type=Path, help="a BEIR-layout folder")
    parser.add_argument("--baseline", choices=("dense",), default="dense")
    parser.add_argument("--baseline-run", type=Path, help="a TREC run file to compare with")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (0: none)")
    parser.add_argument("--out", type=Path, help="where per-query scores and runs go")
    parser.add_argument("--home", type=Path, help="PRESSRAG_HOME to keep between runs")
    args = parser.parse_args(argv)

    corpus, queries, qrels = load_set(args.set)
    name = args.set.resolve().name
    home = args.home or Path.home() / ".cache" / "pressrag" / "bench-quality" / name
    out = args.out or REPO / "bench-output" / "quality" / name
    home.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    prepare_home(home)
    print(f"set {name}: {len(corpus)} documents, {len(queries)} queries; home {home}")

    site = build_site(corpus, home)
    print(f"indexed: {site}")
    product, seconds_per_query = product_run(queries)
    _, rank = evidence_runs(queries)
    runs: dict[str, Run] = {
        "PressRAG /v1/search": product,
        "vector side": rank(retrieval="vector"),
        "text side": rank(retrieval="text"),
    }
    if args.baseline_run:
        baseline = f"run {args.baseline_run.name}"
        runs[baseline] = read_trec(args.baseline_run)
    else:
        baseline = "dense baseline"
        runs[baseline] = dense_baseline(corpus, queries, home / "baseline")
    extra: dict[str, dict[str, float]] = {}
    if args.folds > 1:
        held_out, chosen = cross_validated_weight(rank, qrels, args.folds)
        extra[f"hybrid, text weight by {args.folds}-fold CV"] = held_out
        print(f"text weights chosen per fold: {chosen}")
    print(f"\n/v1/search: {seconds_per_query * 1000:.1f} ms a query (in process, one client)\n")
    report(runs, qrels, baseline, queries, out, extra)
    print(f"\nper-query scores and runs: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
