"""Ingest benchmark: how much the pipeline costs on top of the embedder itself.

For the sample site and a synthetic multiple of it (distinct text, so the embedding cache
cannot help), index through Dagster (`dg.materialize`, as `pressrag index` does) and report
documents/s and chunks/s; then, in the same process, embed exactly the same chunk texts with
the embedder alone (the baseline) and print the ratio end-to-end / embedder (target ≤ 1.15).
Finally re-run on unchanged content: seconds, and the number of chunks embedded (must be 0).

    .venv/bin/python bench/ingest.py [--multiple 5]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SAMPLE = REPO / "samples" / "pydocs"


def _title(title: str, edition: int) -> str:
    return f"<title><![CDATA[{title} (edition {edition})]]></title>"


def synthetic_export(multiple: int, target: Path) -> Path:
    """`multiple` copies of the sample, each with new ids and a distinct sentence per
    paragraph so every chunk is new text (no cache hits)."""
    text = (SAMPLE / "export.xml").read_text(encoding="utf-8")
    head, rest = text.split("<item>", 1)
    items_part, tail = ("<item>" + rest).rsplit("</item>", 1)
    items = re.findall(r"<item>.*?</item>", items_part + "</item>", re.S)
    copies = []
    for n in range(multiple):
        for item in items:
            item = re.sub(
                r"<wp:post_id>(\d+)</wp:post_id>",
                lambda m, n=n: f"<wp:post_id>{int(m.group(1)) + 100000 * (n + 1)}</wp:post_id>",
                item,
            )
            item = re.sub(
                r"<wp:post_parent>(\d+)</wp:post_parent>",
                lambda m, n=n: (
                    "<wp:post_parent>"
                    + (str(int(m.group(1)) + 100000 * (n + 1)) if m.group(1) != "0" else "0")
                    + "</wp:post_parent>"
                ),
                item,
            )
            # The title prefixes every chunk's embedded text, so every chunk is new text.
            item = re.sub(
                r"<title><!\[CDATA\[(.*?)\]\]></title>|<title>(.*?)</title>",
                lambda m, n=n: (
                    f"<title><![CDATA[{m.group(1) or m.group(2)} (edition {n + 1})]]></title>"
                ),
                item,
                count=1,
            )
            copies.append(item)
    target.mkdir(parents=True, exist_ok=True)
    export = target / "export.xml"
    export.write_text(head + "\n".join(copies) + tail, encoding="utf-8")
    os.symlink(SAMPLE / "uploads", target / "uploads")
    return export


def chunk_texts(site_id: str) -> list[str]:
    """The exact texts the pipeline embedded for a site, rebuilt from its extracted text."""
    from pressrag.assets.transforms.chunking import chunk_document
    from pressrag.resources.embedders import make_embedder
    from pressrag.resources.settings import get_settings
    from pressrag.resources.store import Store

    settings = get_settings()
    embedder = make_embedder(settings)
    with Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=1) as store, store.connection() as c:
        rows = c.execute(
            "SELECT title, extracted_text FROM documents WHERE site_id = %s "
            "AND visibility = 'public' ORDER BY id",
            (site_id,),
        ).fetchall()
    texts = []
    for title, text in rows:
        for draft in chunk_document(
            title,
            text or "",
            count_tokens=embedder.count_tokens,
            max_tokens=embedder.max_tokens,
            overlap_tokens=settings.chunk_overlap_tokens,
            target_tokens=settings.chunk_target_tokens,
        ):
            texts.append(draft.embed_text)
    return texts


def run(label: str, site_id: str, export: Path) -> None:
    from pressrag.orchestration.sites import add_site
    from pressrag.resources.dagster_resources import EmbedderResource
    from tests.support.indexing import asset_metadata, materialize_site

    add_site(site_id, wxr=str(export))
    t0 = time.perf_counter()
    result = materialize_site(site_id)
    end_to_end = time.perf_counter() - t0
    assert result.success, f"indexing {site_id} failed"
    emb = asset_metadata(result, "embeddings")
    docs = (
        asset_metadata(result, "wp_documents")["added"]
        + asset_metadata(result, "wp_media")["added"]
    )
    chunks = int(emb["chunks_embedded"])

    texts = chunk_texts(site_id)
    embedder = EmbedderResource().get()
    t0 = time.perf_counter()
    embedder.embed(texts)
    baseline = time.perf_counter() - t0

    t0 = time.perf_counter()
    again = materialize_site(site_id)
    rerun = time.perf_counter() - t0
    rerun_embedded = asset_metadata(again, "embeddings")["chunks_embedded"]

    print(f"\n== {label}: {docs} documents, {chunks} chunks embedded")
    if len(texts) != chunks:
        print(f"   (note: baseline has {len(texts)} texts; cache hits make the ratio unfair)")
    print(f"end-to-end (Dagster, in process): {end_to_end:8.2f} s")
    print(f"  documents/s: {docs / end_to_end:8.2f}   chunks/s: {chunks / end_to_end:8.2f}")
    print(f"embedder alone, same texts:        {baseline:8.2f} s  ({len(texts) / baseline:.1f}/s)")
    print(f"ratio end-to-end / embedder:       {end_to_end / baseline:8.3f}   (target <= 1.15)")
    print(f"re-run, unchanged content:         {rerun:8.2f} s, chunks embedded: {rerun_embedded}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--multiple", type=int, default=5, help="size of the synthetic site")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="pressrag-bench-"))
    os.environ["PRESSRAG_HOME"] = str(home)
    for name in ("DATABASE_URL", "PRESSRAG_APP_DB_URL", "PRESSRAG_DAGSTER_PG_URL", "DAGSTER_HOME"):
        os.environ.pop(name, None)
    from pressrag.orchestration.environment import prepare
    from pressrag.resources.dagster_resources import EmbedderResource

    prepare()
    embedder = EmbedderResource().get()
    embedder.embed(["warm up the model so neither side pays for loading it"])
    print(f"model: {embedder.model_id}, torch threads: {getattr(embedder, 'threads', 'n/a')}")
    run("sample site", "bench-sample", SAMPLE / "export.xml")
    run(
        f"synthetic x{args.multiple}",
        "bench-multi",
        synthetic_export(args.multiple, home / "multi"),
    )


if __name__ == "__main__":
    main()
