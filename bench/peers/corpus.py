"""The corpus every stack indexes: pages of HTML with an id and a title, and its edits.

Built from Debian's `python3.11-doc` (the library reference, as the issue measured) when it
is installed, else from the bundled sample site repeated with distinct text. PressRAG reads
it as a WXR export (what a WordPress site hands over); the peers read the same pages' HTML
with BeautifulSoup, as their HTML readers do. Standard library only: the peers' virtualenvs
import it too.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Collection
from dataclasses import asdict, dataclass
from pathlib import Path

PYDOCS = Path("/usr/share/doc/python3.11/html/library")
SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "pydocs" / "export.xml"
EDIT_SENTENCE = " This paragraph was edited for the benchmark."


@dataclass
class Page:
    id: int
    title: str
    html: str


def pydocs_pages(count: int, root: Path = PYDOCS) -> list[Page]:
    """`count` pages of the library reference, spread evenly over the alphabetical list so
    that short and long pages both come in; the Sphinx main body only (no navigation)."""
    files = sorted(root.glob("*.html"))
    if count < len(files):
        files = [files[i * len(files) // count] for i in range(count)]
    pages = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        body = re.search(
            r'<div class="body" role="main">(.*?)<div class="sphinxsidebar"', text, re.S
        )
        title = re.search(r"<title>(.*?)</title>", text, re.S)
        if not body or not title:
            continue
        name = html.unescape(title.group(1)).rsplit(" — ", 1)[0].strip()
        content = re.sub(r'<a class="headerlink"[^>]*>.*?</a>', "", body.group(1), flags=re.S)
        pages.append(Page(len(pages) + 1, name, content))
    return pages


def sample_pages(multiple: int, export: Path = SAMPLE) -> list[Page]:
    """The sample site's published posts and pages, `multiple` times; each copy's title and
    first paragraph name its edition, so no two pages embed the same text."""
    text = export.read_text(encoding="utf-8")
    items = []
    for item in re.findall(r"<item>.*?</item>", text, re.S):
        field = dict(
            re.findall(r"<(wp:status|wp:post_type|title)>(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?</", item)
        )
        content = re.search(r"<content:encoded><!\[CDATA\[(.*?)\]\]></content:encoded>", item, re.S)
        if field.get("wp:status") == "publish" and field.get("wp:post_type") in ("post", "page"):
            items.append((html.unescape(field["title"]), content.group(1) if content else ""))
    pages = []
    for n in range(1, multiple + 1):
        for title, content in items:
            marked = content.replace("<p>", f"<p>(Edition {n}.) ", 1)
            pages.append(Page(len(pages) + 1, f"{title} (edition {n})", marked))
    return pages


def edit(pages: list[Page], edits: int, deletes: int) -> tuple[list[Page], list[int], list[int]]:
    """A later version of the site: `edits` pages get one sentence added to a paragraph in
    their middle (one passage changes, as a typical edit), `deletes` others are removed.
    Returns (new pages, edited ids, deleted ids); pages are picked evenly and
    deterministically among those with paragraphs."""
    editable = [p for p in pages if "</p>" in p.html]
    step = max(1, len(editable) // (edits + deletes))
    picked = editable[::step][: edits + deletes]
    edited = {p.id for p in picked[:edits]}
    deleted = {p.id for p in picked[edits:]}
    out = []
    for page in pages:
        if page.id in deleted:
            continue
        if page.id in edited:
            ends = [m.start() for m in re.finditer("</p>", page.html)]
            at = ends[len(ends) // 2]
            page = Page(page.id, page.title, page.html[:at] + EDIT_SENTENCE + page.html[at:])
        out.append(page)
    return out, sorted(edited), sorted(deleted)


def questions(pages: list[Page], count: int = 50) -> list[str]:
    """`count` questions about the corpus's subjects (latency, not relevance, is measured):
    each page title in turn, phrased as a reader would ask."""
    forms = ["how do I use {}", "what is {} for", "example of {}", "{} explained"]
    titles = [re.sub(r"\s*\(edition \d+\)$", "", p.title) for p in pages]
    return [forms[i % len(forms)].format(titles[i % len(titles)]) for i in range(count)]


def save(pages: list[Page], path: Path) -> Path:
    path.write_text(json.dumps([asdict(p) for p in pages]), encoding="utf-8")
    return path


def load(path: Path) -> list[Page]:
    return [Page(**p) for p in json.loads(path.read_text(encoding="utf-8"))]


def wxr(pages: list[Page], edited: Collection[int] = ()) -> str:
    """A WXR 1.2 export of the pages, as published WordPress pages; the `edited` ones carry
    a later modification date, as WordPress records an edit."""
    items = []
    for p in pages:
        modified = "2024-06-01 00:00:00" if p.id in edited else "2024-01-01 00:00:00"
        items.append(
            f"""<item>
<title><![CDATA[{p.title}]]></title>
<link>http://peers.example/?page_id={p.id}</link>
<dc:creator><![CDATA[admin]]></dc:creator>
<guid isPermaLink="false">http://peers.example/?page_id={p.id}</guid>
<content:encoded><![CDATA[{p.html.replace("]]>", "]]]]><![CDATA[>")}]]></content:encoded>
<excerpt:encoded><![CDATA[]]></excerpt:encoded>
<wp:post_id>{p.id}</wp:post_id>
<wp:post_date><![CDATA[2024-01-01 00:00:00]]></wp:post_date>
<wp:post_date_gmt><![CDATA[2024-01-01 00:00:00]]></wp:post_date_gmt>
<wp:post_modified><![CDATA[{modified}]]></wp:post_modified>
<wp:post_modified_gmt><![CDATA[{modified}]]></wp:post_modified_gmt>
<wp:post_name><![CDATA[page-{p.id}]]></wp:post_name>
<wp:status><![CDATA[publish]]></wp:status>
<wp:post_parent>0</wp:post_parent>
<wp:post_type><![CDATA[page]]></wp:post_type>
<wp:post_password><![CDATA[]]></wp:post_password>
</item>"""
        )
    return (
        '<?xml version="1.0" encoding="UTF-8" ?>\n<rss version="2.0" '
        'xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:wp="http://wordpress.org/export/1.2/">\n<channel>\n'
        "<title>Peers benchmark</title>\n<link>http://peers.example</link>\n"
        "<wp:wxr_version>1.2</wp:wxr_version>\n"
        "<wp:base_site_url>http://peers.example</wp:base_site_url>\n"
        "<wp:base_blog_url>http://peers.example</wp:base_blog_url>\n"
        + "\n".join(items)
        + "\n</channel>\n</rss>\n"
    )
