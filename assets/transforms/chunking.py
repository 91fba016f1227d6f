"""Heading-aware chunking of markdown into pieces the embedding model reads whole.

How a document becomes chunks:

1. Sections: `#` heading lines (ATX, outside ``` / ~~~ code fences) split the markdown
   into sections, each with its heading path (h1 > h2 > h3 ...).
2. Blocks: a section's body splits at blank lines (never inside a code fence). Each block is
   counted once; a block over the budget is split by lines, then sentences, then halved at
   whitespace (or, for text without spaces such as CJK, between characters).
3. Packing: blocks of ONE section are packed greedily up to the soft budget
   (`target_tokens`). A chunk never spans two sections, so its heading path is exact and a
   citation points at the right place. Tiny sections are not merged: the precision is
   worth more than the few extra (cheap) vectors. A heading with no body and no
   sub-sections becomes a chunk of its own text, so no words are lost.
4. Overlap: consecutive chunks of the same section share about `overlap_tokens` of text
   (the tail of one starts the next), so a sentence cut at a boundary is still findable.
5. Guarantee: `embed_text` = heading path and text; it is counted once more with the
   real tokenizer and split further if it is over `max_tokens`. Sums of per-block counts
   (plus a one-token margin per block) only steer packing; the final count decides.

The document's title is not embedded: in front of every chunk it pulled each chunk towards
the title and away from what the chunk says (pyfaq nDCG@10 0.653 with titles, 0.719 without
in ../shared/eval's baseline; the sample's known-item questions 21/24 first with titles, 23/24
without). Titles are searched by the full-text side instead (docs/search.md).
Heading paths longer than a quarter of the budget are truncated in `embed_text` (only there;
`heading_path` keeps the full headings) so text always has room.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from pressrag.resources.models import ChunkDraft

DEFAULT_TARGET_SHARE = 0.8  # with max 256 → target 204: headroom for the tokenizer's quirks
MIN_MAX_TOKENS = 16  # below this, path + special tokens leave no room for text
JOIN_MARGIN = 1  # tokens added per joined piece when summing counts
ATOM_CHARS = 48  # a few words: short enough to sum, long enough to keep calls few
WINDOW_CHARS_PER_TOKEN = 6  # first search window; English averages ~4-5 characters a token

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
    """Split `markdown` into chunks whose `count_tokens(embed_text)` never exceeds max_tokens.

    The title is not embedded (see the module docstring); a document with no text at all is
    one chunk of its title, so that it can still be found.
    """
    if max_tokens < MIN_MAX_TOKENS:
        raise ValueError(f"max_tokens must be at least {MIN_MAX_TOKENS}, got {max_tokens}")
    if not markdown or not markdown.strip():
        markdown = title
        if not markdown.strip():
            return []
    counter = _Counter(count_tokens)
    target = target_tokens if target_tokens is not None else int(max_tokens * DEFAULT_TARGET_SHARE)
    target = min(max(target, 1), max_tokens)
    label_budget = (max_tokens - counter.special) // 4

    drafts: list[ChunkDraft] = []
    for section in _sections(markdown):
        prefix = counter.truncate(" > ".join(section.heading_path), label_budget)
        texts = _section_texts(section, prefix, counter, max_tokens, target, overlap_tokens)
        for text, embed_text, token_count in texts:
            drafts.append(
                ChunkDraft(
                    ordinal=len(drafts),
                    heading_path=section.heading_path,
                    text=text,
                    embed_text=embed_text,
                    token_count=token_count,
                )
            )
    return drafts


@dataclass(frozen=True)
class Chunker:
    """`chunk_document` with one run's settings, called on (title, markdown): a value a
    worker process can be sent (resources/cpu_pool.py) when `count_tokens` pickles."""

    count_tokens: CountTokens
    max_tokens: int
    overlap_tokens: int = 32
    target_tokens: int | None = None

    def __call__(self, document: tuple[str, str]) -> list[ChunkDraft]:
        title, markdown = document
        return chunk_document(
            title,
            markdown,
            count_tokens=self.count_tokens,
            max_tokens=self.max_tokens,
            overlap_tokens=self.overlap_tokens,
            target_tokens=self.target_tokens,
        )


class _Counter:
    """Token counting helpers around the caller's counter (special tokens measured once).

    Counts are remembered for the document: packing counts a chunk's overlap tail again
    right after the tail search counted it, and repeated blocks (code, boilerplate) recur."""

    def __init__(self, count_tokens: CountTokens) -> None:
        self._count = count_tokens
        self._known: dict[str, int] = {}
        self.special = self.count("")

    def count(self, text: str) -> int:
        """The caller's count of `text`, each distinct text counted once."""
        known = self._known.get(text)
        if known is None:
            known = self._known[text] = self._count(text)
        return known

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

        Only a window is searched, doubled from `budget * WINDOW_CHARS_PER_TOKEN` characters
        until it no longer fits, so a huge text costs O(window log window), not O(n log n).
        Cut points are word boundaries; if not even one word fits, character positions.
        Only lengths that were counted and fit are returned, so the result always fits even
        where word pieces make cost non-monotonic.
        """

        def piece(length: int) -> str:
            return text[len(text) - length :] if from_end else text[:length]

        window = max(16, budget * WINDOW_CHARS_PER_TOKEN)
        while window < len(text) and self.cost(piece(window)) <= budget:
            window *= 2
        if window >= len(text):
            window = len(text)
            if self.cost(text) <= budget:
                return len(text)
        region = piece(window)
        cut_off = window < len(text)  # the region's outer edge may fall inside a word
        if from_end:
            outer_ok = not cut_off or text[len(text) - window - 1].isspace()
            cuts = sorted(
                window - start
                for start, _ in (m.span() for m in re.finditer(r"\S+", region))
                if start > 0 or outer_ok
            )
        else:
            outer_ok = not cut_off or text[window].isspace()
            cuts = [
                end
                for _, end in (m.span() for m in re.finditer(r"\S+", region))
                if end < window or outer_ok
            ]
        best = self._search(cuts, lambda n: self.cost(piece(n)) <= budget)
        if best:
            return best
        return self._search(list(range(1, window + 1)), lambda n: self.cost(piece(n)) <= budget)

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
) -> list[tuple[str, str, int]]:
    """(text, embed_text, token count) for one section, each verified to fit."""
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
    """Pack short "atoms" (a few words, or a slice of one long word) greedily up to budget.

    Each atom is counted once and their counts summed, so a huge paragraph costs about one
    count of its text, not a search per chunk. For BERT word pieces the sum is exact at
    whitespace; where an atom boundary cuts a word it may be off, which the final check in
    `_fit` catches.
    """
    units: list[_Unit] = []
    run_start = run_end = run_cost = 0
    run_joiner = joiner
    for start, end, atom_joiner in _atoms(text):
        atom = text[start:end]
        atom_cost = counter.cost(atom)
        if atom_cost > budget:  # tiny budgets only: an atom is a few dozen characters
            if run_end > run_start:
                units.append(_Unit(text[run_start:run_end], run_cost, run_joiner))
            units.extend(_split_chars(atom, budget, counter, joiner=atom_joiner))
            run_start = run_end = end
            run_cost, run_joiner = 0, ""
            continue
        if run_end > run_start and run_cost + atom_cost > budget:
            units.append(_Unit(text[run_start:run_end], run_cost, run_joiner))
            run_start, run_cost, run_joiner = start, 0, atom_joiner
        elif run_end == run_start:
            run_start, run_joiner = start, atom_joiner if units else joiner
        run_end = end
        run_cost += atom_cost
    if run_end > run_start:
        units.append(_Unit(text[run_start:run_end], run_cost, run_joiner))
    return units


def _atoms(text: str) -> list[tuple[int, int, str]]:
    """(start, end, joiner) slices of about ATOM_CHARS, cut at whitespace where possible."""
    atoms: list[tuple[int, int, str]] = []
    position, joiner = 0, ""
    while position < len(text):
        while position < len(text) and text[position].isspace():
            position, joiner = position + 1, " "
        if position >= len(text):
            break
        end = min(len(text), position + ATOM_CHARS)
        if end < len(text) and not text[end].isspace():
            space = max(text.rfind(" ", position, end), text.rfind("\n", position, end))
            end = space if space > position else end
        atoms.append((position, end, joiner))
        position, joiner = end, ""
    return atoms


def _split_chars(text: str, budget: int, counter: _Counter, *, joiner: str) -> list[_Unit]:
    """Longest fitting prefixes, by binary search over characters (short input only)."""
    units: list[_Unit] = []
    rest = text.strip()
    while rest:
        length = counter.longest_fitting(rest, budget, from_end=False) or 1
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


def _fit(text: str, prefix: str, counter: _Counter, max_tokens: int) -> list[tuple[str, str, int]]:
    """The final check: count the real embed_text once; halve until every piece fits."""
    embed_text = f"{prefix}\n\n{text}" if prefix else text
    token_count = counter.count(embed_text)
    if token_count <= max_tokens or len(text) <= 1:
        return [(text, embed_text, token_count)]
    halves = (half.strip() for half in _halve(text)[::2])
    return [fitted for half in halves if half for fitted in _fit(half, prefix, counter, max_tokens)]
