"""Answer generators: turn a question and numbered retrieved passages into a cited answer.

Two implementations share one streaming interface (`Answerer.stream` yields `Delta`s, then
one `Final`): an offline **extractive** answerer (the default) and an **OpenAI** (or any
OpenAI-compatible endpoint) answerer. Both guarantee that every `[n]` marker in the text
refers to a passage they were given, and report which passages they actually cited.
"""

from __future__ import annotations

from pressrag.resources.answerers.base import (
    NOT_FOUND_TEXT,
    Answer,
    Answerer,
    AnswerUnavailable,
    Delta,
    Final,
    Passage,
    Question,
    Reset,
    collect,
    passages_from_hits,
    retrieval_too_weak,
)
from pressrag.resources.answerers.citations import CitationFilter, strip_invalid_markers
from pressrag.resources.answerers.followup import Rewrite, Turn, is_follow_up, standalone_question
from pressrag.resources.embedders import Embedder
from pressrag.resources.settings import Settings

__all__ = [
    "NOT_FOUND_TEXT",
    "Answer",
    "AnswerUnavailable",
    "Answerer",
    "CitationFilter",
    "Delta",
    "Final",
    "Passage",
    "Question",
    "Reset",
    "Rewrite",
    "Turn",
    "collect",
    "is_follow_up",
    "make_answerer",
    "passages_from_hits",
    "retrieval_too_weak",
    "standalone_question",
    "strip_invalid_markers",
]


def make_answerer(settings: Settings, embedder: Embedder, *, max_tokens: int = 400) -> Answerer:
    """The answerer `settings.answerer` names. OpenAI needs `PRESSRAG_OPENAI_API_KEY`."""
    if settings.answerer == "openai":
        from pressrag.resources.answerers.openai import OpenAIAnswerer

        return OpenAIAnswerer.from_settings(settings, max_tokens=max_tokens)
    from pressrag.resources.answerers.extractive import ExtractiveAnswerer

    return ExtractiveAnswerer(embedder)
