"""A pytest plugin: the longest test files are collected first.

With `--dist loadfile` a worker takes the next file when it is free. xdist's default order
(files with the most tests first) put the long files with few tests — the freshness,
fault and e2e tiers — last, so the run ended with one worker on a long file and the other
idle. Longest first keeps both busy to the end. The order is CI's "test files by time"
table (tests/support/file_times.py); files not named here follow in collection order.
"""

from __future__ import annotations

import pytest

LONGEST_FIRST = (
    "tests/integration/test_freshness.py",
    "tests/faults/test_fault_suite.py",
    "tests/integration/test_indexing.py",
    "tests/e2e/test_e2e_site.py",
    "tests/e2e/test_writeback_e2e.py",
    "tests/integration/test_cli_runs.py",
    "tests/integration/test_serving_api.py",
    "tests/integration/test_gateway.py",
    "tests/integration/test_embedding_failover.py",
    "tests/integration/test_celery.py",
    "tests/integration/test_installed_package.py",
    "tests/integration/test_poison_isolation.py",
    "tests/integration/test_search_quality.py",
    "tests/e2e/test_wordpress_harness.py",
    "tests/integration/test_onnx_embedder.py",
)
_RANK = {path: rank for rank, path in enumerate(LONGEST_FIRST)}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A stable sort: each file's tests keep their order and stay together.
    items.sort(key=lambda item: _RANK.get(item.nodeid.split("::", 1)[0], len(_RANK)))
