"""Dagster resources of the write-back: generators and the signed callback client.

Which generator runs follows the same setting as answers (`PRESSRAG_ANSWERER=openai` with
`PRESSRAG_OPENAI_*`): one chat model per deployment. Every model call is reported to
`resources.usage.usage_recorder()`, the usage ledger's seam. The chat model's key is an
`EnvVar` and the webhook secrets that sign callbacks come from the secret store: neither is
ever in run config or shown by the Dagster UI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self, TypeVar

import dagster as dg
from pydantic import Field

from pressrag.resources.dagster_resources import (
    HOME_DESCRIPTION,
    HOME_ENV,
    OPENAI_API_KEY_ENV,
    EmbedderResource,
)
from pressrag.resources.embedders import Embedder
from pressrag.resources.errors import ConfigError
from pressrag.resources.secrets import SecretStore
from pressrag.resources.settings import Settings
from pressrag.resources.store.sites import Site
from pressrag.resources.usage import usage_recorder
from pressrag.resources.writeback.callbacks import WordPressCallbacks
from pressrag.resources.writeback.chat_model import ChatModelWriter
from pressrag.resources.writeback.drafts import ChatDraftWriter, DraftWriter, ResearchBriefWriter
from pressrag.resources.writeback.summarisers import (
    ChatSummariser,
    ExtractiveSummariser,
    Summariser,
)

W = TypeVar("W", bound=ChatModelWriter)


class ChatModelResource(dg.ConfigurableResource):
    """The chat model's configuration, shared by the summariser and the draft writer, and the
    index's embedder (the local model of the extractive summariser, the draft's queries)."""

    embedder: EmbedderResource
    answerer: Literal["extractive", "openai"] = "extractive"
    chat_model: str = "gpt-4o-mini"
    openai_base_url: str | None = None
    # An EnvVar, set only when `answerer` is openai.
    openai_api_key: str | None = None
    openai_timeout: float = 30.0
    openai_max_retries: int = 4

    @classmethod
    def from_settings(cls, settings: Settings, embedder: EmbedderResource) -> Self:
        openai = settings.answerer == "openai"
        return cls(
            embedder=embedder,
            answerer=settings.answerer,
            chat_model=settings.openai_chat_model,
            openai_base_url=settings.openai_base_url,
            openai_api_key=dg.EnvVar(OPENAI_API_KEY_ENV) if openai else None,
            openai_timeout=settings.openai_timeout,
            openai_max_retries=settings.openai_max_retries,
        )

    def _chat(self, writer: type[W]) -> W:
        if not self.openai_api_key:
            raise ConfigError(f"a chat-model {writer.what} needs {OPENAI_API_KEY_ENV}")
        return writer(
            api_key=self.openai_api_key,
            model=self.chat_model,
            recorder=usage_recorder(),
            base_url=self.openai_base_url,
            timeout=max(self.openai_timeout, writer.min_timeout),
            max_retries=self.openai_max_retries,
        )


class SummariserResource(ChatModelResource):
    """The chat model when configured, else the extractive summariser on the local model."""

    def get(self) -> Summariser:
        """The extractive summariser always uses the local model: it never calls a paid
        endpoint, whatever embeds the index (and loads the model only in that case)."""
        if self.answerer == "openai":
            return self._chat(ChatSummariser)
        return ExtractiveSummariser(self.embedder.local_onnx(), usage_recorder())


class DraftWriterResource(ChatModelResource):
    """Prose from the chat model when configured, else a research brief; and the embedder
    for its retrieval queries (the index's model)."""

    def get(self) -> DraftWriter:
        if self.answerer == "openai":
            return self._chat(ChatDraftWriter)
        return ResearchBriefWriter()

    def query_embedder(self) -> Embedder:
        if self.embedder.kind == "local":
            return self.embedder.local_onnx()
        return self.embedder.get()


class WordPressCallbackResource(dg.ConfigurableResource):
    """Signed callbacks to a site's plugin (`…/?rest_route=/pressrag/v1/callback`)."""

    home: str = Field(default=dg.EnvVar(HOME_ENV), description=HOME_DESCRIPTION)
    timeout_seconds: float = 30.0

    def client_for(self, site: Site) -> WordPressCallbacks:
        if site.source_kind != "rest":
            raise ConfigError(
                f"site {site.id} is read from a WXR file: there is no WordPress to call"
            )
        secrets = SecretStore(Path(self.home)).get_many(site.webhook_key_ids)
        if not secrets:
            raise ConfigError(
                f"site {site.id} has no webhook secret to sign callbacks with "
                f"(`pressrag sites add {site.id} --url …` makes one)"
            )
        return WordPressCallbacks(
            site_id=site.id,
            base_url=site.base_url,
            secrets=tuple(secrets),
            timeout=self.timeout_seconds,
        )
