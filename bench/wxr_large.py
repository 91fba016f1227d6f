"""Large WXR exports: the reader's time and memory on a generated 500 MB export.

Generates an export of distinct block-editor posts (default 500 MB, ~4 kB of HTML per post,
footnotes in post meta; written to a temporary folder and deleted afterwards, never
committed), then, each in a fresh child process so memory figures are its own:

1. the strict reader alone over the whole file (what `wp_documents` does): seconds, MB/s,
   peak RSS, and the RSS of the same process before reading (imports, interpreter);
2. the same export with one post early on written as old exporters wrote it (a nested
   CDATA: not XML), so the tolerant reader reads almost all of it;
3. with `--documents`: the real `wp_documents` and `wp_media` assets through Dagster on the
   embedded PostgreSQL (every post recorded, as the first step of `pressrag index`), with the
   reader's progress lines, seconds and the run's peak RSS. The later steps (extraction,
   chunking, embedding) work document by document from Postgres and are measured by
   bench/ingest.py; embedding 500 MB of posts would take this machine most of a day.

    .venv/bin/python bench/wxr_large.py [--mb 500] [--documents] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SITE = "https://large.example"
WORDS = (
    "harbour",
    "tide",
    "ferry",
    "mooring",
    "lighthouse",
    "coast",
    "river",
    "bridge",
    "market",
    "museum",
    "garden",
    "station",
    "library",
    "festival",
    "walking",
    "route",
    "map",
    "ticket",
    "season",
    "morning",
    "evening",
    "weather",
    "island",
    "boat",
    "crane",
    "fuel",
    "berth",
    "permit",
    "office",
    "opening",
    "hours",
    "visitor",
    "guide",
    "history",
    "castle",
    "chapel",
    "cliff",
    "beach",
    "dune",
    "forest",
    "trail",
    "summit",
    "valley",
    "village",
    "square",
    "theatre",
    "concert",
    "gallery",
    "timetable",
)


def _paragraph(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def _post(wp_id: int, rng: random.Random, *, nested_cdata: bool = False) -> str:
    note = f"fn-{wp_id}"
    blocks = [
        f"<!-- wp:heading -->\n<h2>{_paragraph(rng, 4)}</h2>\n<!-- /wp:heading -->",
        *(
            f"<!-- wp:paragraph -->\n<p>{_paragraph(rng, 80)}</p>\n<!-- /wp:paragraph -->"
            for _ in range(5)
        ),
        f'<!-- wp:paragraph -->\n<p>{_paragraph(rng, 20)}<sup data-fn="{note}" class="fn">'
        f'<a href="#{note}" id="{note}-link">1</a></sup></p>\n<!-- /wp:paragraph -->',
        "<!-- wp:footnotes /-->",
    ]
    content = "\n\n".join(blocks)
    if nested_cdata:  # as exporters before WordPress 2.x wrote a post containing "]]>"
        content += "\n<p>A CDATA section ends with <code>]]></code>.</p>"
    footnotes = json.dumps([{"id": note, "content": _paragraph(rng, 12)}])
    return f"""
	<item>
		<title><![CDATA[Post {wp_id}: {_paragraph(rng, 5)}]]></title>
		<link>{SITE}/?p={wp_id}</link>
		<dc:creator><![CDATA[editor]]></dc:creator>
		<guid isPermaLink="false">{SITE}/?p={wp_id}</guid>
		<content:encoded><![CDATA[{content}]]></content:encoded>
		<excerpt:encoded><![CDATA[]]></excerpt:encoded>
		<wp:post_id>{wp_id}</wp:post_id>
		<wp:post_date_gmt><![CDATA[2024-01-02 03:04:05]]></wp:post_date_gmt>
		<wp:post_modified_gmt><![CDATA[2024-02-03 04:05:06]]></wp:post_modified_gmt>
		<wp:status><![CDATA[publish]]></wp:status>
		<wp:post_parent>0</wp:post_parent>
		<wp:post_type><![CDATA[post]]></wp:post_type>
		<wp:post_password><![CDATA[]]></wp:post_password>
		<wp:postmeta>
			<wp:meta_key><![CDATA[footnotes]]></wp:meta_key>
			<wp:meta_value><![CDATA[{footnotes}]]></wp:meta_value>
		</wp:postmeta>
	</item>"""


def generate(path: Path, megabytes: int, *, nested_cdata_at: int | None = None) -> int:
    """Write an export of about `megabytes` MB; return its number of posts."""
    rng = random.Random(16)
    target = megabytes * 1_000_000
    header = f"""<?xml version="1.0" encoding="UTF-8" ?>
<rss version="2.0" xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/"
	xmlns:content="http://purl.org/rss/1.0/modules/content/"
	xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:wp="http://wordpress.org/export/1.2/">
<channel>
	<title>Large site</title>
	<link>{SITE}</link>
	<wp:wxr_version>1.2</wp:wxr_version>
	<wp:base_site_url>{SITE}</wp:base_site_url>
	<wp:base_blog_url>{SITE}</wp:base_blog_url>
	<wp:author><wp:author_login><![CDATA[editor]]></wp:author_login>
		<wp:author_display_name><![CDATA[The Editor]]></wp:author_display_name></wp:author>
"""
    written = 0
    posts = 0
    with path.open("w", encoding="utf-8") as handle:
        written += handle.write(header)
        while written < target:
            posts += 1
            written += handle.write(_post(posts, rng, nested_cdata=posts == nested_cdata_at))
        handle.write("\n</channel>\n</rss>\n")
    return posts


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def child_read(path: str) -> None:
    """Run in a child: read the whole export, print one JSON line of figures."""
    import logging

    from pressrag.resources.wordpress import WxrReader
    from pressrag.resources.wordpress.wxr import ReadProgress

    logging.basicConfig(level=logging.WARNING)
    before = _peak_rss_mb()
    started = time.perf_counter()

    def progress(p: ReadProgress) -> None:
        total = (p.total_bytes or 0) / 1e6
        print(
            f"    read {p.bytes_read / 1e6:5.0f}/{total:.0f} MB, {p.items} items", file=sys.stderr
        )

    reader = WxrReader(path, on_progress=progress)
    documents = sum(1 for _ in reader)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "documents": documents,
                "failures": reader.report.failure_count,
                "tolerant_from": reader.report.not_well_formed,
                "seconds": round(seconds, 1),
                "rss_before_mb": round(before, 1),
                "peak_rss_mb": round(_peak_rss_mb(), 1),
            }
        )
    )


def child_documents(path: str, home: str) -> None:
    """Run in a child: `wp_documents` + `wp_media` for the export, through Dagster."""
    os.environ["PRESSRAG_HOME"] = home
    import dagster as dg

    from pressrag.assets.indexing.definitions import INDEXING_RESOURCES
    from pressrag.assets.indexing.documents import wp_documents, wp_media
    from pressrag.orchestration.sites import add_site

    add_site("large", wxr=path)
    before = _peak_rss_mb()
    started = time.perf_counter()
    config = {"wp_ids": [], "deleted_wp_ids": [], "force_reembed": False, "reason": "manual"}
    result = dg.materialize(
        [wp_documents, wp_media],
        partition_key="large",
        instance=dg.DagsterInstance.get(),
        resources=INDEXING_RESOURCES,
        run_config={
            "ops": {name: {"config": config} for name in ("wp_documents", "wp_media")},
            "loggers": {"console": {"config": {"log_level": "INFO"}}},
        },
    )
    seconds = time.perf_counter() - started
    meta = result.asset_materializations_for_node("wp_documents")[-1].metadata
    print(
        json.dumps(
            {
                "success": result.success,
                "documents_added": meta["added"].value,
                "seconds": round(seconds, 1),
                "rss_before_mb": round(before, 1),
                "peak_rss_mb": round(_peak_rss_mb(), 1),
            }
        )
    )


def _run_child(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _load() -> str:
    try:
        return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    except OSError:
        return "load unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=500, help="size of the export (default 500)")
    parser.add_argument("--documents", action="store_true", help="also run wp_documents")
    parser.add_argument("--keep", type=Path, help="write the exports here and keep them")
    parser.add_argument("--child-read", help=argparse.SUPPRESS)
    parser.add_argument("--child-documents", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_read:
        return child_read(args.child_read)
    if args.child_documents:
        return child_documents(*args.child_documents)

    folder = args.keep or Path(tempfile.mkdtemp(prefix="pressrag-wxr-large-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        well_formed, broken = folder / "export.xml", folder / "broken" / "export.xml"
        broken.parent.mkdir(exist_ok=True)
        started = time.perf_counter()
        posts = generate(well_formed, args.mb)
        generate(broken, args.mb, nested_cdata_at=3)
        print(
            f"generated 2 × {well_formed.stat().st_size / 1e6:.0f} MB ({posts} posts each) "
            f"in {time.perf_counter() - started:.0f} s; {_load()}"
        )
        rows = []
        for label, path in (("strict reader", well_formed), ("tolerant reader", broken)):
            figures = _run_child("--child-read", str(path))
            rows.append((label, figures))
            mb_per_s = path.stat().st_size / 1e6 / figures["seconds"]
            print(
                f"{label:16} {figures['documents']} posts in {figures['seconds']} s "
                f"({mb_per_s:.1f} MB/s), peak RSS {figures['peak_rss_mb']} MB "
                f"(process before reading: {figures['rss_before_mb']} MB); "
                f"not well-formed from: {figures['tolerant_from']}"
            )
        if args.documents:
            home = folder / "home"
            figures = _run_child("--child-documents", str(well_formed), str(home))
            print(
                f"wp_documents     {figures['documents_added']} posts recorded in "
                f"{figures['seconds']} s, run peak RSS {figures['peak_rss_mb']} MB "
                f"(before the run: {figures['rss_before_mb']} MB); success={figures['success']}"
            )
        print(f"done; {_load()}")
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
