"""A stage's changed documents cut into shards, each shard its own Dagster step.

`extracted_text`, `chunks` and `embeddings` are graph-backed assets of the same shape: a plan
op lists the ids in the stage's queue and yields one dynamic output per shard (a range of
document ids, never the documents), a shard op does the stage's work for the pending
documents in its range, and a last op sums the shards into the asset's materialization. On
the Celery executor the shard steps of a stage run on different workers at once; in process
they run one after another, in larger shards (`shard_documents`). A queue that fits one
shard is one shard, "all", so a webhook's run costs two small steps more per stage, not more
work.

A shard re-reads its queue when it starts, so a retried shard (a killed worker) finds only
what the killed attempt left: every stage records what it finished per document.
"""

# No `from __future__ import annotations`: Dagster reads the ops' config annotations.
import os
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import dagster as dg

from pressrag.assets.indexing.common import IndexConfig, site_of
from pressrag.assets.indexing.failures import StageFailures, failure_metadata
from pressrag.resources.dagster_resources import STEP_OUTPUTS, StoreResource
from pressrag.resources.settings import get_settings
from pressrag.resources.store import Store
from pressrag.resources.store import documents as docs_sql
from pressrag.resources.store.documents import IdRange


class Shard(NamedTuple):
    """The pending documents of a stage whose ids are in `id_range` (None: all of them)."""

    id_range: IdRange | None

    @property
    def key(self) -> str:
        """The dynamic mapping key, so step names say which documents: `chunk_shard[ids_1_500]`."""
        if self.id_range is None:
            return "all"
        return f"ids_{self.id_range[0]}_{self.id_range[1]}"


def cut_shards(ids: Sequence[int], size: int) -> list[Shard]:
    """Consecutive runs of at most `size` of the ascending `ids`; one whole shard if they fit."""
    if len(ids) <= size:
        return [Shard(None)]
    return [Shard((ids[i], ids[min(i + size, len(ids)) - 1])) for i in range(0, len(ids), size)]


@dataclass
class ShardResult:
    """What a shard step hands to the stage's last step (a few numbers, not documents)."""

    counts: dict[str, float] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    quarantined: int = 0
    # Documents whose embedding failed: `publish` must not swap them in.
    failed_ids: list[int] = field(default_factory=list)
    # The same in every shard (the model, its token limit): shown once, not added up.
    facts: dict[str, object] = field(default_factory=dict)

    @classmethod
    def of(
        cls, counts: dict[str, float], failures: StageFailures, **facts: object
    ) -> "ShardResult":
        return cls(
            counts=counts, failed=failures.failed, quarantined=failures.quarantined, facts=facts
        )


def where_it_ran() -> dict[str, str | int]:
    """Shown on every shard step's output: which machine and process did the work."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def summed(results: Sequence[ShardResult]) -> dict[str, object]:
    """The shards' counts added up, their failures listed, and how many shards there were."""
    totals: dict[str, float] = {}
    for result in results:
        for name, value in result.counts.items():
            totals[name] = totals.get(name, 0) + value
    if "duration_seconds" in totals:
        totals["duration_seconds"] = round(totals["duration_seconds"], 3)
    failed = [line for r in results for line in r.failed]
    quarantined = sum(r.quarantined for r in results)
    facts = {k: v for r in results for k, v in r.facts.items()}
    return {**totals, **facts, **failure_metadata(failed, quarantined), "shards": len(results)}


# In process the shards of a stage run one after another, so each one more costs its step's
# overhead and gains nothing: 500-document shards spent 3.3–3.5 s of a 5,000-document run in
# Dagster itself, 2,000-document ones 1.9–2.1 s (docs/performance.md). Executors that run
# steps at once (Celery, multiprocess) get smaller shards, to spread a site over workers.
SHARD_DOCUMENTS_IN_PROCESS = 2000
SHARD_DOCUMENTS_AT_ONCE = 500
# `dg.materialize` and `execute_in_process` run on the second.
IN_PROCESS_EXECUTORS = frozenset({"in_process", "execute_in_process_executor"})


def shard_documents(executor: str) -> int:
    """Documents a shard holds at most: `PRESSRAG_INDEX_SHARD_DOCUMENTS` when set, else by
    whether the run's executor (its definition's name) runs steps one at a time."""
    configured = get_settings().index_shard_documents
    if configured is not None:
        return configured
    return (
        SHARD_DOCUMENTS_IN_PROCESS if executor in IN_PROCESS_EXECUTORS else SHARD_DOCUMENTS_AT_ONCE
    )


def shard_outputs(
    context: dg.OpExecutionContext, store: Store, site_id: str, stage: str, force: bool
) -> Iterator[dg.DynamicOutput[Shard]]:
    """One dynamic output per shard of `stage`'s queue (docs_sql stage name)."""
    with store.connection() as conn:
        ids = docs_sql.pending_ids(conn, site_id, stage, force=force)
    size = shard_documents(context.job_def.executor_def.name)
    shards = cut_shards(ids, size)
    context.log.info(
        f"{stage}: {len(ids)} documents of {site_id} in {len(shards)} shard(s) of ≤ {size}"
    )
    for shard in shards:
        yield dg.DynamicOutput(shard, mapping_key=shard.key)


def shard_out() -> dg.DynamicOut:
    return dg.DynamicOut(Shard, io_manager_key=STEP_OUTPUTS)


def result_out() -> dg.Out:
    return dg.Out(ShardResult, io_manager_key=STEP_OUTPUTS)


def plan_op(name: str, stage: str) -> dg.OpDefinition:
    """The op that cuts `stage`'s queue into shards."""

    @dg.op(name=name, ins={"after": dg.In(dg.Nothing)}, out=shard_out())
    def plan(
        context: dg.OpExecutionContext, config: IndexConfig, store: StoreResource
    ) -> Iterator[dg.DynamicOutput[Shard]]:
        db = store.get()
        site = site_of(context, db)
        force = config.force_reembed and stage != "extract"
        yield from shard_outputs(context, db, site.id, stage, force)

    return plan


def sum_op(name: str) -> dg.OpDefinition:
    """The op that sums a stage's shard results into the asset's materialization."""

    @dg.op(name=name, out=dg.Out(dg.Nothing))
    def sum_shards(
        context: dg.OpExecutionContext, config: IndexConfig, shards: list[ShardResult]
    ) -> None:
        context.add_output_metadata(summed(shards))

    return sum_shards


def stage_config(*op_names: str) -> dg.ConfigMapping:
    """The stage asset takes the same `IndexConfig` as the other assets (run config
    `ops: {extracted_text: {config: …}}`) and hands it to each of its ops."""

    @dg.config_mapping
    def to_ops(config: IndexConfig) -> dict:
        return {name: {"config": config.model_dump()} for name in op_names}

    return to_ops
