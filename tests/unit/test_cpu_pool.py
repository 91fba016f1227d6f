"""A large stage's per-document work on worker processes (resources/cpu_pool.py): the same
results in the same order as in process, one item's failure kept to that item, a dead worker
costing nothing, and small stages left in process."""

from __future__ import annotations

import multiprocessing
import multiprocessing.queues
import os
import pickle
import time
from pathlib import Path

from pressrag.assets.transforms.chunking import Chunker
from pressrag.assets.transforms.cleaning import post_text
from pressrag.resources.cpu_pool import MIN_CHARACTERS, MIN_ITEMS, Failed, map_each
from pressrag.resources.tokenization import default_counter

MAIN = os.getpid()


def where(item: int) -> tuple[int, int]:
    """The item and the process that handled it."""
    return item, os.getpid()


def slowly_where(item: int) -> tuple[int, int]:
    """`where`, slow enough (5 ms) that every worker takes tasks, however loaded the machine."""
    time.sleep(0.005)
    return where(item)


def long_document_where(item: int) -> tuple[int, int]:
    """`where` at 50 ms an item: a long page's share of work, ~1 s for twenty, enough for a
    second worker to start and take tasks."""
    time.sleep(0.05)
    return where(item)


def fail_on_sevens(item: int) -> int:
    if item % 7 == 0:
        raise ValueError(f"item {item} is a multiple of seven")
    return item * 2


class Unpicklable(Exception):
    def __init__(self, item: int, reason: str) -> None:  # two arguments: pickling breaks
        super().__init__(f"{item}: {reason}")
        self.handle = lambda: None


def fail_unpicklably(item: int) -> int:
    if item == 5:
        raise Unpicklable(item, "no way back")
    return item


def die_on_ten(item: int) -> tuple[int, int]:
    """Kills the worker process that gets item 10 (never the test's own process)."""
    if item == 10 and multiprocessing.parent_process() is not None:
        os._exit(1)
    return item, os.getpid()


def test_many_items_run_on_workers_in_order() -> None:
    items = list(range(MIN_ITEMS + 50))
    outcomes = map_each(slowly_where, items, processes=2)
    results = list(outcomes)
    assert [item for item, _ in results] == items
    assert outcomes.on_workers == len(items)
    pids = {pid for _, pid in results}
    assert MAIN not in pids
    assert len(pids) == 2  # both workers took tasks


def test_few_items_or_one_process_stay_here() -> None:
    few = map_each(where, list(range(MIN_ITEMS - 1)), processes=2)
    one = map_each(where, list(range(MIN_ITEMS + 1)), processes=1)
    assert {pid for _, pid in [*few, *one]} == {MAIN}
    assert few.on_workers == one.on_workers == 0


def test_few_long_documents_run_on_both_workers() -> None:
    """Twenty long pages are as much work as hundreds of short posts: they go to the workers,
    both of which get some (few items a task); the same twenty short stay here."""
    items = list(range(20))
    long = map_each(long_document_where, items, processes=2, characters=MIN_CHARACTERS)
    results = list(long)
    assert [item for item, _ in results] == items
    assert long.on_workers == len(items)
    assert len({pid for _, pid in results} - {MAIN}) == 2
    short = map_each(where, items, processes=2, characters=MIN_CHARACTERS - 1)
    assert {pid for _, pid in short} == {MAIN}


def test_what_cannot_be_sent_runs_here() -> None:
    offset = 3
    results = list(map_each(lambda i: (i + offset, os.getpid()), range(MIN_ITEMS), processes=2))
    assert results == [(i + offset, MAIN) for i in range(MIN_ITEMS)]


def test_a_failing_item_fails_alone() -> None:
    items = list(range(1, MIN_ITEMS + 1))
    results = list(map_each(fail_on_sevens, items, processes=2))
    for item, result in zip(items, results, strict=True):
        if item % 7 == 0:
            assert isinstance(result, Failed)
            assert isinstance(result.error, ValueError)
            assert str(result.error) == f"item {item} is a multiple of seven"
        else:
            assert result == item * 2


def test_an_error_that_cannot_travel_comes_back_described() -> None:
    results = list(map_each(fail_unpicklably, list(range(MIN_ITEMS)), processes=2))
    failed = results[5]
    assert isinstance(failed, Failed)
    assert str(failed.error) == "Unpicklable: 5: no way back"
    assert results[:5] + results[6:] == [i for i in range(MIN_ITEMS) if i != 5]


def test_a_dead_worker_loses_nothing_and_the_next_map_has_workers_again() -> None:
    items = list(range(MIN_ITEMS + 50))
    outcomes = map_each(die_on_ten, items, processes=2)
    results = list(outcomes)
    assert [item for item, _ in results] == items
    assert dict(results)[10] == MAIN  # redone here after the worker died
    here = sum(pid == MAIN for _, pid in results)
    assert outcomes.on_workers == len(items) - here < 10
    again = list(map_each(where, items, processes=2))
    assert MAIN not in {pid for _, pid in again}


def test_chunks_made_on_workers_are_the_ones_made_here() -> None:
    counter = default_counter()
    chunker = Chunker(count_tokens=counter.count, max_tokens=counter.max_tokens)
    assert pickle.loads(pickle.dumps(counter)) is counter  # one tokenizer per process
    documents = [
        (
            f"Post {n}",
            post_text(
                f"<h2>Part {n}</h2>"
                + "".join(
                    f"<p>Paragraph {p} of post {n}: {'lorem ipsum dolor sit amet ' * (n % 40)}</p>"
                    for p in range(n % 9 + 1)
                )
            ),
        )
        for n in range(MIN_ITEMS + 20)
    ]
    here = list(map_each(chunker, documents, processes=1))
    on_workers = list(map_each(chunker, documents, processes=2))
    assert on_workers == here
    assert sum(len(drafts) for drafts in here) > len(documents)  # long posts made several


def _map_on_workers() -> None:
    assert all(
        pid != os.getpid() for _, pid in map_each(where, list(range(MIN_ITEMS)), processes=2)
    )


def test_a_multiprocessing_child_that_used_workers_still_exits() -> None:
    """A run worker is a multiprocessing child (forked from the code server's forkserver), and
    multiprocessing joins a child's children before executors are stopped: its workers kept
    every run worker, and so `pressrag index`, from ever ending."""
    child = multiprocessing.get_context("forkserver").Process(target=_map_on_workers)
    child.start()
    child.join(timeout=60)
    hung = child.is_alive()
    if hung:
        child.kill()
    assert not hung and child.exitcode == 0


def _map_and_wait(pids: multiprocessing.queues.Queue) -> None:
    pids.put({pid for _, pid in map_each(slowly_where, list(range(MIN_ITEMS)), processes=2)})
    time.sleep(120)  # killed meanwhile


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def test_workers_end_when_the_process_that_started_them_is_killed() -> None:
    """A run worker killed mid-step (the fault suite's first scenario) left its workers
    waiting for tasks forever."""
    context = multiprocessing.get_context("forkserver")
    pids = context.Queue()
    child = context.Process(target=_map_and_wait, args=(pids,))
    child.start()
    workers = pids.get(timeout=60)
    assert len(workers) == 2 and not any(_gone(pid) for pid in workers)
    child.kill()
    child.join()
    deadline = time.monotonic() + 20
    while not all(_gone(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(_gone(pid) for pid in workers)
