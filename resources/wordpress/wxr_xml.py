"""The strict WXR reader: a streaming XML parse of `<rss><channel>`, one child at a time.

Exports can be hundreds of megabytes, so the file is fed to expat in blocks and each child
of `<channel>` (an item, an author, a channel fact) is built as its own small tree, handed
out with the line of its start tag, and dropped.

Safety: like WordPress's importer (which refuses any export with a DOCTYPE), a document type
declaration is refused before anything in it is processed, and entity declarations and
external references are refused as well — the protections defusedxml applies, set directly
on expat here so the parse runs at expat's speed (the pure-Python parser defusedxml wraps
spent most of its time in per-tag Python code). Without a DTD, expat expands nothing but the
five XML entities and character references.

When the XML is not well-formed, `NotWellFormed` says where; the caller decides whether the
tolerant reader takes over (it does once `<rss><channel>` has been seen).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import IO
from xml.etree.ElementTree import Element, TreeBuilder
from xml.parsers import expat

from pressrag.resources.errors import SourceError
from pressrag.resources.wordpress.wxr_items import Entry, canonical_tag, channel_entry

BLOCK_BYTES = 64 << 10


class NotWellFormed(Exception):
    """The XML broke at `line`; `in_channel` tells whether `<rss><channel>` had started."""

    def __init__(self, line: int, message: str, *, in_channel: bool) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message
        self.in_channel = in_channel


class UnsafeXml(Exception):
    """Raised from an expat handler: the export declares what an export never does."""


def safe_expat_parser() -> expat.XMLParserType:
    """An expat parser (namespaces as `uri}local`) that refuses DTDs, entity declarations
    and external references, so nothing can expand or be fetched."""
    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True
    parser.StartDoctypeDeclHandler = _refuse("a DOCTYPE")
    parser.EntityDeclHandler = _refuse("XML entities")
    parser.UnparsedEntityDeclHandler = _refuse("XML entities")
    parser.ExternalEntityRefHandler = _refuse("an external reference")
    return parser


def _refuse(what: str) -> Callable[..., None]:
    def handler(*_: object) -> None:
        raise UnsafeXml(what)

    return handler


def qualified(name: str) -> str:
    """expat's 'uri}local' as ElementTree's '{uri}local'."""
    return "{" + name if "}" in name else name


class _ChannelReader:
    """Expat handlers that build each child of `<rss><channel>` separately, with its line."""

    def __init__(self, name: str, parser: expat.XMLParserType) -> None:
        self.name = name
        self.parser = parser
        self.depth = 0
        self.in_channel = False
        self.channel_seen = False
        self.completed: list[tuple[str, Element, int]] = []
        self._builder: TreeBuilder | None = None
        self._line = 0
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end

    def start(self, name: str, attrs: dict[str, str]) -> None:
        self.depth += 1
        tag = "{" + name if "}" in name else name
        if self._builder is None:
            self._outer_start(tag)
        if self._builder is not None:
            self._builder.start(tag, {qualified(k): v for k, v in attrs.items()} if attrs else {})

    def _outer_start(self, tag: str) -> None:
        if self.depth == 1 and canonical_tag(tag) != "rss":
            raise SourceError(
                f"{self.name} is not a WordPress export: its root element is "
                f"<{canonical_tag(tag)}>, expected <rss>"
            )
        if self.depth == 2:
            self.in_channel = canonical_tag(tag) == "channel"
            self.channel_seen = self.channel_seen or self.in_channel
        elif self.depth == 3 and self.in_channel:
            self._builder = TreeBuilder()
            self._line = self.parser.CurrentLineNumber
            # Text inside a channel child goes straight to its builder (no Python frame).
            self.parser.CharacterDataHandler = self._builder.data

    def end(self, name: str) -> None:
        if self._builder is not None:
            element = self._builder.end("{" + name if "}" in name else name)
            if self.depth == 3:
                self.completed.append((canonical_tag(element.tag), element, self._line))
                self._builder = None
                self.parser.CharacterDataHandler = None  # text between children is ignored
        self.depth -= 1


def strict_entries(handle: IO[bytes], name: str) -> Iterator[Entry]:
    """Channel facts, authors and raw items in file order; raises `NotWellFormed` where the
    XML breaks (after handing out everything complete before that point)."""
    parser = safe_expat_parser()
    reader = _ChannelReader(name, parser)
    while True:
        block = handle.read(BLOCK_BYTES)
        try:
            parser.Parse(block, not block)
        except expat.ExpatError as exc:
            yield from _drain(reader)
            message = expat.errors.messages[exc.code]
            raise NotWellFormed(exc.lineno, message, in_channel=reader.channel_seen) from exc
        except UnsafeXml as exc:
            raise SourceError(
                f"refusing {name}: it declares {exc}, which an export never does and an XML "
                "bomb or a file-stealing document does"
            ) from exc
        yield from _drain(reader)
        if not block:
            break
    if not reader.channel_seen:
        raise SourceError(f"{name} is not a WordPress export: it has no <rss><channel>")


def _drain(reader: _ChannelReader) -> Iterator[Entry]:
    completed, reader.completed = reader.completed, []
    for tag, element, line in completed:
        entry = channel_entry(tag, element, line)
        if entry is not None:
            yield entry


def parse_fragment(text: str) -> Element:
    """Parse a small document (one item, in the tolerant reader) with the same protections."""
    parser = safe_expat_parser()
    builder = TreeBuilder()
    parser.StartElementHandler = lambda name, attrs: builder.start(
        qualified(name), {qualified(k): v for k, v in attrs.items()}
    )
    parser.EndElementHandler = lambda name: builder.end(qualified(name))
    parser.CharacterDataHandler = builder.data
    parser.Parse(text, True)
    return builder.close()
