"""The tolerant WXR reader, for exports that are not well-formed XML.

WordPress's importer falls back from its XML parsers to one that reads the file as text, so
it imports what older exporters wrote: a post containing `]]>` inside its CDATA section (a
"nested CDATA"), a stray control character, one broken item. This reader does the same,
item by item: it finds each `<item>` … `</item>` (outside CDATA sections), tries it as XML on
its own (with the characters XML forbids removed), and failing that takes its fields with
patterns the way WordPress's regex parser does. An item that still cannot be read becomes a
`WxrItemFailure` with its line; the rest of the export is read.

Memory is bounded by the largest item (at most `MAX_ITEM_BYTES`), not by the file.
"""

from __future__ import annotations

import bisect
import codecs
import re
from collections.abc import Iterator
from functools import cache
from typing import IO
from xml.parsers import expat

from pressrag.resources.wordpress.wxr_items import (
    CHANNEL_FACTS,
    CONTENT_META_KEYS,
    Author,
    ChannelFact,
    Entry,
    RawItem,
    WxrItemFailure,
    canonical_prefix,
    item_from_element,
)
from pressrag.resources.wordpress.wxr_xml import UnsafeXml, parse_fragment

BLOCK_BYTES = 256 << 10
MAX_ITEM_BYTES = 64 << 20
# A header element (author, channel fact) is small; anything longer is not one.
MAX_HEADER_ELEMENT_BYTES = 1 << 20
# Namespaces as WordPress writes them; used when the export's own <rss> tag is unreadable.
DEFAULT_RSS_OPEN = (
    '<rss xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/" '
    'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:wp="http://wordpress.org/export/1.2/">'
)
# Item fields read by pattern when an item is not XML: (prefix or "", local name).
ITEM_FIELDS = (
    ("", "title"),
    ("", "link"),
    ("", "guid"),
    ("dc", "creator"),
    ("content", "encoded"),
    ("excerpt", "encoded"),
    ("wp", "post_id"),
    ("wp", "post_date_gmt"),
    ("wp", "post_modified_gmt"),
    ("wp", "status"),
    ("wp", "post_type"),
    ("wp", "post_password"),
    ("wp", "post_parent"),
    ("wp", "attachment_url"),
)

# Characters XML 1.0 does not allow anywhere (most C0 controls, lone surrogates, U+FFFE/F).
_NOT_XML_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_XML_DECL_ENCODING = re.compile(rb"^\s*<\?xml[^>]*\bencoding\s*=\s*[\"']([A-Za-z0-9._-]+)")
_RSS_OPEN = re.compile(rb"<rss\b[^<>]*>")
_XMLNS = re.compile(r"\bxmlns:([A-Za-z_][\w.-]*)\s*=\s*[\"']([^\"']*)[\"']")
_ITEM_START = re.compile(rb"<item[\s>]")
_ITEM_TOKENS = re.compile(rb"<!\[CDATA\[|</item\s*>|<item[\s>]")
_CDATA_TOKENS = re.compile(r"<!\[CDATA\[|\]\]>")
_CDATA_SECTION = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.S)
_ONLY_CDATA_SECTIONS = re.compile(r"\s*(?:<!\[CDATA\[(?:(?!\]\]>).)*\]\]>\s*)+", re.S)
_WHOLE_CDATA = re.compile(r"<!\[CDATA\[(.*)\]\]>", re.S)
_ENTITY = re.compile(r"&(lt|gt|amp|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);")
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_ATTRIBUTE = re.compile(r"\b([A-Za-z_][\w.-]*)\s*=\s*[\"']([^\"']*)[\"']")


class Prefixes:
    """Which prefixes of this export stand for WordPress's namespaces, read from `<rss>`."""

    def __init__(self, rss_open: str) -> None:
        declared = dict(_XMLNS.findall(rss_open))
        by_role: dict[str, set[str]] = {
            "wp": set(),
            "excerpt": set(),
            "content": set(),
            "dc": set(),
        }
        for prefix, uri in declared.items():
            role = canonical_prefix(uri)
            if role:
                by_role[role].add(prefix)
        for role, prefixes in by_role.items():
            if role not in declared:  # undeclared: read the usual prefix anyway, as WordPress does
                prefixes.add(role)
        self.key = tuple(sorted((role, tuple(sorted(p))) for role, p in by_role.items()))

    def names(self, role: str, local: str) -> tuple[str, ...]:
        """How an element of `role` ('wp', ..., or '' for RSS's own) may be written here."""
        if not role:
            return (local,)
        return tuple(f"{prefix}:{local}" for prefix in dict(self.key)[role])


def tolerant_entries(handle: IO[bytes], *, skip_items: int = 0) -> Iterator[Entry]:
    """Channel facts and authors before the first item, then every item after the first
    `skip_items` (those the strict reader already handed out), or its failure."""
    scanner = _Scanner(handle)
    encoding = scanner.encoding()
    rss_open = scanner.rss_open(encoding)
    prefixes = Prefixes(rss_open)
    yield from scanner.header(prefixes, encoding)
    seen = 0
    for line, chunk, problem in scanner.items():
        seen += 1
        if seen <= skip_items:
            continue
        if problem:
            yield _failure_of_fragment(chunk, line, problem, prefixes, encoding)
        else:
            yield read_item(chunk, line, rss_open, prefixes, encoding)


def read_item(chunk: bytes, line: int, rss_open: str, prefixes: Prefixes, encoding: str) -> RawItem:
    """One `<item>…</item>`: as XML when it is (control characters removed), else by pattern."""
    text = _NOT_XML_CHARS.sub("", chunk.decode(encoding, "replace"))
    try:
        root = parse_fragment(f"{rss_open}{text}</rss>")
    except (expat.ExpatError, UnsafeXml):
        return item_by_patterns(text, line, prefixes)
    return item_from_element(root[0], line)


def item_by_patterns(text: str, line: int, prefixes: Prefixes) -> RawItem:
    """Fields of an item that is not XML, read like WordPress's regex parser reads them."""
    doc = _Text(text)
    raw = RawItem(line=line)
    for role, local in ITEM_FIELDS:
        canonical = f"{role}:{local}" if role else local
        found = doc.element(prefixes.names(role, local))
        if found is None:
            continue
        if found.body is None:
            raw.error = raw.error or f"<{canonical}> is not closed"
            continue
        raw.fields[canonical] = unwrap(found.body)
    for found in doc.elements(("category",)):
        attributes = dict(_ATTRIBUTE.findall(found.attributes))
        if found.body is not None and "nicename" in attributes:
            raw.categories.append((attributes.get("domain") or "category", unwrap(found.body)))
    for found in doc.elements(prefixes.names("wp", "postmeta")):
        meta = _Text(found.body or "")
        key = meta.element(prefixes.names("wp", "meta_key"))
        value = meta.element(prefixes.names("wp", "meta_value"))
        if key and value and key.body is not None and value.body is not None:
            name = unwrap(key.body).strip()
            if name in CONTENT_META_KEYS and name not in raw.meta:
                raw.meta[name] = unwrap(value.body)
    return raw


def unwrap(body: str) -> str:
    """Element text as WordPress's regex parser reads it: CDATA sections joined (including
    the `]]]]><![CDATA[>` split exporters write for `]]>`), or one section taken whole even
    when it holds a nested `]]>`; plain text has its XML entities decoded."""
    stripped = body.strip()
    if not stripped.startswith("<![CDATA["):
        return _ENTITY.sub(_entity, body)
    if "]]]]><![CDATA[>" in stripped or _ONLY_CDATA_SECTIONS.fullmatch(stripped):
        return "".join(_CDATA_SECTION.findall(stripped))
    whole = _WHOLE_CDATA.fullmatch(stripped)
    return whole.group(1) if whole else stripped[len("<![CDATA[") :]


def _entity(match: re.Match[str]) -> str:
    name = match.group(1)
    if name in _ENTITIES:
        return _ENTITIES[name]
    try:
        code = int(name[2:], 16) if name.startswith("#x") else int(name[1:])
        return chr(code)
    except (ValueError, OverflowError):
        return match.group(0)


def _failure_of_fragment(
    chunk: bytes, line: int, problem: str, prefixes: Prefixes, encoding: str
) -> WxrItemFailure:
    """A failure for an item that never closed, naming its post when the fragment says."""
    head = chunk[:MAX_HEADER_ELEMENT_BYTES].decode(encoding, "replace")
    partial = item_by_patterns(head, line, prefixes)
    post_id = partial.fields.get("wp:post_id", "").strip()
    title = partial.fields.get("title", "").strip()[:200]
    return WxrItemFailure(line, problem, int(post_id) if post_id.isdigit() else None, title)


class _Found:
    __slots__ = ("attributes", "body")

    def __init__(self, attributes: str, body: str | None) -> None:
        self.attributes = attributes
        self.body = body  # None: the element never closes


class _Text:
    """Element lookup in a fragment of text, ignoring anything inside CDATA sections."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._cdata = _cdata_spans(text)

    def element(self, names: tuple[str, ...]) -> _Found | None:
        return next(self.elements(names), None)

    def elements(self, names: tuple[str, ...]) -> Iterator[_Found]:
        for match in _start_tag(names).finditer(self.text):
            if self._in_cdata(match.start()):
                continue
            if match.group("empty"):
                yield _Found(match.group("attrs"), "")
                continue
            end = _end_tag(match.group("name"))
            closing = next(
                (m for m in end.finditer(self.text, match.end()) if not self._in_cdata(m.start())),
                None,
            )
            yield _Found(
                match.group("attrs"), self.text[match.end() : closing.start()] if closing else None
            )

    def _in_cdata(self, position: int) -> bool:
        index = bisect.bisect_right(self._cdata, (position, float("inf"))) - 1
        return index >= 0 and self._cdata[index][0] <= position < self._cdata[index][1]


def _cdata_spans(text: str) -> list[tuple[int, int]]:
    """Where CDATA sections are, pairing each `<![CDATA[` with the next `]]>` (a nested
    opener inside a section is text; a `]]>` outside one is text)."""
    spans: list[tuple[int, int]] = []
    start = None
    for token in _CDATA_TOKENS.finditer(text):
        if start is None and token.group(0) == "<![CDATA[":
            start = token.start()
        elif start is not None and token.group(0) == "]]>":
            spans.append((start, token.end()))
            start = None
    if start is not None:
        spans.append((start, len(text)))
    return spans


@cache
def _start_tag(names: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(n) for n in names)
    return re.compile(rf"<(?P<name>{alternatives})(?P<attrs>\s[^<>]*?)?(?P<empty>/)?>")


@cache
def _end_tag(name: str) -> re.Pattern[str]:
    return re.compile(rf"</{re.escape(name)}\s*>")


class _Scanner:
    """Reads an export in blocks and cuts it into header elements and items, with lines."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.buffer = b""
        self.position = 0  # start of what has not been consumed yet
        self.line = 1  # line number at `position`
        self.at_end = False

    def encoding(self) -> str:
        self._fill()
        declared = _XML_DECL_ENCODING.match(self.buffer)
        name = declared.group(1).decode("ascii") if declared else "utf-8"
        try:
            return codecs.lookup(name).name
        except LookupError:
            return "utf-8"

    def rss_open(self, encoding: str) -> str:
        """The `<rss …>` start tag (its namespace declarations), or WordPress's usual one."""
        while True:
            found = _RSS_OPEN.search(self.buffer, self.position)
            if found:
                return found.group(0).decode(encoding, "replace")
            if len(self.buffer) - self.position > MAX_HEADER_ELEMENT_BYTES or not self._fill():
                return DEFAULT_RSS_OPEN

    def header(self, prefixes: Prefixes, encoding: str) -> Iterator[Entry]:
        """Channel facts and authors, up to the first `<item>` (which is left unconsumed)."""
        wanted: dict[str, str] = {}  # element name as written -> canonical tag
        for tag in CHANNEL_FACTS:
            role, _, local = tag.rpartition(":")
            wanted.update(dict.fromkeys(prefixes.names(role, local), tag))
        wanted.update(dict.fromkeys(prefixes.names("wp", "author"), "wp:author"))
        names = b"|".join(re.escape(name.encode()) for name in wanted)
        starts = re.compile(rb"<item[\s>]|<(" + names + rb")(?:\s[^<>]*?)?(/)?>")
        seen_facts: set[str] = set()
        while True:
            found = self._search(starts)
            if found is None or found.group(1) is None:
                return
            tag = wanted[found.group(1).decode()]
            if found.group(2):
                body = ""
                self._consume(found.end())
            else:
                end = self._search(_end_tag_bytes(found.group(1)), start=found.end(), limit=True)
                if end is None:  # not closed within reason: skip the start tag
                    self._consume(found.end())
                    continue
                body = self.buffer[found.end() : end.start()].decode(encoding, "replace")
                self._consume(end.end())
            if tag == "wp:author":
                yield _author(body, prefixes)
            elif tag not in seen_facts:
                seen_facts.add(tag)
                yield ChannelFact(tag, unwrap(body).strip())

    def items(self) -> Iterator[tuple[int, bytes, str | None]]:
        """(line, bytes, problem) for each `<item>`; problem is None for a closed item."""
        while True:
            found = self._search(_ITEM_START)
            if found is None:
                return
            self._consume(found.start())
            line = self.line
            end, problem = self._item_end()
            chunk = self.buffer[self.position : end]
            self._consume(end)
            yield line, chunk, problem

    def _item_end(self) -> tuple[int, str | None]:
        """Where the item starting at `position` ends, or why it does not."""
        scan = self.position + len(b"<item")
        in_cdata = False
        while True:
            if self.position + MAX_ITEM_BYTES < len(self.buffer):
                return scan, f"no </item> within {MAX_ITEM_BYTES >> 20} MB"
            if in_cdata:
                close = self.buffer.find(b"]]>", scan)
                if close >= 0:
                    scan, in_cdata = close + 3, False
                    continue
                scan = max(scan, len(self.buffer) - 2)
            else:
                token = _ITEM_TOKENS.search(self.buffer, scan)
                if token and token.group(0).startswith(b"<!["):
                    scan, in_cdata = token.end(), True
                    continue
                if token and token.group(0).startswith(b"</"):
                    return token.end(), None
                if token:
                    return token.start(), "not closed before the next <item>"
                scan = max(scan, len(self.buffer) - 16)
            if not self._fill():
                return len(self.buffer), "not closed (the file ends inside it: truncated?)"

    def _search(
        self, pattern: re.Pattern[bytes], *, start: int | None = None, limit: bool = False
    ) -> re.Match[bytes] | None:
        begin = self.position if start is None else start
        while True:
            found = pattern.search(self.buffer, begin)
            if found:
                return found
            if limit and len(self.buffer) - self.position > MAX_HEADER_ELEMENT_BYTES:
                return None
            if start is None:  # nothing here: drop what was searched, keep a possible tag start
                self._consume(max(self.position, len(self.buffer) - 1024))
                begin = self.position
            if not self._fill():
                return None

    def _consume(self, end: int) -> None:
        self.line += self.buffer.count(b"\n", self.position, end)
        self.position = end
        if self.position > BLOCK_BYTES:
            # Drop what was consumed. Only here, where no caller holds a buffer offset.
            self.buffer = self.buffer[self.position :]
            self.position = 0

    def _fill(self) -> bool:
        if self.at_end:
            return False
        block = self.handle.read(BLOCK_BYTES)
        if not block:
            self.at_end = True
            return False
        self.buffer += block
        return True


def _author(body: str, prefixes: Prefixes) -> Author:
    doc = _Text(body)
    login_el = doc.element(prefixes.names("wp", "author_login"))
    name_el = doc.element(prefixes.names("wp", "author_display_name"))
    login = unwrap(login_el.body).strip() if login_el and login_el.body is not None else ""
    name = unwrap(name_el.body).strip() if name_el and name_el.body is not None else ""
    return Author(login, name or login)


@cache
def _end_tag_bytes(name: bytes) -> re.Pattern[bytes]:
    return re.compile(rb"</" + re.escape(name) + rb"\s*>")
