"""Plain data shapes shared by sources, extractors, the store and the assets.

They carry no behaviour beyond small derived properties, so every layer can use them
without importing each other.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

# Statuses WordPress shows the public. Attachments carry `inherit` and follow their parent.
PUBLIC_STATUSES = frozenset({"publish"})
ATTACHMENT_TYPE = "attachment"


@dataclass(frozen=True)
class SourceDocument:
    """One WordPress object as a source (REST API or WXR export) describes it."""

    wp_id: int
    type: str  # post, page, a custom post type, or "attachment"
    status: str  # publish, draft, pending, private, future, trash, inherit, ...
    title: str
    url: str  # permalink (attachments: their attachment page, or the file URL)
    content_html: str = ""  # post HTML; REST gives it rendered, WXR raw with block comments
    excerpt: str = ""
    author: str = ""
    modified_gmt: datetime | None = None
    published_gmt: datetime | None = None
    password_protected: bool = False
    terms: dict[str, list[str]] = field(default_factory=dict)  # taxonomy -> term names
    language: str | None = None
    parent_id: int | None = None  # attachments: the post they are attached to (0/None = none)
    mime_type: str | None = None  # attachments only
    media_url: str | None = None  # attachments only: the file itself

    @property
    def is_attachment(self) -> bool:
        return self.type == ATTACHMENT_TYPE

    def content_hash(self) -> str:
        """Hash of everything that changes what gets indexed (text, title, URL, terms)."""
        h = hashlib.sha256()
        for part in (
            self.type,
            self.title,
            self.url,
            self.content_html,
            self.excerpt,
            self.author,
            repr(sorted((k, sorted(v)) for k, v in self.terms.items())),
            self.mime_type or "",
            self.media_url or "",
            self.modified_gmt.isoformat() if self.is_attachment and self.modified_gmt else "",
        ):
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\x1f")
        return h.hexdigest()


def exclusion_reason(doc: SourceDocument, parent_public: bool | None = None) -> str | None:
    """Why WordPress would not show `doc` to the public, or None when it would.

    Invariant 2: only what the public sees is answerable. Attachments have status `inherit`
    and are public when unattached or attached to a public post.
    """
    if doc.password_protected:
        return "password-protected"
    if doc.is_attachment:
        if doc.status not in ("inherit", "publish"):
            return f"status {doc.status}"
        if doc.parent_id and parent_public is False:
            return "parent not public"
        return None
    if doc.status not in PUBLIC_STATUSES:
        return f"status {doc.status}"
    return None


@dataclass(frozen=True)
class Section:
    """A run of text under one heading path, produced by extraction."""

    heading_path: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk as the chunker makes it, before it has a vector."""

    ordinal: int
    heading_path: tuple[str, ...]
    text: str  # the chunk's own text (no title prefix)
    embed_text: str  # what is embedded: heading path + text, within the token limit
    token_count: int  # word pieces of embed_text, as the embedder's tokenizer counts them

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.embed_text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class SearchHit:
    """One document found by a search, with the passage that speaks for it."""

    chunk_id: int  # the best passage
    document_id: int
    wp_id: int
    doc_type: str
    title: str
    url: str
    heading_path: list[str]
    text: str  # the best passage's text
    score: float  # fused evidence, in standard deviations above chance (resources/store/ranking)
    vector_score: float
    text_score: float | None  # None when no chunk of the document holds a question word
    vector_distance: float | None  # cosine distance of the document's closest chunk
    passages: int = 1  # how many of the document's chunks matched
