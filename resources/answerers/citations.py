"""Keep `[n]` markers honest: only numbers of passages actually given survive.

Models (and humans) sometimes cite a passage that was never provided, or write `[1, 3]`.
The filter rewrites valid groups to `[1][3]`, drops invalid numbers, and removes a marker
entirely when none of its numbers is valid — so an answer never shows a dangling citation.
It works on a stream: a marker split across deltas (`"[1"`, `"2]"`) is held back until it
is complete.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MARKER = re.compile(r"(\s*)\[(\d{1,4}(?:\s*[,;]\s*\d{1,4})*)\]")
# What may still become a marker at the end of a delta: whitespace and/or an open bracket
# with digits and separators. Held back (bounded length) until the next delta decides.
UNFINISHED_TAIL = re.compile(r"(?:\s*\[[\d,;\s]{0,24}|\s+)$")


class CitationFilter:
    def __init__(self, valid: Iterable[int]) -> None:
        self.valid = set(valid)
        self.used: list[int] = []
        self._pending = ""

    def feed(self, text: str) -> str:
        buffer = self._pending + text
        tail = UNFINISHED_TAIL.search(buffer)
        if tail and tail.start() < len(buffer):
            self._pending, buffer = buffer[tail.start() :], buffer[: tail.start()]
        else:
            self._pending = ""
        return self._rewrite(buffer)

    def flush(self) -> str:
        buffer, self._pending = self._pending, ""
        return self._rewrite(buffer)

    def _rewrite(self, text: str) -> str:
        return MARKER.sub(self._replace, text)

    def _replace(self, match: re.Match[str]) -> str:
        numbers = [int(x) for x in re.split(r"\s*[,;]\s*", match.group(2))]
        kept = [n for n in numbers if n in self.valid]
        for n in kept:
            if n not in self.used:
                self.used.append(n)
        if not kept:
            return ""
        return match.group(1) + "".join(f"[{n}]" for n in kept)


def strip_invalid_markers(text: str, valid: Iterable[int]) -> tuple[str, list[int]]:
    """The whole-text form: (clean text, cited numbers in first-use order)."""
    f = CitationFilter(valid)
    clean = f.feed(text) + f.flush()
    return clean, f.used
