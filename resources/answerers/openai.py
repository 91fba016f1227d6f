"""Answers from an OpenAI (or OpenAI-compatible) chat model, confined to numbered passages.

The prompt gives the passages as `[1] …`, `[2] …` and asks for `[n]` after each claim, or
the exact not-found sentence. Whatever the model writes, `CitationFilter` removes markers
that refer to no given passage, so nothing dangles; citations are the passages actually
cited. Requests go through the official `openai` client; 429, 5xx, connection errors and
timeouts are retried with exponential backoff honouring `Retry-After`, but only before the
first token arrives — a stream that breaks mid-way fails cleanly instead of repeating text.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from pressrag.resources.answerers.base import (
    NOT_FOUND_TEXT,
    Answer,
    AnswerEvent,
    AnswerUnavailable,
    Delta,
    Final,
    Passage,
    Question,
)
from pressrag.resources.answerers.citations import CitationFilter, strip_invalid_markers
from pressrag.resources.answerers.followup import (
    MAX_STANDALONE_CHARS,
    TURNS_CONSIDERED,
    Rewrite,
    Turn,
    standalone_question,
)
from pressrag.resources.errors import ConfigError
from pressrag.resources.openai_backoff import call_with_backoff
from pressrag.resources.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_PASSAGE_CHARS = 2000  # per passage in the prompt; chunks are ~200 tokens anyway
MAX_RETRY_DELAY = 20.0
MAX_REWRITE_TOKENS = 100
MAX_TURN_ANSWER_CHARS = 600  # an earlier answer only tells the model what "it" was
_MARKERS = re.compile(r"\s*\[\d+\]")

SYSTEM_PROMPT = (
    "You answer questions about one website using ONLY the numbered passages from it that "
    "the user provides. Rules:\n"
    "1. Use only facts stated in the passages; never use outside knowledge.\n"
    "2. After every sentence that uses a passage, cite it with its number in square "
    "brackets, e.g. [1] or [2][3]. Cite only numbers that appear in the passages.\n"
    "3. Be concise: at most a few sentences.\n"
    f"4. If the passages do not answer the question, reply exactly: {NOT_FOUND_TEXT}"
)


def build_messages(question: str, passages: Sequence[Passage]) -> list[dict[str, str]]:
    blocks = []
    for p in passages:
        where = f"{p.title} — {p.heading}" if p.heading else p.title
        blocks.append(f"[{p.n}] {where}\n{p.text[:MAX_PASSAGE_CHARS]}")
    user = "Passages:\n\n" + "\n\n".join(blocks) + f"\n\nQuestion: {question}"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


REWRITE_PROMPT = (
    "You rewrite the last question of a conversation with a website's search assistant as "
    "one standalone question. Use the earlier turns only to resolve what the last question "
    "refers to (it, they, that, and ...). Keep its language and meaning and add nothing "
    "else. Reply with the rewritten question only; if it already stands alone, repeat it."
)


def build_rewrite_messages(question: str, history: Sequence[Turn]) -> list[dict[str, str]]:
    lines = []
    for turn in history[-TURNS_CONSIDERED:]:
        lines.append(f"Q: {turn.question}")
        answer = _MARKERS.sub("", turn.answer).strip()[:MAX_TURN_ANSWER_CHARS]
        if answer:
            lines.append(f"A: {answer}")
    user = "Conversation:\n" + "\n".join(lines) + f"\n\nLast question: {question}"
    return [{"role": "system", "content": REWRITE_PROMPT}, {"role": "user", "content": user}]


def _one_line(text: str) -> str:
    """The model's rewrite as one clean line (first line, no wrapping quotes, capped)."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line.strip("\"'“” ")[:MAX_STANDALONE_CHARS]


def _is_not_found(text: str) -> bool:
    return NOT_FOUND_TEXT.lower().rstrip(".") in text.lower()


class OpenAIAnswerer:
    mode = "openai"

    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        max_tokens: int = 400,
        temperature: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import openai

        self._openai = openai
        # Our own retry loop (not the client's) so every retry is logged and bounded.
        self._client = openai.OpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0
        )
        self.model = model
        self.max_retries = max_retries
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._sleep = sleep

    @classmethod
    def from_settings(cls, settings: Settings, *, max_tokens: int = 400) -> OpenAIAnswerer:
        if settings.openai_api_key is None:
            raise ConfigError("PRESSRAG_ANSWERER=openai needs PRESSRAG_OPENAI_API_KEY")
        return cls(
            api_key=settings.openai_api_key.get_secret_value(),
            model=settings.openai_chat_model,
            base_url=settings.openai_base_url,
            timeout=settings.openai_timeout,
            max_retries=settings.openai_max_retries,
            max_tokens=max_tokens,
        )

    # ------------------------------------------------------------------ requests
    def _call(self, make_request: Callable[[], T]) -> T:
        openai = self._openai
        try:
            return call_with_backoff(
                make_request,
                max_retries=self.max_retries,
                what="chat completion",
                max_delay=MAX_RETRY_DELAY,
                sleep=self._sleep,
            )
        except (
            openai.RateLimitError,
            openai.InternalServerError,
            openai.APIConnectionError,  # includes APITimeoutError
        ) as exc:
            raise _unavailable(exc) from None
        except openai.APIStatusError as exc:
            # 4xx other than 429: retrying will not help (bad key, bad model, bad request).
            status = exc.status_code
            raise AnswerUnavailable(
                "upstream_error", f"the answer model refused the request (HTTP {status})"
            ) from None

    def _request_args(self, question: Question, passages: Sequence[Passage]) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": build_messages(question.text, passages),
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }

    # ------------------------------------------------------------------ answers
    def answer(self, question: Question, passages: Sequence[Passage]) -> Answer:
        args = self._request_args(question, passages)
        response = self._call(lambda: self._client.chat.completions.create(**args))
        raw = (response.choices[0].message.content or "") if response.choices else ""
        text, cited = strip_invalid_markers(raw, (p.n for p in passages))
        usage = response.usage
        prompt_tokens = usage.prompt_tokens if usage else 0
        completion_tokens = usage.completion_tokens if usage else 0
        text = text.strip()
        if not text:
            raise AnswerUnavailable("upstream_error", "the answer model returned no text")
        mode = "not_found" if not cited and _is_not_found(text) else self.mode
        if mode == "not_found":
            text = NOT_FOUND_TEXT
        return Answer(text, cited, mode, prompt_tokens, completion_tokens)

    def rewrite(self, question: str, history: Sequence[Turn]) -> Rewrite:
        """The model rewrites a follow-up; if it fails, the follow-up rule still applies."""
        if not history:
            return Rewrite(question, rewritten=False)
        args = {
            "model": self.model,
            "messages": build_rewrite_messages(question, history),
            "max_tokens": MAX_REWRITE_TOKENS,
            "temperature": 0.0,
        }
        try:
            response = self._call(lambda: self._client.chat.completions.create(**args))
        except AnswerUnavailable as exc:
            log.warning("question rewrite failed (%s); using the follow-up rule", exc.kind)
            return standalone_question(question, history)
        raw = (response.choices[0].message.content or "") if response.choices else ""
        text = _one_line(raw)
        if not text or _is_not_found(text):  # it answered instead of rewriting
            return standalone_question(question, history)
        usage = response.usage
        return Rewrite(
            text,
            rewritten=text != question,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )

    def stream(self, question: Question, passages: Sequence[Passage]) -> Iterator[AnswerEvent]:
        args = self._request_args(question, passages)
        args["stream"] = True
        args["stream_options"] = {"include_usage": True}
        chunks = self._call(lambda: self._client.chat.completions.create(**args))
        markers = CitationFilter(p.n for p in passages)
        produced: list[str] = []
        prompt_tokens = completion_tokens = 0
        try:
            for chunk in chunks:
                if chunk.usage:
                    prompt_tokens = chunk.usage.prompt_tokens
                    completion_tokens = chunk.usage.completion_tokens
                for choice in chunk.choices:
                    text = markers.feed(choice.delta.content or "")
                    if text:
                        produced.append(text)
                        yield Delta(text)
        except self._openai.APIError as exc:
            raise _unavailable(exc) from None
        finally:
            chunks.close()
        tail = markers.flush()
        if tail:
            produced.append(tail)
            yield Delta(tail)
        full = "".join(produced).strip()
        if not full:
            raise AnswerUnavailable("upstream_error", "the answer model returned no text")
        mode = "not_found" if not markers.used and _is_not_found(full) else self.mode
        yield Final(markers.used, mode, prompt_tokens, completion_tokens)


def _unavailable(exc: Exception) -> AnswerUnavailable:
    name = type(exc).__name__
    if "Timeout" in name:
        return AnswerUnavailable("upstream_timeout", "the answer model did not respond in time")
    if "RateLimit" in name:
        return AnswerUnavailable("upstream_rate_limited", "the answer model is rate limited")
    return AnswerUnavailable("upstream_error", f"the answer model failed ({name})")
