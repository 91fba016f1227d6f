"""Summary generators: the configured OpenAI-compatible chat model, else an extractive one.

`ExtractiveSummariser` (the embedded default, no endpoint needed) picks a document's most
central sentences with the local embedding model: each prose sentence is scored by its cosine
to the document's centroid (what the text is mostly about) and to its title, sentences are
chosen greedily while penalising repetition of one already chosen (maximal marginal
relevance), up to the word budget, and printed in document order. It writes nothing of its
own, so it is labelled `extractive` wherever a summary is shown.

`ChatSummariser` asks the chat model for a plain-text summary of the requested length and
language, confined to the page's own facts; the official client's own retry policy handles
429/5xx and timeouts.

Both report every call to the usage seam (`resources.usage`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from pressrag.resources.answerers.extractive import split_sentences
from pressrag.resources.embedders import Embedder
from pressrag.resources.errors import PressRAGError
from pressrag.resources.usage import UsageRecorder, metered
from pressrag.resources.writeback.chat_model import ChatModelWriter

MAX_CANDIDATES = 80  # sentences considered per document: bounds the embedding cost
MAX_PROMPT_CHARS = 24_000  # of document text sent to a chat model (~6k tokens)
REDUNDANCY = 0.6  # weight of the similarity to a sentence already chosen
TITLE_WEIGHT = 0.3
_WORD = re.compile(r"\S+")


class SummaryError(PressRAGError):
    """A document could not be summarised (recorded on its summary row; the run goes on)."""


@dataclass(frozen=True)
class SummaryStyle:
    """What a site asks of its summaries (`sites.settings`, see docs/writeback.md)."""

    words: int = 60  # target length
    min_words: int = 80  # documents shorter than this get no summary
    language: str | None = None  # None: the document's own language


def style_for(site_settings: dict) -> SummaryStyle:
    """A site's summary settings (`summary_words`, `summary_min_words`, `summary_language` in
    `sites.settings`), within sane bounds; defaults where unset."""
    words = int(site_settings.get("summary_words") or SummaryStyle.words)
    min_words = site_settings.get("summary_min_words")
    language = str(site_settings.get("summary_language") or "").strip() or None
    return SummaryStyle(
        words=max(20, min(400, words)),
        min_words=max(0, int(SummaryStyle.min_words if min_words is None else min_words)),
        language=language[:40] if language else None,
    )


@dataclass(frozen=True)
class SummaryInput:
    title: str
    text: str
    language: str | None = None  # the document's, when WordPress tells it


@dataclass(frozen=True)
class Summary:
    text: str
    language: str | None
    input_tokens: int = 0
    output_tokens: int = 0


class Summariser(Protocol):
    generator: str  # "extractive" | "openai": shown with every summary
    model: str

    def summarise(self, site_id: str, doc: SummaryInput, style: SummaryStyle) -> Summary: ...


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def _trim_words(text: str, limit: int) -> str:
    words = text.split()
    return text if len(words) <= limit else " ".join(words[:limit]).rstrip(",;:") + " …"


class ExtractiveSummariser:
    generator = "extractive"

    def __init__(self, embedder: Embedder, recorder: UsageRecorder) -> None:
        self.embedder = embedder
        self.model = embedder.model_id
        self.recorder = recorder

    def summarise(self, site_id: str, doc: SummaryInput, style: SummaryStyle) -> Summary:
        sentences = candidate_sentences(doc.text)
        if not sentences:
            raise SummaryError("no prose sentences to pick (only code, lists or headings)")
        with metered(
            self.recorder,
            site_id=site_id,
            purpose="summary_embedding",
            provider="local",
            model=self.model,
        ) as meter:
            vectors = self.embedder.embed([doc.title or sentences[0], *sentences])
            meter.input_tokens = sum(self.embedder.count_tokens(s) for s in sentences)
        chosen = select_central(vectors[0], vectors[1:], [word_count(s) for s in sentences], style)
        text = " ".join(sentences[i] for i in chosen)
        return Summary(_trim_words(text, style.words * 3 // 2), style.language or doc.language)


_BULLET = re.compile(r"^(?:[*+-]|\d+[.)])\s+")


def candidate_sentences(text: str) -> list[str]:
    """Prose sentences that can stand alone (no list bullets, no lead-ins ending in ":"), at
    most MAX_CANDIDATES spread evenly over the document, in order."""
    pieces = (_BULLET.sub("", s) for s in split_sentences(text))
    sentences = list(dict.fromkeys(s for s in pieces if not s.endswith(":")))
    if len(sentences) <= MAX_CANDIDATES:
        return sentences
    picks = np.linspace(0, len(sentences) - 1, MAX_CANDIDATES).round().astype(int)
    return [sentences[i] for i in sorted(set(picks.tolist()))]


def select_central(
    title_vector: np.ndarray, vectors: np.ndarray, lengths: list[int], style: SummaryStyle
) -> list[int]:
    """Indexes of the chosen sentences, in document order (pure: unit-tested)."""
    centroid = vectors.mean(axis=0)
    centroid /= np.linalg.norm(centroid) or 1.0
    relevance = vectors @ centroid + TITLE_WEIGHT * (vectors @ title_vector)
    chosen: list[int] = []
    budget = style.words
    open_ = np.ones(len(vectors), dtype=bool)
    while open_.any():
        scores = relevance.copy()
        if chosen:
            scores -= REDUNDANCY * (vectors @ vectors[chosen].T).max(axis=1)
        scores[~open_] = -np.inf
        best = int(np.argmax(scores))  # ties: the earlier sentence
        open_[best] = False
        if chosen and lengths[best] > budget:
            continue  # too long for what is left; a shorter one may still fit
        chosen.append(best)
        budget -= lengths[best]
        if budget <= 0:
            break
    return sorted(chosen)


SYSTEM_PROMPT = (
    "You write the summary of one page of a website, for the site's editors and readers. "
    "Rules: use only facts stated in the page; write {words} words or fewer; write in "
    "{language}; plain prose in one paragraph, without headings, lists, quotation marks around "
    "the whole text, or any preamble such as 'This page'."
)


def build_messages(doc: SummaryInput, style: SummaryStyle) -> list[dict[str, str]]:
    language = style.language or doc.language or "the language the page is written in"
    system = SYSTEM_PROMPT.format(words=style.words, language=language)
    user = f"Title: {doc.title}\n\n{doc.text[:MAX_PROMPT_CHARS]}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


class ChatSummariser(ChatModelWriter):
    purpose = "summary"
    what = "summariser"
    error = SummaryError

    def summarise(self, site_id: str, doc: SummaryInput, style: SummaryStyle) -> Summary:
        completion = self.complete(
            site_id, build_messages(doc, style), max_tokens=style.words * 3 + 50, temperature=0.2
        )
        text = " ".join(completion.text.split()).strip('"“” ')
        if not text:
            raise SummaryError("the chat model returned no text")
        return Summary(
            _trim_words(text, style.words * 3 // 2),
            style.language or doc.language,
            completion.input_tokens,
            completion.output_tokens,
        )
