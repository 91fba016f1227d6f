"""A run that succeeds ends quietly, however short: no background work outlives it.

The embedder's preload thread imports torch and sentence-transformers while the run works.
When a run had nothing to do, `pressrag index` returned while that thread was still
importing, and an import during interpreter shutdown printed "RuntimeError: can't register
atexit after shutdown" with a traceback — after a successful run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, PressragEnv

pytestmark = pytest.mark.integration

EMPTY_EXPORT = """<?xml version="1.0" encoding="UTF-8" ?>
<rss version="2.0" xmlns:wp="http://wordpress.org/export/1.2/">
<channel><title>Nothing yet</title><link>https://quiet.example</link>
<wp:wxr_version>1.2</wp:wxr_version></channel></rss>
"""

# `pressrag index` as its console script runs it, then a look at the threads still alive.
INDEX_AND_REPORT_THREADS = """
import sys, threading
from pressrag.orchestration.cli import main
code = main(["index", "--site", "quiet"])
alive = [t.name for t in threading.enumerate() if t.name == "embedder-preload"]
print("preload threads alive after the command: " + repr(alive))
sys.exit(code)
"""


def test_an_index_with_nothing_to_do_leaves_no_background_work(
    pressrag_env: PressragEnv, tmp_path: Path
) -> None:
    from pressrag.orchestration.sites import add_site

    export = tmp_path / "empty.xml"
    export.write_text(EMPTY_EXPORT, encoding="utf-8")
    add_site("quiet", wxr=str(export))
    for _ in range(2):  # the first run registers the model space; the second has nothing to do
        done = subprocess.run(
            [sys.executable, "-c", INDEX_AND_REPORT_THREADS],
            cwd=REPO_ROOT,
            env=os.environ.copy(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert "succeeded" in done.stdout
        assert "preload threads alive after the command: []" in done.stdout, done.stdout
        assert "Traceback" not in done.stderr, done.stderr[-3000:]
        assert "atexit" not in done.stderr
