"""The draft writer: a topic (and an optional outline) → the site's most relevant posts → a
draft that cites and links them.

Retrieval goes through the store's own hybrid search, once for the topic and once per outline
item, and groups the hits by document. With a chat model configured the draft is prose that
cites the posts as `[n]`; without one it is a structured research brief — a heading per outline
item (or per post), the key passages quoted — that writes nothing new, and says so (`kind`).

A draft travels as plain blocks (heading, paragraph, quote, list) with `[n]` markers and a list
of sources by WordPress id: the plugin builds the post's markup itself (escaped) and links each
source to its own permalink, so no HTML from here ever reaches WordPress.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import psycopg

from pressrag.resources.answerers.citations import strip_invalid_markers
from pressrag.resources.answerers.extractive import split_sentences
from pressrag.resources.embedders import Embedder
from pressrag.resources.errors import ConfigError, PressRAGError
from pressrag.resources.store.search import hybrid_search
from pressrag.resources.store.sites import Site
from pressrag.resources.store.spaces import active_space
from pressrag.resources.writeback.chat_model import ChatModelWriter

MAX_SOURCES = 6
PASSAGES_PER_SOURCE = 3
HITS_PER_QUERY = 10
QUOTE_WORDS = 70
MAX_PASSAGE_CHARS = 1500

BlockType = Literal["heading", "paragraph", "quote", "list"]


class DraftError(PressRAGError):
    """The draft could not be written (nothing relevant found, or the model failed)."""


@dataclass(frozen=True)
class DraftRequest:
    topic: str
    outline: tuple[str, ...] = ()
    words: int = 600
    language: str | None = None  # None: the language of the passages


@dataclass
class Source:
    """One existing post the draft draws on, numbered `[n]` in the draft."""

    n: int
    wp_id: int
    title: str
    url: str
    passages: list[str] = field(default_factory=list)  # best first
    queries: set[int] = field(default_factory=set)  # which queries found it (0 = the topic)


@dataclass(frozen=True)
class Block:
    type: BlockType
    text: str = ""
    level: int = 2
    items: tuple[str, ...] = ()
    source: int | None = None  # a quote's source number

    def as_dict(self) -> dict:
        out: dict = {"type": self.type}
        if self.type == "list":
            out["items"] = list(self.items)
        else:
            out["text"] = self.text
        if self.type == "heading":
            out["level"] = self.level
        if self.source is not None:
            out["source"] = self.source
        return out


@dataclass(frozen=True)
class Draft:
    title: str
    kind: Literal["prose", "research_brief"]
    generator: str
    model: str
    blocks: list[Block]
    sources: list[Source]

    def as_payload(self) -> dict:
        """The `draft` object of a `draft.create` callback (docs/contracts.md)."""
        return {
            "title": self.title,
            "kind": self.kind,
            "generator": self.generator,
            "model": self.model,
            "blocks": [b.as_dict() for b in self.blocks],
            "sources": [
                {"n": s.n, "wp_id": s.wp_id, "title": s.title, "url": s.url} for s in self.sources
            ],
        }


# ---- retrieval ------------------------------------------------------------------------------


def queries_for(request: DraftRequest) -> list[str]:
    """The topic, then each outline item in the topic's context."""
    return [request.topic, *(f"{request.topic}: {item}" for item in request.outline)]


def gather_sources(
    conn: psycopg.Connection, site: Site, embedder: Embedder, request: DraftRequest
) -> list[Source]:
    """The site's documents most relevant to the request, numbered in order of relevance."""
    space = active_space(conn)
    if space is None:
        raise DraftError("nothing of this site is indexed yet")
    if (space.model, space.dimension) != (embedder.model_id, embedder.dimension):
        raise ConfigError(
            f"the index was built with {space.model}; the configured embedder is "
            f"{embedder.model_id}"
        )
    texts = queries_for(request)
    vectors = embedder.embed(texts)
    found: dict[int, Source] = {}
    for index, (text, vector) in enumerate(zip(texts, vectors, strict=True)):
        hits = hybrid_search(
            conn,
            site_id=site.id,
            space=space,
            query_text=text,
            query_vector=vector,
            k=HITS_PER_QUERY,
            ts_config=site.ts_config,
        )
        for hit in hits:
            source = found.setdefault(
                hit.wp_id, Source(n=0, wp_id=hit.wp_id, title=hit.title, url=hit.url)
            )
            source.queries.add(index)
            if hit.text not in source.passages and len(source.passages) < PASSAGES_PER_SOURCE:
                source.passages.append(hit.text)
    return _rank(list(found.values()), len(texts))


def _rank(sources: list[Source], n_queries: int) -> list[Source]:
    """Keep the documents found by most queries (ties: first found), topic hits first, and
    make sure each outline item keeps at least one of its documents."""
    order = {id(s): i for i, s in enumerate(sources)}
    ranked = sorted(sources, key=lambda s: (-len(s.queries), order[id(s)]))
    kept = ranked[:MAX_SOURCES]
    for query in range(1, n_queries):
        if not any(query in s.queries for s in kept):
            extra = next((s for s in ranked if query in s.queries and s not in kept), None)
            if extra is not None:
                kept.append(extra)
    for n, source in enumerate(kept, start=1):
        source.n = n
    return kept


# ---- writers --------------------------------------------------------------------------------


class DraftWriter(Protocol):
    generator: str
    model: str

    def write(self, site_id: str, request: DraftRequest, sources: Sequence[Source]) -> Draft: ...


def key_passage(text: str, words: int = QUOTE_WORDS) -> str:
    """The first sentences of a passage, up to about `words` words (whole sentences)."""
    chosen: list[str] = []
    count = 0
    for sentence in split_sentences(text) or [" ".join(text.split())]:
        chosen.append(sentence)
        count += len(sentence.split())
        if count >= words:
            break
    quote = " ".join(chosen)
    tokens = quote.split()
    return quote if len(tokens) <= words * 3 // 2 else " ".join(tokens[:words]) + " …"


class ResearchBriefWriter:
    """No chat model: headings from the retrieved documents (or the outline), their key
    passages quoted and attributed. Nothing is newly written."""

    generator = "extractive"
    model = "none"

    def write(self, site_id: str, request: DraftRequest, sources: Sequence[Source]) -> Draft:
        blocks: list[Block] = []
        if request.outline:
            for index, item in enumerate(request.outline, start=1):
                blocks.append(Block("heading", item, level=2))
                relevant = [s for s in sources if index in s.queries] or list(sources[:1])
                blocks.extend(_quotes(relevant[:2]))
        else:
            for source in sources:
                blocks.append(Block("heading", source.title, level=2))
                blocks.extend(_quotes([source], per_source=2))
        return Draft(
            request.topic, "research_brief", self.generator, self.model, blocks, list(sources)
        )


def _quotes(sources: Sequence[Source], per_source: int = 1) -> list[Block]:
    return [
        Block("quote", key_passage(passage), source=source.n)
        for source in sources
        for passage in source.passages[:per_source]
    ]


PROSE_PROMPT = (
    "You draft a new post for a website, using ONLY facts from the numbered passages of the "
    "site's existing posts that the user provides. Rules:\n"
    "1. After each sentence that uses a passage, cite it as [n] with the passage's number.\n"
    "2. Write about {words} words in {language}.\n"
    "3. Format: paragraphs separated by blank lines; section headings as lines starting with "
    "'## '; bullet lists as lines starting with '- '. No title line, no preamble.\n"
    "4. Never invent facts, quotes, figures or links."
)


def build_prose_messages(request: DraftRequest, sources: Sequence[Source]) -> list[dict[str, str]]:
    language = request.language or "the language of the passages"
    system = PROSE_PROMPT.format(words=request.words, language=language)
    blocks = [
        f"[{s.n}] {s.title}\n" + "\n".join(p[:MAX_PASSAGE_CHARS] for p in s.passages)
        for s in sources
    ]
    outline = "".join(f"\n- {item}" for item in request.outline)
    if outline:
        outline = "\n\nFollow this outline, one section per item:" + outline
    user = "Passages:\n\n" + "\n\n".join(blocks) + f"\n\nTopic: {request.topic}{outline}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


_EMPHASIS = re.compile(r"(\*\*|__|`)")


def blocks_from_markdown(text: str, valid: Sequence[int]) -> list[Block]:
    """The model's light markdown as blocks; `[n]` markers outside `valid` are removed."""
    blocks: list[Block] = []
    paragraph: list[str] = []
    items: list[str] = []

    def clean(line: str) -> str:
        return strip_invalid_markers(_EMPHASIS.sub("", line).strip(), valid)[0].strip()

    def flush() -> None:
        if paragraph:
            blocks.append(Block("paragraph", clean(" ".join(paragraph))))
            paragraph.clear()
        if items:
            blocks.append(Block("list", items=tuple(clean(i) for i in items)))
            items.clear()

    for raw in text.splitlines():
        line = raw.strip()
        heading = re.match(r"^(#{1,6})\s+(.*)$", line)
        if not line:
            flush()
        elif heading:
            flush()
            level = min(4, max(2, len(heading.group(1))))
            blocks.append(Block("heading", clean(heading.group(2)), level=level))
        elif re.match(r"^[-*]\s+", line):
            if paragraph:
                flush()
            items.append(re.sub(r"^[-*]\s+", "", line))
        elif line.startswith(">"):
            flush()
            blocks.append(Block("quote", clean(line.lstrip("> "))))
        else:
            if items:
                flush()
            paragraph.append(line)
    flush()
    return [b for b in blocks if b.text or b.items]


class ChatDraftWriter(ChatModelWriter):
    """Prose from the configured chat model, citing the retrieved posts."""

    purpose = "draft"
    what = "draft writer"
    error = DraftError
    min_timeout = 120.0

    def write(self, site_id: str, request: DraftRequest, sources: Sequence[Source]) -> Draft:
        completion = self.complete(
            site_id,
            build_prose_messages(request, sources),
            max_tokens=request.words * 2 + 300,
            temperature=0.4,
        )
        blocks = blocks_from_markdown(completion.text, [s.n for s in sources])
        if not blocks:
            raise DraftError("the chat model returned no text")
        return Draft(request.topic, "prose", self.generator, self.model, blocks, list(sources))
