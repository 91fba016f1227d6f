"""Ingest benchmark: how much the pipeline costs on top of the embedder itself (issue #15).

For the sample site and a synthetic multiple of it (every paragraph, list item, code block
and heading of copy N ends with "(edition N)", so every chunk is new text and the embedding
cache cannot help), index through Dagster in process (`dg.materialize`, as `pressrag index`
does) and report documents/s and chunks/s; then, in the same process, embed exactly the texts
the run gave the model (recorded by wrapping it: chunks and the search-quality self-check's
titles) with the embedder alone, the pipeline's length-sorted batching, and print the ratio
ingest / embedder alone by wall time and by CPU time (the indexing process and PostgreSQL
against the embedder's process; target ≤ 1.05), and against the model's own calls inside
the run (the model's speed drifts between two measurements). Where the seconds go is printed
per step (bench/scale.py's table: SQL, embedding, the rest) and as CPU seconds per stage,
with the load average. Finally a re-run on unchanged content: seconds, chunks embedded (must be 0).

    .venv/bin/python bench/ingest.py [--multiple 5] [--pydocs PAGES] [--profile FILE]

`--pydocs PAGES` indexes that many pages of bench/peers' corpus (Debian's python3.11-doc
library reference, as a WXR export) instead of the synthetic site.

`--profile FILE` indexes the synthetic site under cProfile (its figures are then inflated)
and prints the top functions.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]
SAMPLE = REPO / "samples" / "pydocs"
TARGET_RATIO = 1.05
# Where a copy's marker goes: the end of each paragraph, list item and heading; code blocks
# get it inside their <code>.
_TEXT_END = re.compile(r"</(p|li|h[1-6])>")
_CODE_END = re.compile(r"(</code>)?</pre>")


def synthetic_export(multiple: int, target: Path) -> Path:
    """`multiple` copies of the sample, each with new ids and its edition marked at the end
    of every paragraph, list item, heading and code block, so every chunk is new text (no
    cache hits: titles are not embedded)."""
    text = (SAMPLE / "export.xml").read_text(encoding="utf-8")
    head, rest = text.split("<item>", 1)
    items_part, tail = ("<item>" + rest).rsplit("</item>", 1)
    items = re.findall(r"<item>.*?</item>", items_part + "</item>", re.S)
    copies = []
    for n in range(1, multiple + 1):
        for item in items:
            item = re.sub(
                r"<wp:post_id>(\d+)</wp:post_id>",
                lambda m, n=n: f"<wp:post_id>{int(m.group(1)) + 100000 * n}</wp:post_id>",
                item,
            )
            item = re.sub(
                r"<wp:post_parent>(\d+)</wp:post_parent>",
                lambda m, n=n: (
                    "<wp:post_parent>"
                    + (str(int(m.group(1)) + 100000 * n) if m.group(1) != "0" else "0")
                    + "</wp:post_parent>"
                ),
                item,
            )
            item = re.sub(
                r"<title><!\[CDATA\[(.*?)\]\]></title>|<title>(.*?)</title>",
                lambda m, n=n: (
                    f"<title><![CDATA[{m.group(1) or m.group(2)} (edition {n})]]></title>"
                ),
                item,
                count=1,
            )
            item = _TEXT_END.sub(lambda m, n=n: f" (edition {n})</{m.group(1)}>", item)
            item = _CODE_END.sub(lambda m, n=n: f"\n# edition {n}{m.group(1) or ''}</pre>", item)
            copies.append(item)
    target.mkdir(parents=True, exist_ok=True)
    export = target / "export.xml"
    export.write_text(head + "\n".join(copies) + tail, encoding="utf-8")
    os.symlink(SAMPLE / "uploads", target / "uploads")
    return export


def pydocs_export(pages: int, target: Path) -> Path:
    """bench/peers' corpus of `pages` pages as the WXR export its PressRAG stack indexes."""
    from peers import corpus

    if not corpus.PYDOCS.is_dir():
        sys.exit(f"{corpus.PYDOCS} is missing: install Debian's python3.11-doc (make system-deps)")
    target.mkdir(parents=True, exist_ok=True)
    export = target / "export.xml"
    export.write_text(corpus.wxr(corpus.pydocs_pages(pages)), encoding="utf-8")
    return export


class Recorder:
    """Wraps the embedder's `embed`: every text the run gave the model, and the wall and
    process CPU seconds spent inside those calls."""

    def __init__(self, embed: Callable[[Sequence[str]], object]) -> None:
        self.original = embed
        self.texts: list[str] = []
        self.calls: list[tuple[float, float, float]] = []  # (start time, wall s, CPU s)

    def __call__(self, texts: Sequence[str]) -> object:
        start, wall, cpu = time.time(), time.perf_counter(), time.process_time()
        try:
            return self.original(texts)
        finally:
            self.texts.extend(texts)
            self.calls.append((start, time.perf_counter() - wall, time.process_time() - cpu))

    def take(self) -> tuple[list[str], list[tuple[float, float, float]]]:
        """(texts, calls) since the last take; starts afresh."""
        taken = self.texts, self.calls
        self.texts, self.calls = [], []
        return taken


# The CPU a stage spent inside its assets' timers, by the module that timed it.
STAGES = {
    "documents": "listing (WXR + upserts)",
    "text": "extraction (HTML → text)",
    "chunking": "chunking (tokenizer + drafts)",
    "embeddings": "embeddings + publish, besides the model",
}


def run(label: str, site_id: str, export: Path, profile: Path | None) -> None:
    """Index the site, then the embedder alone on the same texts, then a re-run; print it all."""
    import scale

    from pressrag.assets.indexing.embeddings import embed_by_length
    from pressrag.orchestration.sites import add_site

    model, recorder, sql, timers = STATE["model"], STATE["recorder"], STATE["sql"], STATE["timers"]
    meter_args = (STATE["pgdata"], 0)
    add_site(site_id, wxr=str(export))
    recorder.take()
    spans_before = len(timers.spans)
    load_before = os.getloadavg()
    first = scale.index_once(meter_args, sql, timers, profile, site=site_id)
    texts, calls = recorder.take()
    spans = timers.spans[spans_before:]
    with scale.Meter(*meter_args) as alone:
        embed_by_length(model, texts, lambda n: None)
    recorder.take()  # the baseline's own calls
    rerun = scale.index_once(meter_args, sql, timers, None, site=site_id)
    load_after = os.getloadavg()
    figures = {
        "model": model.model_id,
        "first": first,
        "embedder_alone": {"texts": len(texts), "cpu": alone.delta},
        "rerun": rerun,
    }
    scale.print_phase(label, figures, os.cpu_count() or 1)
    print_ratios(first, alone.delta, texts, calls, spans)
    print(
        "load average (1/5/15 min): before "
        + " ".join(f"{x:.2f}" for x in load_before)
        + ", after "
        + " ".join(f"{x:.2f}" for x in load_after)
    )
    if profile:
        scale.print_profile(str(profile), 30)


def print_ratios(
    first: dict,
    alone: dict[str, float],
    texts: list[str],
    calls: list[tuple[float, float, float]],
    spans: list[tuple[str, float, float, float]],
) -> None:
    """Ingest against the embedder alone by wall and by CPU, and where the CPU went: the
    model's calls, each stage's timed work besides them, PostgreSQL, and the rest."""
    cpu = first["cpu"]
    ingest_cpu = cpu["process"] + cpu["children"] + cpu["postgres"]
    alone_cpu = alone["process"] + alone["children"] + alone["postgres"]
    wall_ratio, cpu_ratio = cpu["wall"] / alone["wall"], ingest_cpu / alone_cpu
    print(
        f"texts given to the model: {len(texts)} ({first['chunks_embedded']} chunks, "
        f"{len(texts) - first['chunks_embedded']} by the search-quality self-check)"
    )
    model_wall, model_cpu = sum(c[1] for c in calls), sum(c[2] for c in calls)
    print(
        f"embedder calls inside the run: {model_wall:.2f} s wall, {model_cpu:.2f} s CPU; "
        f"alone: {alone['wall']:.2f} s wall, {alone_cpu:.2f} s CPU"
    )
    print(
        f"ingest / embedder alone: wall {cpu['wall']:.2f} / {alone['wall']:.2f} = "
        f"{wall_ratio:.3f}×, CPU (process + PostgreSQL) {ingest_cpu:.2f} / {alone_cpu:.2f} = "
        f"{cpu_ratio:.3f}× (target ≤ {TARGET_RATIO})"
    )
    # The same model's speed drifts by ±20 % between two measurements minutes apart on this
    # machine (docs/performance.md), so also against its own calls in this very run.
    if model_wall and model_cpu:
        print(
            f"ingest / the model's calls in the run: wall {cpu['wall']:.2f} / {model_wall:.2f}"
            f" = {cpu['wall'] / model_wall:.3f}×, CPU {ingest_cpu:.2f} / {model_cpu:.2f} = "
            f"{ingest_cpu / model_cpu:.3f}×"
        )
    print("CPU s of the run, by where it went:")
    rows = {"the model (embedder calls)": model_cpu}
    for module, name in STAGES.items():
        own = [(a, b) for m, a, b, _ in spans if m == module]
        inside = sum(c for t, _, c in calls if any(a <= t < b for a, b in own))
        rows[name] = sum(c for m, _, _, c in spans if m == module) - inside
    rows["PostgreSQL server"] = cpu["postgres"]
    rows["Dagster, asset checks, the rest"] = ingest_cpu - sum(rows.values())
    for name, seconds in rows.items():
        print(f"  {name:<42}{seconds:8.2f} s  {seconds / alone_cpu:6.1%} of the embedder alone")


STATE: dict = {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--multiple", type=int, default=5, help="size of the synthetic site")
    parser.add_argument(
        "--pydocs", type=int, metavar="PAGES", help="bench/peers' corpus instead of the ×N site"
    )
    parser.add_argument("--profile", type=Path, help="profile the synthetic site's run here")
    parser.add_argument("--skip-sample", action="store_true", help="index only the synthetic site")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="pressrag-bench-"))
    os.environ["PRESSRAG_HOME"] = str(home)
    for name in ("DATABASE_URL", "PRESSRAG_APP_DB_URL", "PRESSRAG_DAGSTER_PG_URL", "DAGSTER_HOME"):
        os.environ.pop(name, None)
    import scale

    from pressrag.orchestration.environment import prepare

    prepare()
    model = scale.indexing_embedder()
    model.embed(["warm up the model so neither side pays for loading it"])
    recorder = Recorder(model.embed)
    model.embed = recorder  # type: ignore[method-assign]
    pgdata = home / "pgdata"
    sql = scale.SqlClock()
    # The stages' worker processes count in their stage (PostgreSQL's server apart).
    timers = scale.AssetTimers(
        lambda: scale.descendants_cpu(os.getpid(), {scale.postmaster_pid(pgdata)})
    )
    sql.install()
    timers.install()
    STATE.update(model=model, recorder=recorder, sql=sql, timers=timers, pgdata=pgdata)
    print(
        f"model: {model.model_id}, threads: {getattr(model, 'threads', 'n/a')}, "
        f"{os.cpu_count()} cores"
    )
    if not args.skip_sample:
        run("sample site", "bench-sample", SAMPLE / "export.xml", None)
    if args.pydocs:
        export = pydocs_export(args.pydocs, home / "pydocs")
        run(f"python3.11-doc, {args.pydocs} pages", "bench-pydocs", export, args.profile)
    else:
        export = synthetic_export(args.multiple, home / "multi")
        run(f"synthetic x{args.multiple}", "bench-multi", export, args.profile)


if __name__ == "__main__":
    main()
