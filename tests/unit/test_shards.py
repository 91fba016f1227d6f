"""A stage's queue is cut into shards of consecutive ids; their results add up."""

from __future__ import annotations

from pressrag.assets.indexing.shards import Shard, ShardResult, cut_shards, summed


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
