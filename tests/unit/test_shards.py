"""A stage's queue is cut into shards of consecutive ids; their results add up."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pytest
from dagster_celery import celery_executor

from pressrag.assets.indexing.shards import (
    Shard,
    ShardResult,
    cut_shards,
    shard_documents,
    summed,
)
from pressrag.resources.settings import get_settings


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_queue_that_fits_is_one_shard_of_everything() -> None:
    assert cut_shards([], 3) == [Shard(None)]
    assert cut_shards([4, 9, 11], 3) == [Shard(None)]
    assert Shard(None).key == "all"


def test_a_longer_queue_is_cut_into_ranges_covering_every_id_once() -> None:
    ids = [2, 3, 5, 8, 13, 21, 34]
    shards = cut_shards(ids, 3)
    assert shards == [Shard((2, 5)), Shard((8, 21)), Shard((34, 34))]
    assert [s.key for s in shards] == ["ids_2_5", "ids_8_21", "ids_34_34"]
    covered = [i for i in ids for s in shards if s.id_range[0] <= i <= s.id_range[1]]
    assert covered == ids


def test_shard_results_add_up_and_list_every_failure() -> None:
    results = [
        ShardResult({"chunks": 3, "duration_seconds": 0.1234}, ["7 'a': ValueError: x"], 1),
        ShardResult({"chunks": 4, "duration_seconds": 0.2}, facts={"max_tokens": 256}),
    ]
    total = summed(results)
    assert (total["chunks"], total["duration_seconds"], total["shards"]) == (7, 0.323, 2)
    assert (total["failed"], total["quarantined"], total["max_tokens"]) == (1, 1, 256)
    assert "7 'a': ValueError: x" in total["failures"].value


def test_shards_are_larger_where_steps_run_one_after_another(
    monkeypatch: pytest.MonkeyPatch, fresh_settings: None
) -> None:
    """In process a shard costs its step's overhead and nothing else; executors that run steps
    at once spread smaller shards over their workers. The setting, when given, wins."""
    seen: dict[str, str] = {}

    @dg.asset
    def executor_name(context) -> None:  # unannotated: this module's annotations are strings
        seen["name"] = context.op_execution_context.job_def.executor_def.name

    monkeypatch.delenv("PRESSRAG_INDEX_SHARD_DOCUMENTS", raising=False)
    assert dg.materialize([executor_name]).success  # as tests and benchmarks run
    assert dg.in_process_executor.name == "in_process"  # Definitions' default executor
    for in_process in (seen["name"], dg.in_process_executor.name):
        assert shard_documents(in_process) == 2000
    for at_once in (celery_executor.name, dg.multiprocess_executor.name):
        assert shard_documents(at_once) == 500

    monkeypatch.setenv("PRESSRAG_INDEX_SHARD_DOCUMENTS", "250")
    get_settings.cache_clear()
    assert shard_documents(seen["name"]) == shard_documents(celery_executor.name) == 250
