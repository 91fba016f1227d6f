"""Every Dagster resource of the code location, configured in one place.

The values come from the project's `Settings` (their defaults and `PRESSRAG_*` overrides);
secrets and the database URL are `EnvVar`s, resolved where a step or sensor runs. Every process
that loads the definitions (the code server, a run worker, a Celery worker) builds them from
its own settings, as each process always has.
"""

from __future__ import annotations

from functools import cache

import dagster as dg

from pressrag.resources.dagster_resources import (
    STEP_OUTPUTS,
    EmbedderResource,
    PostgresIOManager,
    StoreResource,
    WordPressResource,
)
from pressrag.resources.settings import Settings, get_settings
from pressrag.resources.writeback.dagster_resources import (
    DraftWriterResource,
    SummariserResource,
    WordPressCallbackResource,
)


def configured_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """Resources by key, the store shared by those that need it.

    The write-back's generators get the index's embedder configuration without its preload:
    a nested resource is set up with its parent, and a summary or draft run must not start
    loading a model its chat model may never need.
    """
    store = StoreResource()
    generators_embedder = EmbedderResource.from_settings(settings, preload=False)
    return {
        "store": store,
        "embedder": EmbedderResource.from_settings(settings),
        "wordpress": WordPressResource(store=store),
        STEP_OUTPUTS: PostgresIOManager(store=store),
        "summariser": SummariserResource.from_settings(settings, generators_embedder),
        "writer": DraftWriterResource.from_settings(settings, generators_embedder),
        "callbacks": WordPressCallbackResource(),
    }


@cache
def code_location_resources() -> dict[str, dg.ConfigurableResource]:
    """This process's resources: every domain's `Definitions` takes its own from here."""
    return configured_resources(get_settings())
