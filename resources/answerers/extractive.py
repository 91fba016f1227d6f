"""The offline answerer: the question's most relevant sentences from the top passages.

Sentences of the best few passages are embedded with the same model as the index and
ranked by cosine similarity to the question, with a small bonus for sharing the question's
words and a small penalty per retrieval rank. The best sentence of passage 1 always leads
(retrieval already judged that passage best, and the chat shows citation [1] first); up to
`max_sentences - 1` more sentences follow if they score close to the best. Each sentence is
followed by its passage's `[n]`, so every claim is cited and no marker can dangle.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from pressrag.resources.answerers.base import (
    Answer,
    AnswerEvent,
    Delta,
    Final,
    Passage,
    Question,
    collect,
)
from pressrag.resources.answerers.followup import Rewrite, Turn, standalone_question
from pressrag.resources.embedders import Embedder, EmbeddingUnavailable

log = logging.getLogger(__name__)

# Sentence ends: . ! ? followed by space and something that starts a sentence; plus
# line breaks, which separate list items and headings in chunk text.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[A-Z0-9`])|\n+")
_WORD = re.compile(r"[a-z0-9_]+")
_STOP_WORDS = (
    "a an and are as at be by can do does for from how i in is it of on or that the this "
    "to was what when where which who why will with you your"
)
_STOP = frozenset(_STOP_WORDS.split())
MIN_SENTENCE_CHARS = 20
MAX_SENTENCE_CHARS = 400


@dataclass(frozen=True)
class _Candidate:
    passage: Passage
    position: int
    text: str
    score: float


_FINISHED = re.compile(r"[.!?:][\"')\]]?$")


def is_prose(sentence: str) -> bool:
    """Reject code (REPL prompts, mostly symbols), scraps too short to say anything, and
    unfinished pieces (a line of a list, a heading, or a line broken out of a PDF)."""
    if sentence.startswith((">>>", "...", "$ ", "#", "//")):
        return False
    if not _FINISHED.search(sentence):
        return False
    if len(sentence.split()) < 5:
        return False
    letters = sum(ch.isalpha() or ch.isspace() for ch in sentence)
    return letters >= 0.8 * len(sentence)


def split_sentences(text: str) -> list[str]:
    """Prose sentences of a chunk. A chunk's first piece starting in lower case is the tail
    of a sentence cut by the chunker's overlap, not a sentence: skipped."""
    sentences = []
    for i, raw in enumerate(_SENTENCE_END.split(text)):
        sentence = " ".join(raw.split())
        if len(sentence) < MIN_SENTENCE_CHARS or not is_prose(sentence):
            continue
        first_letter = next((ch for ch in sentence if ch.isalpha()), "")
        if i == 0 and first_letter.islower():
            continue
        if len(sentence) > MAX_SENTENCE_CHARS:
            sentence = sentence[:MAX_SENTENCE_CHARS].rsplit(" ", 1)[0] + " …"
        sentences.append(sentence)
    return sentences


def _normalized(sentence: str) -> str:
    return " ".join(_WORD.findall(sentence.lower()))


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1}


class ExtractiveAnswerer:
    mode = "extractive"

    def __init__(
        self,
        embedder: Embedder,
        *,
        passages_considered: int = 3,
        max_sentences: int = 3,
        keep_within: float = 0.12,
        lexical_weight: float = 0.15,
        rank_penalty: float = 0.03,
        lead_in_penalty: float = 0.05,
        sentence_cache_size: int = 20_000,
    ) -> None:
        self.embedder = embedder
        self.passages_considered = passages_considered
        self.max_sentences = max_sentences
        self.keep_within = keep_within  # extra sentences must score within this of the best
        self.lexical_weight = lexical_weight
        self.rank_penalty = rank_penalty
        # A sentence ending in ":" introduces code or a list the answer will not show.
        self.lead_in_penalty = lead_in_penalty
        # Chunk sentences repeat across questions (the same top chunks come back), and
        # embedding them is most of an answer's cost: keep their vectors.
        self._sentence_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = sentence_cache_size
        self._lock = threading.Lock()

    def _question_vector(self, question: Question) -> np.ndarray:
        if question.vector is not None:
            return np.asarray(question.vector, dtype=np.float32)
        return self.embedder.embed([question.text])[0]

    def _embed_sentences(self, sentences: list[str]) -> np.ndarray:
        with self._lock:
            known = {s: self._sentence_vectors.get(s) for s in sentences}
        missing = list(dict.fromkeys(s for s, v in known.items() if v is None))
        if missing:
            fresh = self.embedder.embed(missing)
            with self._lock:
                for sentence, vector in zip(missing, fresh, strict=True):
                    known[sentence] = vector
                    self._sentence_vectors[sentence] = vector
                while len(self._sentence_vectors) > self._cache_size:
                    self._sentence_vectors.popitem(last=False)
        return np.stack([known[s] for s in sentences])

    def _cosines(self, question: Question, sentences: list[str]) -> np.ndarray:
        """Each sentence's cosine to the question; zeros when no provider can embed (the
        question embedder's chain is down: the answer still comes, ranked by shared words)."""
        try:
            return self._embed_sentences(sentences) @ self._question_vector(question)
        except EmbeddingUnavailable as exc:
            log.warning("sentences not embedded (%s): ranking them by their words", exc)
            return np.zeros(len(sentences), dtype=np.float32)

    def _candidates(self, question: Question, passages: Sequence[Passage]) -> list[_Candidate]:
        pieces = [
            (p, i, s)
            for p in passages[: self.passages_considered]
            for i, s in enumerate(split_sentences(p.text))
        ]
        if not pieces:
            return []
        cosines = self._cosines(question, [s for _, _, s in pieces])
        q_words = _content_words(question.text)
        out = []
        for (passage, position, sentence), cosine in zip(pieces, cosines, strict=True):
            overlap = len(q_words & _content_words(sentence)) / max(1, len(q_words))
            score = (
                float(cosine)
                + self.lexical_weight * overlap
                - self.rank_penalty * (passage.n - passages[0].n)
                - (self.lead_in_penalty if sentence.endswith(":") else 0.0)
            )
            out.append(_Candidate(passage, position, sentence, score))
        return out

    def select(self, question: Question, passages: Sequence[Passage]) -> list[_Candidate]:
        """The chosen sentences, in passage order then text order."""
        candidates = self._candidates(question, passages)
        if not candidates:
            return []
        ranked = sorted(candidates, key=lambda c: -c.score)
        first_n = passages[0].n
        lead = next((c for c in ranked if c.passage.n == first_n), ranked[0])
        chosen = [lead]
        seen = {_normalized(lead.text)}
        for c in ranked:
            if len(chosen) >= self.max_sentences:
                break
            key = _normalized(c.text)
            if key in seen:  # chunk overlap repeats sentences
                continue
            if c.score >= ranked[0].score - self.keep_within:
                chosen.append(c)
                seen.add(key)
        return sorted(chosen, key=lambda c: (c.passage.n, c.position))

    def stream(self, question: Question, passages: Sequence[Passage]) -> Iterator[AnswerEvent]:
        chosen = self.select(question, passages)
        if not chosen:
            # Passages with no usable sentence (e.g. only code): cite the top passage's text.
            top = passages[0]
            snippet = " ".join(top.text.split())[:MAX_SENTENCE_CHARS]
            yield Delta(f"{snippet} [{top.n}]")
            yield Final(cited=[top.n], mode=self.mode)
            return
        cited: list[int] = []
        for i, c in enumerate(chosen):
            yield Delta(("" if i == 0 else " ") + f"{c.text} [{c.passage.n}]")
            if c.passage.n not in cited:
                cited.append(c.passage.n)
        yield Final(cited=cited, mode=self.mode)

    def answer(self, question: Question, passages: Sequence[Passage]) -> Answer:
        return collect(self.stream(question, passages))

    def rewrite(self, question: str, history: Sequence[Turn]) -> Rewrite:
        return standalone_question(question, history)
