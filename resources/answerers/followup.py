"""Follow-up questions: turn "and how long does it take?" into something retrieval can use.

A chat sends its last few turns with a new question. Retrieval embeds one text, so an
elliptical follow-up must become a standalone question first. Without a language model the
rule is simple and predictable: a question that leans on what came before — it opens with a
connector ("and …", "what about …"), refers back with a pronoun ("… does it …"), or is too
short to stand alone ("why?") — is appended to the previous standalone question. The chain
runs over the history, so a follow-up of a follow-up keeps the original subject.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# How many earlier turns a rewrite looks at; a chat may send more, the oldest are ignored.
TURNS_CONSIDERED = 4
# The standalone question is embedded like any query: keep it well inside the model's window.
MAX_STANDALONE_CHARS = 500

_WORD = re.compile(r"[a-z0-9']+")
_CONNECTORS = ("and", "but", "or", "so", "also", "then", "plus")
_OPENING_PHRASES = ("what about", "how about", "what else", "and what", "what if")
_REFERRING_WORDS = (
    "it its it's itself they them their theirs this that these those he him his she her "
    "there one ones same such former latter"
)
_REFERRING = frozenset(_REFERRING_WORDS.split())
_STOP_WORDS = (
    "a an and are as at be by can could do does did for from how i in is it of on or should "
    "that the this to was what when where which who why will with would you your me my"
)
_STOP = frozenset(_STOP_WORDS.split())
MIN_CONTENT_WORDS = 2


@dataclass(frozen=True)
class Turn:
    """One earlier exchange of a conversation, as the chat sends it."""

    question: str
    answer: str = ""


@dataclass(frozen=True)
class Rewrite:
    """The question retrieval should use, and whether it differs from what was asked."""

    text: str
    rewritten: bool
    prompt_tokens: int = 0
    completion_tokens: int = 0


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def is_follow_up(question: str) -> bool:
    """Whether a question depends on the conversation before it to be understood."""
    words = _words(question)
    if not words:
        return False
    lowered = " ".join(words)
    if words[0] in _CONNECTORS or lowered.startswith(_OPENING_PHRASES):
        return True
    if any(word in _REFERRING for word in words):
        return True
    return sum(word not in _STOP for word in words) < MIN_CONTENT_WORDS


def _combine(previous: str, question: str) -> str:
    """`previous question` + `follow-up`, dropping the oldest words past the length cap."""
    room = MAX_STANDALONE_CHARS - len(question) - 1
    if room <= 0:
        return question[:MAX_STANDALONE_CHARS]
    if len(previous) > room:
        previous = previous[-room:].split(" ", 1)[-1]
    return f"{previous} {question}".strip()


def standalone_question(question: str, history: Sequence[Turn]) -> Rewrite:
    """The question as retrieval should see it, by the follow-up rule (no model)."""
    standalone = ""
    for turn in history[-TURNS_CONSIDERED:]:
        asked = " ".join(turn.question.split())
        standalone = _combine(standalone, asked) if standalone and is_follow_up(asked) else asked
    if standalone and is_follow_up(question):
        return Rewrite(_combine(standalone, question), rewritten=True)
    return Rewrite(question, rewritten=False)
