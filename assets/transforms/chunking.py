"""Heading-aware chunking of markdown into pieces the embedding model reads whole.

How a document becomes chunks:

1. Sections: `#` heading lines (ATX, outside ``` / ~~~ code fences) split the markdown
   into sections, each with its heading path (h1 > h2 > h3 ...).
2. Blocks: a section's body splits at blank lines (never inside a code fence). Each block is
   tokenized once; a block over the budget is split by lines, then sentences, then halved at
   whitespace (or, for text without spaces such as CJK, between characters).
3. Packing: blocks of ONE section are packed greedily up to the soft budget
   (`target_tokens`). A chunk never spans two sections, so its heading path is exact and a
   citation points at the right place. Tiny sections are not merged: the precision is
   worth more than the few extra (cheap) vectors. A heading with no body and no
   sub-sections becomes a chunk of its own text, so no words are lost.
4. Overlap: consecutive chunks of the same section share about `overlap_tokens` of text
   (the tail of one starts the next), so a sentence cut at a boundary is still findable.
5. Guarantee: `embed_text` = title, heading path and text; it is counted once more with the
   real tokenizer and split further if it is over `max_tokens`. Sums of per-block counts
   (plus a one-token margin per block) only steer packing; the final count decides.

Titles and heading paths longer than a quarter of the budget each are truncated in
`embed_text` (only there; `heading_path` keeps the full headings) so text always has room.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from resources.models import ChunkDraft

DEFAULT_TARGET_SHARE = 0.8  # with max 256 → target 204: headroom for the tokenizer's quirks
MIN_MAX_TOKENS = 16  # below this, title + path + special tokens leave no room for text
JOIN_MARGIN = 1  # tokens added per joined piece when summing counts
WINDOW_CHARS_PER_TOKEN = 24  # no word piece covers more characters than this (BERT: ≤ 100 → [UNK])

_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))??(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SENTENCE_END = re.compile(r"((?<=[.!?;:…])\s+|(?<=[。！？；]))")
_WHITESPACE = re.compile(r"\s+")

CountTokens = Callable[[str], int]


@dataclass(frozen=True)
class _Section:
    heading_path: tuple[str, ...]
    blocks: tuple[str, ...]


@dataclass(frozen=True)
class _Unit:
    """A piece of a section's text, with its token count (no special tokens) counted once."""

    text: str
    cost: int
    joiner: str  # what goes between the previous unit and this one


def chunk_document(
    title: str,
    markdown: str,
    *,
    count_tokens: CountTokens,
    max_tokens: int,
    overlap_tokens: int = 32,
    target_tokens: int | None = None,
) -> list[ChunkDraft]:
    """Split `markdown` into chunks whose `count_tokens(embed_text)` never exceeds max_tokens."""
    if max_tokens < MIN_MAX_TOKENS:
        raise ValueError(f"max_tokens must be at least {MIN_MAX_TOKENS}, got {max_tokens}")
    if not markdown or not markdown.strip():
        return []
    counter = _Counter(count_tokens)
    target = target_tokens if target_tokens is not None else int(max_tokens * DEFAULT_TARGET_SHARE)
    target = min(max(target, 1), max_tokens)
    label_budget = (max_tokens - counter.special) // 4
    short_title = counter.truncate(" ".join(title.split()), label_budget)

    drafts: list[ChunkDraft] = []
    for section in _sections(markdown):
        path_label = counter.truncate(" > ".join(section.heading_path), label_budget)
        prefix = "\n".join(part for part in (short_title, path_label) if part)
        for text in _section_texts(section, prefix, counter, max_tokens, target, overlap_tokens):
            embed_text = f"{prefix}\n\n{text}" if prefix else text
            drafts.append(
                ChunkDraft(
                    ordinal=len(drafts),
                    heading_path=section.heading_path,
                    text=text,
                    embed_text=embed_text,
                    token_count=count_tokens(embed_text),
                )
            )
    return drafts


class _Counter:
    """Token counting helpers around the caller's counter (special tokens measured once)."""

    def __init__(self, count_tokens: CountTokens) -> None:
        self.count = count_tokens
        self.special = count_tokens("")

    def cost(self, text: str) -> int:
        """Tokens of `text` without the special tokens every sequence gets."""
        return max(0, self.count(text) - self.special)

    def truncate(self, text: str, budget: int) -> str:
        """Longest prefix of `text` (cut at whitespace when possible) costing ≤ budget."""
        if not text or self.cost(text) <= budget:
            return text
        return text[: self.longest_fitting(text, budget, from_end=False)].rstrip()

    def tail(self, text: str, budget: int) -> str:
        """Longest suffix of `text` (starting at a word when possible) costing ≤ budget."""
        if budget <= 0 or not text:
            return ""
        start = len(text) - self.longest_fitting(text, budget, from_end=True)
        return text[start:].lstrip()

    def longest_fitting(self, text: str, budget: int, *, from_end: bool) -> int:
        """Length of the longest fitting prefix/suffix, by binary search over cut points.

        Cut points are word boundaries; if not even one word fits, character positions.
        Only lengths that were counted and fit are ever returned, so the result always fits
        even where word pieces make cost non-monotonic.
        """

        def piece(length: int) -> str:
            return text[len(text) - length :] if from_end else text[:length]

        spans = [m.span() for m in re.finditer(r"\S+", text)]
        if from_end:
            cuts = sorted(len(text) - start for start, _ in spans)
        else:
            cuts = [end for _, end in spans]
        best = self._search(cuts, lambda n: self.cost(piece(n)) <= budget)
        if best:
            return best
        return self._search(list(range(1, len(text) + 1)), lambda n: self.cost(piece(n)) <= budget)

    @staticmethod
    def _search(lengths: list[int], fits: Callable[[int], bool]) -> int:
        low, high, best = 0, len(lengths) - 1, 0
        while low <= high:
            middle = (low + high) // 2
            if fits(lengths[middle]):
                best, low = lengths[middle], middle + 1
            else:
                high = middle - 1
        return best


def _sections(markdown: str) -> list[_Section]:
    """Sections by heading path, fences respected; body-less leaf headings keep their text."""
    raw: list[tuple[tuple[str, ...], list[str]]] = [((), [])]
    stack: list[tuple[int, str]] = []
    block: list[str] = []
    fence: str | None = None

    def end_block() -> None:
        if any(line.strip() for line in block):
            raw[-1][1].append("\n".join(block).strip("\n"))
        block.clear()

    for line in markdown.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        fence_match = _FENCE.match(line)
        if fence is not None:
            block.append(line)
            if fence_match and _closes(fence, fence_match.group(1), line):
                fence = None
            continue
        if fence_match:
            fence = fence_match.group(1)
            block.append(line)
            continue
        heading = _HEADING.match(line)
        if heading:
            end_block()
            level, text = len(heading.group(1)), " ".join((heading.group(2) or "").split())
            while stack and stack[-1][0] >= level:
                stack.pop()
            if text:
                stack.append((level, text))
            raw.append((tuple(text for _, text in stack), []))
        elif line.strip():
            block.append(line.rstrip())
        else:
            end_block()
    end_block()

    sections: list[_Section] = []
    for index, (path, blocks) in enumerate(raw):
        next_path = raw[index + 1][0] if index + 1 < len(raw) else ()
        has_children = len(next_path) > len(path) and next_path[: len(path)] == path
        if not blocks and path and not has_children:
            blocks = [path[-1]]
        if blocks:
            sections.append(_Section(path, tuple(blocks)))
    return sections


def _closes(opener: str, candidate: str, line: str) -> bool:
    """A fence closes with the same character, at least as long, and nothing after it."""
    return (
        candidate[0] == opener[0]
        and len(candidate) >= len(opener)
        and not line.strip().lstrip(candidate[0])
    )


def _section_texts(
    section: _Section,
    prefix: str,
    counter: _Counter,
    max_tokens: int,
    target: int,
    overlap_tokens: int,
) -> list[str]:
    """Chunk texts for one section, each verified to fit with its prefix."""
    prefix_cost = counter.cost(f"{prefix}\n\n") if prefix else 0
    hard_budget = max(1, max_tokens - counter.special - prefix_cost)
    soft_budget = min(hard_budget, max(target - counter.special - prefix_cost, hard_budget // 2))
    overlap_budget = max(0, min(overlap_tokens, soft_budget // 4))
    unit_budget = max(1, soft_budget - overlap_budget)

    units: list[_Unit] = []
    for block in section.blocks:
        units.extend(_split(block, unit_budget, counter, joiner="\n\n", level=0))
    packed = _pack(units, soft_budget, overlap_budget, counter)
    return [piece for text in packed for piece in _fit(text, prefix, counter, max_tokens)]


def _pack(units: list[_Unit], budget: int, overlap_budget: int, counter: _Counter) -> list[str]:
    """Greedy packing by summed counts; each new chunk opens with the previous one's tail."""
    texts: list[str] = []
    current = ""
    current_cost = 0
    has_new_text = False
    for unit in units:
        if has_new_text and current_cost + unit.cost + JOIN_MARGIN > budget:
            texts.append(current)
            current = counter.tail(current, overlap_budget)
            current_cost = counter.cost(current) + JOIN_MARGIN if current else 0
            has_new_text = False
        current = f"{current}{unit.joiner}{unit.text}" if current else unit.text
        current_cost += unit.cost + JOIN_MARGIN
        has_new_text = True
    if has_new_text:
        texts.append(current)
    return texts


def _split_lines(text: str) -> list[tuple[str, str]]:
    return [("\n", line) for line in text.split("\n")]


def _split_sentences(text: str) -> list[tuple[str, str]]:
    """Sentences with the separator that preceded each (kept, so CJK gets no spaces added)."""
    pieces = _SENTENCE_END.split(text)  # the capture group interleaves separators
    parts = [("", pieces[0])]
    for index in range(1, len(pieces), 2):
        parts.append((pieces[index] or "", pieces[index + 1]))
    return parts


_SPLITTERS: tuple[Callable[[str], list[tuple[str, str]]], ...] = (_split_lines, _split_sentences)


def _split(text: str, budget: int, counter: _Counter, *, joiner: str, level: int) -> list[_Unit]:
    """Units of at most `budget` tokens: whole text, else lines, sentences, words, characters."""
    cost = counter.cost(text)
    if cost <= budget:
        return [_Unit(text, cost, joiner)]
    for depth in range(level, len(_SPLITTERS)):
        parts = [(sep, part) for sep, part in _SPLITTERS[depth](text) if part.strip()]
        if len(parts) > 1:
            units: list[_Unit] = []
            for index, (separator, part) in enumerate(parts):
                part_joiner = joiner if index == 0 else separator
                units.extend(_split(part, budget, counter, joiner=part_joiner, level=depth + 1))
            return units
    return _split_words(text, budget, counter, joiner=joiner)


def _split_words(text: str, budget: int, counter: _Counter, *, joiner: str) -> list[_Unit]:
    """Greedy: the longest run of words that fits, found by binary search; chars as last resort.

    The search looks only at a window of the next `budget * WINDOW_CHARS_PER_TOKEN`
    characters, so a huge paragraph costs O(n log n) characters tokenized, not O(n²).
    """
    units: list[_Unit] = []
    rest = text.strip()
    while rest:
        window = rest[: budget * WINDOW_CHARS_PER_TOKEN]
        if len(window) < len(rest):
            cut = max(window.rfind(" "), window.rfind("\n"))
            window = window[:cut] if cut > 0 else window
        length = counter.longest_fitting(window, budget, from_end=False) or 1
        piece = rest[:length].rstrip()
        if piece:
            units.append(_Unit(piece, counter.cost(piece), joiner))
        remainder = rest[length:]
        joiner = " " if remainder[:1].isspace() else ""
        rest = remainder.lstrip()
    return units


def _halve(text: str) -> tuple[str, str, str]:
    """Split near the middle at whitespace if there is any, else between characters."""
    middle = len(text) // 2
    spaces = [m for m in _WHITESPACE.finditer(text) if m.start() > 0 and m.end() < len(text)]
    if spaces:
        nearest = min(spaces, key=lambda m: (abs(m.start() - middle), m.start()))
        return text[: nearest.start()], " ", text[nearest.end() :]
    middle = max(1, middle)
    return text[:middle], "", text[middle:]


def _fit(text: str, prefix: str, counter: _Counter, max_tokens: int) -> list[str]:
    """The final check: count the real embed_text once; halve until every piece fits."""
    embed_text = f"{prefix}\n\n{text}" if prefix else text
    if counter.count(embed_text) <= max_tokens or len(text) <= 1:
        return [text]
    first, _, second = _halve(text)
    return [
        *_fit(first.strip(), prefix, counter, max_tokens),
        *_fit(second.strip(), prefix, counter, max_tokens),
    ]
