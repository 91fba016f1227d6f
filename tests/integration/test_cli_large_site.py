"""`pressrag index` of a site large enough for the worker processes (resources/cpu_pool.py):
through the instance, its run worker is itself a multiprocessing child, and the command must
still end with the run, leaving no process behind that holds its output open.

The ~0-cost embedder (a local server speaking OpenAI's API): what is tested is the run's end.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pressrag.resources.cpu_pool import MIN_ITEMS
from tests.conftest import PressragEnv, environment, private_pressrag_env
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_wordpress import FakeWordPress

pytestmark = pytest.mark.integration
CLI = str(Path(sys.executable).with_name("pressrag"))
POSTS = MIN_ITEMS + 50


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PressragEnv]:
    with (
        FakeOpenAI(default_dimension=384) as openai,
        private_pressrag_env(tmp_path_factory, "cli-large-home") as env,
        environment(
            PRESSRAG_EMBEDDER="openai",
            PRESSRAG_OPENAI_BASE_URL=openai.base_url,
            PRESSRAG_OPENAI_API_KEY="sk-test-not-a-key",
            PRESSRAG_OPENAI_EMBED_DIMENSIONS="384",
            PRESSRAG_INDEX_PROCESSES="2",
        ),
    ):
        yield env


def test_an_index_on_worker_processes_ends_with_its_run(env: PressragEnv) -> None:
    with FakeWordPress() as wordpress:
        for n in range(POSTS):
            text = "The lamp turns at dusk. " * (n % 30 + 1)
            wordpress.upsert(
                {"title": f"Lighthouse {n}", "content": f"<h2>Keeper {n}</h2><p>{text}</p>"}
            )
        added = subprocess.run(
            [CLI, "sites", "add", "large", "--url", wordpress.base_url],
            capture_output=True,
            text=True,
        )
        assert added.returncode == 0, added.stderr
        # Output captured to its end: every process that inherited it must have exited.
        index = subprocess.run(
            [CLI, "index", "--site", "large"], capture_output=True, text=True, timeout=240
        )
    assert index.returncode == 0, index.stdout[-3000:] + index.stderr[-3000:]
    assert f"'documents_on_workers': {POSTS}" in index.stdout  # the chunks step's figures
    assert "did not exit" not in index.stderr, index.stderr
    assert f"'documents_indexed': {POSTS}" in index.stdout
