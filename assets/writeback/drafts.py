"""The `compose_draft` op of the `write_draft` job: one "Draft with PressRAG" request from
wp-admin → a WordPress draft.

Its run config is the request as WordPress sent it (site, request id, topic, outline, length).
It tells WordPress how far it got (`draft.progress`, best effort), retrieves the site's most
relevant posts through the store's hybrid search, writes prose (chat model) or a research
brief, and has the plugin create the post through `draft.create` — always as a draft, authored
by the user WordPress recorded for the request. `draft.create` is idempotent by request id, so
a step retried after a lost answer creates one post.
"""

import dagster as dg
from pydantic import Field

from pressrag.resources.dagster_resources import StoreResource
from pressrag.resources.errors import PressRAGError
from pressrag.resources.store.sites import get_site
from pressrag.resources.writeback.callbacks import CallbackError, WordPressCallbacks
from pressrag.resources.writeback.dagster_resources import (
    DraftWriterResource,
    WordPressCallbackResource,
)
from pressrag.resources.writeback.drafts import DraftRequest, gather_sources
from pressrag.resources.writeback.summarisers import style_for

SITE_TAG = "pressrag/site"
REQUEST_TAG = "pressrag/draft_request"
MAX_OUTLINE_ITEMS = 12


class DraftConfig(dg.Config):
    """A draft request exactly as WordPress filed it (see docs/writeback.md)."""

    site: str
    request_id: str = Field(pattern=r"^drq_[A-Za-z0-9-]{8,64}$")
    topic: str = Field(min_length=1, max_length=300)
    outline: list[str] = Field(default_factory=list, max_length=MAX_OUTLINE_ITEMS)
    words: int = Field(default=600, ge=150, le=3000)


def progress_message(config: DraftConfig, status: str, message: str) -> dict:
    return {
        "type": "draft.progress",
        "site": config.site,
        "request_id": config.request_id,
        "status": status,
        "message": message,
    }


def tell(context: dg.OpExecutionContext, client: WordPressCallbacks, message: dict) -> None:
    """Progress is a courtesy: a failure to report it is logged, never fatal."""
    try:
        client.send(message)
    except CallbackError as exc:
        context.log.warning(f"could not report progress to WordPress: {exc}")


@dg.op(
    pool="drafts",
    out=dg.Out(dg.Nothing),
    retry_policy=dg.RetryPolicy(
        max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
    ),
    tags={"kind": "wordpress"},
    description="Retrieve the site's most relevant posts and have WordPress create a draft "
    "that cites and links them.",
)
def compose_draft(
    context: dg.OpExecutionContext,
    config: DraftConfig,
    store: StoreResource,
    writer: DraftWriterResource,
    callbacks: WordPressCallbackResource,
):
    db = store.get()
    with db.connection() as conn:
        site = get_site(conn, config.site)
    if site is None:
        raise dg.Failure(description=f"site {config.site!r} is not registered", allow_retries=False)
    try:
        client = callbacks.client_for(site)
        author = writer.get()
    except PressRAGError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    request = DraftRequest(
        topic=" ".join(config.topic.split()),
        outline=tuple(i.strip()[:200] for i in config.outline if i.strip()),
        words=config.words,
        language=style_for(site.settings).language,
    )
    tell(context, client, progress_message(config, "running", "Finding the most relevant posts"))
    try:
        with db.connection() as conn:
            sources = gather_sources(conn, site, writer.query_embedder(), request)
    except PressRAGError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    if not sources:
        raise dg.Failure(description="nothing on the site matches this topic", allow_retries=False)
    context.log.info(f"{len(sources)} sources: {[(s.n, s.wp_id, s.title) for s in sources]}")
    tell(context, client, progress_message(config, "writing", f"Writing from {len(sources)} posts"))
    try:
        draft = author.write(site.id, request, sources)
    except PressRAGError as exc:
        raise dg.Failure(description=str(exc)) from exc  # a model hiccup: retried
    message = {
        "type": "draft.create",
        "site": site.id,
        "request_id": config.request_id,
        "draft": draft.as_payload(),
    }
    try:
        answer = client.send(message)
    except CallbackError as exc:
        raise dg.Failure(description=str(exc), allow_retries=exc.retryable) from exc
    post_id = answer.get("post_id")
    if not isinstance(post_id, int) or post_id <= 0:
        raise dg.Failure(
            description=f"WordPress did not create the draft: {answer.get('status', answer)}",
            allow_retries=False,
        )
    context.log.info(f"draft {post_id} ({answer.get('status')}), {draft.kind}")
    return dg.Output(
        None,
        metadata={
            "post_id": post_id,
            "kind": draft.kind,
            "generator": draft.generator,
            "model": draft.model,
            "sources": [f"[{s.n}] {s.wp_id} {s.title}" for s in sources],
            "wordpress": str(answer.get("status", "")),
        },
    )
