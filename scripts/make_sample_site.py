"""Build the shipped sample site ``samples/pydocs/`` from a real WordPress.

Content is prose from the Python 3.11 documentation as Debian ships it
(``python3.11-doc``), put into a fresh WordPress through its REST API, exported with
WordPress's own exporter. Re-running gives the same posts, pages, files and queries.

    .venv/bin/python scripts/make_sample_site.py [--out samples/pydocs]

Needs Debian's wordpress, mariadb-server, php-cli and python3.11-doc, and root (the
harness writes a config file into /etc/wordpress). Uses bs4 (installed with unstructured),
fpdf2 and python-docx from the project virtualenv.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import shutil
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import docx
from bs4 import BeautifulSoup, NavigableString, Tag
from docx.shared import Pt
from fpdf import FPDF

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a plain script: make tests.support importable

from tests.support.wordpress import WordPress  # noqa: E402

DOCS_ROOT = Path("/usr/share/doc/python3.11/html")
SITE_URL = "http://pydocs.example"  # fixed, so exports do not depend on the served port
MIN_TEXT, MAX_TEXT = 1000, 6000
FIRST_DATE = dt.datetime(2024, 1, 8, 9, 30)
WXR = {
    "wp": "http://wordpress.org/export/1.2/",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "excerpt": "http://wordpress.org/export/1.2/excerpt/",
}


# --------------------------------------------------------------------------- content
@dataclass(frozen=True)
class Doc:
    """One WordPress post or page made from one section of the Python docs."""

    key: str
    source: str  # "tutorial/controlflow.html#match-statements"
    kind: str = "post"  # post | page
    category: str = ""
    tags: tuple[str, ...] = ()
    blocks: bool = False  # write Gutenberg block markup instead of classic HTML
    status: str = "publish"
    password: str = ""
    marker: str = ""  # a phrase that must never become searchable
    extra_html: str = ""  # appended verbatim (shortcodes, scripts)


GALLERY_EXTRAS = (
    '<!-- wp:shortcode -->\n[gallery columns="3" size="thumbnail"]\n<!-- /wp:shortcode -->\n'
    "<!-- wp:html -->\n<script>window.pydocsAnalytics = "
    '{"page": "multi-threading", "track": true};</script>\n<!-- /wp:html -->\n'
)

DOCS: tuple[Doc, ...] = (
    Doc(
        "match",
        "tutorial/controlflow.html#match-statements",
        category="Tutorial",
        tags=("control flow",),
        blocks=True,
    ),
    Doc(
        "defaults",
        "tutorial/controlflow.html#default-argument-values",
        category="Tutorial",
        tags=("functions",),
    ),
    Doc(
        "special-params",
        "tutorial/controlflow.html#special-parameters",
        category="Tutorial",
        tags=("functions",),
        blocks=True,
    ),
    Doc(
        "lambda",
        "tutorial/controlflow.html#documentation-strings",
        category="Tutorial",
        tags=("functions", "style"),
    ),
    Doc(
        "comprehensions",
        "tutorial/datastructures.html#list-comprehensions",
        category="Tutorial",
        tags=("data structures",),
    ),
    Doc(
        "looping",
        "tutorial/datastructures.html#looping-techniques",
        category="Tutorial",
        tags=("data structures",),
        blocks=True,
    ),
    Doc(
        "dicts",
        "tutorial/datastructures.html#dictionaries",
        category="Tutorial",
        tags=("data structures",),
    ),
    Doc(
        "handling",
        "tutorial/errors.html#handling-exceptions",
        category="Tutorial",
        tags=("errors",),
    ),
    Doc(
        "groups",
        "tutorial/errors.html#raising-and-handling-multiple-unrelated-exceptions",
        category="Tutorial",
        tags=("errors",),
        blocks=True,
    ),
    Doc(
        "cleanup",
        "tutorial/errors.html#defining-clean-up-actions",
        category="Tutorial",
        tags=("errors",),
    ),
    Doc(
        "mangling",
        "tutorial/classes.html#private-variables",
        category="Tutorial",
        tags=("classes",),
    ),
    Doc(
        "generators",
        "tutorial/classes.html#generators",
        category="Tutorial",
        tags=("classes", "iterators"),
        blocks=True,
    ),
    Doc(
        "fstrings",
        "tutorial/inputoutput.html#formatted-string-literals",
        category="Tutorial",
        tags=("strings",),
    ),
    Doc(
        "json",
        "tutorial/inputoutput.html#saving-structured-data-with-json",
        category="Tutorial",
        tags=("files",),
    ),
    Doc("packages", "tutorial/modules.html#packages", category="Tutorial", tags=("modules",)),
    Doc(
        "pycache",
        "tutorial/modules.html#compiled-python-files",
        category="Tutorial",
        tags=("modules",),
        blocks=True,
    ),
    Doc(
        "venv",
        "tutorial/venv.html#creating-virtual-environments",
        category="Tutorial",
        tags=("packaging",),
    ),
    Doc(
        "representation",
        "tutorial/floatingpoint.html#representation-error",
        category="Tutorial",
        tags=("numbers",),
    ),
    Doc(
        "decimal",
        "tutorial/stdlib2.html#decimal-floating-point-arithmetic",
        category="Standard Library",
        tags=("numbers",),
    ),
    Doc(
        "weakref",
        "tutorial/stdlib2.html#weak-references",
        category="Standard Library",
        tags=("memory",),
    ),
    Doc(
        "threading",
        "tutorial/stdlib2.html#multi-threading",
        category="Standard Library",
        tags=("concurrency",),
        blocks=True,
        extra_html=GALLERY_EXTRAS,
    ),
    Doc("sorting", "howto/sorting.html#key-functions", category="HOWTO", tags=("sorting",)),
    Doc(
        "greedy",
        "howto/regex.html#greedy-versus-non-greedy",
        category="HOWTO",
        tags=("regular expressions", "strings"),
    ),
    Doc(
        "networks", "howto/ipaddress.html#defining-networks", category="HOWTO", tags=("networking",)
    ),
    Doc(
        "unicode-compare",
        "howto/unicode.html#comparing-strings",
        category="HOWTO",
        tags=("strings", "unicode"),
        blocks=True,
    ),
    Doc("pathlib", "library/pathlib.html#pure-paths", category="Standard Library", tags=("files",)),
    # Pages: the "about" side of the site.
    Doc("appetite", "tutorial/appetite.html#whetting-your-appetite", kind="page"),
    Doc("invoking", "tutorial/interpreter.html#invoking-the-interpreter", kind="page"),
    Doc(
        "source-encoding",
        "tutorial/interpreter.html#the-interpreter-and-its-environment",
        kind="page",
    ),
    Doc("what-now", "tutorial/whatnow.html#what-now", kind="page", blocks=True),
    Doc(
        "tab-completion",
        "tutorial/interactive.html#interactive-input-editing-and-history-substitution",
        kind="page",
    ),
    Doc("about", "about.html#about-these-documents", kind="page"),
    Doc("bugs", "bugs.html#dealing-with-bugs", kind="page", blocks=True),
    Doc("startup", "tutorial/appendix.html#the-interactive-startup-file", kind="page"),
    # Never visible: each carries a marker phrase no search may ever return.
    Doc(
        "private",
        "tutorial/classes.html#multiple-inheritance",
        category="Tutorial",
        status="private",
        marker="quokka lantern protocol 5521",
    ),
    Doc(
        "draft",
        "tutorial/datastructures.html#sets",
        category="Tutorial",
        status="draft",
        marker="marzipan isobar ledger 8830",
    ),
    Doc(
        "protected",
        "tutorial/stdlib2.html#templating",
        category="Standard Library",
        password="pydocs-members",
        marker="tangerine dirigible quorum 2749",
    ),
    Doc(
        "trashed",
        "tutorial/stdlib2.html#output-formatting",
        category="Standard Library",
        marker="basalt origami ferryman 6402",
    ),
)
TRASHED = {"trashed"}
ATTACHMENT_PARENT = "pathlib"


@dataclass(frozen=True)
class Attachment:
    """A downloadable file made from other docs prose and attached to a published post."""

    title: str
    filename: str
    sources: tuple[str, ...]
    distinctive_phrase: str  # verbatim from the source text; used by a known-item query
    query: str


PDF = Attachment(
    title="Descriptor Primer (PDF handout)",
    filename="descriptor-primer.pdf",
    sources=("howto/descriptor.html#primer",),
    distinctive_phrase="it must be stored as a class variable in another class",
    query="why must a descriptor be stored on the class rather than on the instance",
)
DOCX = Attachment(
    title="Itertools Tour (Word handout)",
    filename="itertools-tour.docx",
    sources=(
        "howto/functional.html#creating-new-iterators",
        "howto/functional.html#grouping-elements",
    ),
    distinctive_phrase="groupby() assumes that the underlying iterable",
    query="does grouping consecutive elements by a key require the input to be sorted first",
)

# Known-item queries, phrased away from the page text; each answer lives in one document.
QUERIES: tuple[tuple[str, str], ...] = (
    ("match", "compare a value against several literal cases like a C switch"),
    ("defaults", "why does a list used as a default parameter keep growing across calls"),
    ("special-params", "force callers to pass some arguments by position using a slash"),
    ("looping", "iterate over two sequences at once pairing up their items"),
    ("handling", "catch an error raised inside a block and carry on with else"),
    ("groups", "raise several unrelated errors together and catch them with except star"),
    ("cleanup", "run code on the way out no matter whether an error happened"),
    ("mangling", "double leading underscore names get rewritten with the class name"),
    ("generators", "write an iterator with yield instead of __next__"),
    ("fstrings", "put expressions inside braces in a string prefixed with f"),
    ("json", "serialize nested lists and dicts to text and read them back"),
    ("pycache", "where are cached bytecode files kept and when are they recompiled"),
    ("representation", "why can 0.1 not be stored exactly as a binary fraction"),
    ("decimal", "exact decimal arithmetic for money and legal rounding rules"),
    ("weakref", "cache objects without keeping them alive"),
    ("greedy", "stop a regex star from swallowing too much of an HTML tag"),
    ("networks", "CIDR prefix with host bits set raises an error unless strict is false"),
    ("unicode-compare", "compare strings case-insensitively with casefold and normal forms"),
    ("packages", "what is the __init__.py file for in a folder of modules"),
    ("pathlib", "pure path objects that never touch the filesystem, windows flavour on linux"),
    ("venv", "make an isolated environment folder and activate it"),
    ("appetite", "why learn python instead of writing shell scripts or C"),
)


# ---------------------------------------------------------------- docs HTML → blocks
@dataclass
class Block:
    """One piece of converted content: a heading, paragraph, list or code sample."""

    kind: str  # h2 | h3 | p | ul | ol | code
    html: str = ""  # inline HTML (for ul/ol: the <li> items)
    text: str = ""
    items: list[str] = field(default_factory=list)


def load_section(source: str) -> tuple[str, Tag]:
    """The section element and its heading text for ``page.html#section-id``."""
    page, section_id = source.split("#")
    soup = BeautifulSoup((DOCS_ROOT / page).read_text(), "html.parser")
    section = soup.find("section", id=section_id)
    if not isinstance(section, Tag):
        raise SystemExit(f"section {source} not found under {DOCS_ROOT}")
    heading = section.find(["h1", "h2", "h3", "h4"])
    assert isinstance(heading, Tag)
    return inline_text(heading), section


def inline_text(element: Tag) -> str:
    """Plain text of an element without Sphinx permalink marks or section numbers."""
    parts = []
    for node in element.descendants:
        if isinstance(node, NavigableString) and not any(
            isinstance(parent, Tag)
            and (
                "headerlink" in parent.get("class", [])
                or "section-number" in parent.get("class", [])
            )
            for parent in node.parents
        ):
            parts.append(str(node))
    return " ".join("".join(parts).split())


def inline_html(element: Tag) -> str:
    """Inline content as simple HTML: code, em and strong kept, links flattened."""
    out: list[str] = []
    for node in element.children:
        if isinstance(node, NavigableString):
            out.append(html.escape(str(node), quote=False))
            continue
        if not isinstance(node, Tag):
            continue
        classes = node.get("class", [])
        if "headerlink" in classes or "section-number" in classes:
            continue
        if node.name == "code" or ("pre" in classes and node.name == "span"):
            out.append(f"<code>{html.escape(node.get_text(), quote=False)}</code>")
        elif node.name in ("em", "strong"):
            out.append(f"<{node.name}>{inline_html(node)}</{node.name}>")
        elif node.name == "p":
            out.append(" " + inline_html(node) + " ")
        elif node.name in ("div", "ul", "ol", "dl", "pre"):
            out.append(" " + html.escape(node.get_text(" "), quote=False) + " ")
        else:
            out.append(inline_html(node))
    return " ".join("".join(out).split())


def text_of(inline: str) -> str:
    return html.unescape(BeautifulSoup(inline, "html.parser").get_text())


def convert(element: Tag, depth: int = 0) -> Iterable[Block]:
    """Blocks of a Sphinx section; nested sections become h2 (then h3) headings."""
    for child in element.children:
        if not isinstance(child, Tag):
            continue
        classes = child.get("class", [])
        if child.name == "section":
            heading = child.find(["h2", "h3", "h4", "h5"])
            if isinstance(heading, Tag):
                title = html.escape(inline_text(heading), quote=False)
                yield Block("h2" if depth == 0 else "h3", title, text_of(title))
            yield from convert(child, depth + 1)
        elif child.name == "p":
            inline = inline_html(child)
            if inline:
                yield Block("p", inline, text_of(inline))
        elif child.name == "div" and any(c.startswith("highlight") for c in classes):
            code = child.get_text().strip("\n")
            yield Block("code", html.escape(code, quote=False), code)
        elif child.name in ("ul", "ol"):
            items = [inline_html(li) for li in child.find_all("li", recursive=False)]
            items = [item for item in items if item]
            yield Block(child.name, "", " ".join(text_of(i) for i in items), items)
        elif child.name == "dl":
            for term in child.find_all(["dt", "dd"], recursive=False):
                if term.name == "dt":
                    inline = f"<code>{html.escape(inline_text(term), quote=False)}</code>"
                    yield Block("p", inline, text_of(inline))
                else:
                    yield from convert(term, depth)
        elif child.name == "div" and "admonition" in classes:
            inline = inline_html(child)
            yield Block("p", f"<em>{inline}</em>", text_of(inline))
        elif child.name in ("div", "blockquote"):
            yield from convert(child, depth)


def section_blocks(source: str) -> tuple[str, list[Block]]:
    """Title and blocks of one docs section, cut to at most MAX_TEXT characters."""
    title, section = load_section(source)
    kept: list[Block] = []
    size = 0
    for block in convert(section):
        if size + len(block.text) > MAX_TEXT:
            break
        kept.append(block)
        size += len(block.text)
    while kept and kept[-1].kind in ("h2", "h3"):
        kept.pop()  # never end on a heading whose body was cut
    if size < MIN_TEXT:
        raise SystemExit(f"{source}: only {size} characters of text (want ≥ {MIN_TEXT})")
    return title, kept


def render_html(blocks: list[Block], gutenberg: bool) -> str:
    """Post content: Gutenberg block markup or classic-editor HTML."""
    parts = []
    for block in blocks:
        if block.kind in ("h2", "h3"):
            body = f'<{block.kind} class="wp-block-heading">{block.html}</{block.kind}>'
            attrs = "" if block.kind == "h2" else ' {"level":3}'
            parts.append(wrap("heading" + attrs, "heading", body, gutenberg))
        elif block.kind == "p":
            parts.append(wrap("paragraph", "paragraph", f"<p>{block.html}</p>", gutenberg))
        elif block.kind == "code":
            body = f'<pre class="wp-block-code"><code>{block.html}</code></pre>'
            parts.append(wrap("code", "code", body, gutenberg))
        else:
            items = "".join(f"<li>{item}</li>" for item in block.items)
            attrs = ' {"ordered":true}' if block.kind == "ol" else ""
            parts.append(
                wrap("list" + attrs, "list", f"<{block.kind}>{items}</{block.kind}>", gutenberg)
            )
    return "\n\n".join(parts)


def wrap(opening: str, name: str, body: str, gutenberg: bool) -> str:
    return f"<!-- wp:{opening} -->\n{body}\n<!-- /wp:{name} -->" if gutenberg else body


# ------------------------------------------------------------------------ documents
LATIN1_FALLBACKS = str.maketrans(
    {
        "‘": "'",
        "’": "'",
        "“": '"',
        "”": '"',
        "–": "-",
        "—": "--",
        "…": "...",
        "→": "->",
        "≥": ">=",
        "≤": "<=",
        "×": "x",
        "•": "*",
        "\u00a0": " ",
    }
)


def pdf_text(text: str) -> str:
    """Core PDF fonts are Latin-1: map typographic characters, drop the rest visibly."""
    return text.translate(LATIN1_FALLBACKS).encode("latin-1", "replace").decode("latin-1")


def attachment_blocks(attachment: Attachment) -> list[Block]:
    blocks: list[Block] = []
    for source in attachment.sources:
        title, section_content = section_blocks(source)
        blocks.append(Block("h2", html.escape(title), title))
        blocks.extend(
            Block("h3", b.html, b.text) if b.kind in ("h2", "h3") else b for b in section_content
        )
    joined = " ".join(" ".join(b.text.split()) for b in blocks)
    if attachment.distinctive_phrase not in joined:
        raise SystemExit(f"{attachment.filename}: distinctive phrase not in its text")
    return blocks


def write_pdf(attachment: Attachment, path: Path) -> None:
    """A PDF with a real text layer (core fonts, no images of text)."""
    pdf = FPDF(format="A4")
    pdf.set_creation_date(dt.datetime(2024, 5, 14, tzinfo=dt.UTC))
    pdf.set_title(attachment.title)
    pdf.set_author("Python documentation authors (PSF licence)")
    pdf.set_margins(20, 20, 20)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.multi_cell(0, 10, pdf_text(attachment.title.removesuffix(" (PDF handout)")))
    for block in attachment_blocks(attachment):
        if block.kind in ("h2", "h3"):
            pdf.ln(3)
            pdf.set_font("Helvetica", "B", 14 if block.kind == "h2" else 12)
            pdf.multi_cell(0, 7, pdf_text(block.text))
        elif block.kind == "code":
            pdf.set_font("Courier", "", 9)
            pdf.multi_cell(0, 4.5, pdf_text(block.text))
        else:
            pdf.set_font("Helvetica", "", 11)
            lines = block.items if block.kind in ("ul", "ol") else [block.html]
            for line in lines:
                prefix = "- " if block.kind in ("ul", "ol") else ""
                pdf.multi_cell(0, 5.5, pdf_text(prefix + " ".join(text_of(line).split())))
        pdf.ln(1.5)
    pdf.output(str(path))


def write_docx(attachment: Attachment, path: Path) -> None:
    """A Word document with real heading styles, paragraphs and code."""
    document = docx.Document()
    document.core_properties.title = attachment.title
    document.core_properties.author = "Python documentation authors (PSF licence)"
    document.core_properties.created = dt.datetime(2024, 5, 14)
    document.core_properties.modified = dt.datetime(2024, 5, 14)
    document.add_heading(attachment.title.removesuffix(" (Word handout)"), level=0)
    for block in attachment_blocks(attachment):
        if block.kind in ("h2", "h3"):
            document.add_heading(block.text, level=1 if block.kind == "h2" else 2)
        elif block.kind == "code":
            run = document.add_paragraph().add_run(block.text)
            run.font.name = "Courier New"
            run.font.size = Pt(9)
        elif block.kind in ("ul", "ol"):
            style = "List Bullet" if block.kind == "ul" else "List Number"
            for item in block.items:
                document.add_paragraph(" ".join(text_of(item).split()), style=style)
        else:
            document.add_paragraph(" ".join(block.text.split()))
    document.save(str(path))


# ------------------------------------------------------------------------ WordPress
def term_ids(wp: WordPress, taxonomy: str, names: Iterable[str]) -> dict[str, int]:
    ids = {}
    for name in sorted(set(names)):
        response = wp.rest("POST", f"/wp/v2/{taxonomy}", json={"name": name})
        response.raise_for_status()
        ids[name] = response.json()["id"]
    return ids


def remove_default_content(wp: WordPress) -> None:
    """Drop the install's "Hello world!" post and its two pages: only docs content stays."""
    for kind in ("posts", "pages"):
        for item in wp.rest("GET", f"/wp/v2/{kind}", params={"status": "any"}).json():
            deleted = wp.rest("DELETE", f"/wp/v2/{kind}/{item['id']}", params={"force": "true"})
            deleted.raise_for_status()


def create_documents(wp: WordPress) -> dict[str, dict[str, object]]:
    """Create every Doc in order (so ids and dates repeat across runs)."""
    categories = term_ids(wp, "categories", (d.category for d in DOCS if d.category))
    tags = term_ids(wp, "tags", (t for d in DOCS for t in d.tags))
    created: dict[str, dict[str, object]] = {}
    for index, doc in enumerate(DOCS):
        title, blocks = section_blocks(doc.source)
        content = render_html(blocks, doc.blocks)
        if doc.marker:
            note = f"Internal note: {doc.marker}."
            content += "\n\n" + wrap("paragraph", "paragraph", f"<p>{note}</p>", doc.blocks)
        content += ("\n\n" + doc.extra_html) if doc.extra_html else ""
        payload: dict[str, object] = {
            "title": title,
            "content": content,
            "status": doc.status,
            "date": (FIRST_DATE + dt.timedelta(days=4 * index)).isoformat(),
            "slug": doc.key,
        }
        if doc.password:
            payload["password"] = doc.password
        if doc.kind == "post":
            payload["categories"] = [categories[doc.category]] if doc.category else []
            payload["tags"] = [tags[t] for t in doc.tags]
        response = wp.rest("POST", f"/wp/v2/{doc.kind}s", json=payload)
        if response.status_code != 201:
            raise SystemExit(f"creating {doc.key}: HTTP {response.status_code} {response.text}")
        created[doc.key] = {**response.json(), "plain_title": title}
    for key in TRASHED:
        response = wp.rest("DELETE", f"/wp/v2/posts/{created[key]['id']}")  # no force: trash
        response.raise_for_status()
    return created


def attach(wp: WordPress, file: Path, parent_id: int, title: str) -> dict[str, object]:
    """Sideload a file as an attachment of ``parent_id``.

    Done in PHP rather than over REST so the upload folder follows the parent post's date
    (uploads/2024/05/…) instead of today's, keeping the sample reproducible.
    """
    php = (
        "require_once ABSPATH . 'wp-admin/includes/file.php';\n"
        "require_once ABSPATH . 'wp-admin/includes/media.php';\n"
        "require_once ABSPATH . 'wp-admin/includes/image.php';\n"
        f"$tmp = wp_tempnam({json.dumps(file.name)});\n"
        f"copy({json.dumps(str(file))}, $tmp);\n"
        f"$id = media_handle_sideload(array('name' => {json.dumps(file.name)},"
        f" 'tmp_name' => $tmp), {parent_id}, null,"
        f" array('post_title' => {json.dumps(title)},"
        f" 'post_date' => get_post({parent_id})->post_date));\n"
        "if (is_wp_error($id)) { fwrite(STDERR, $id->get_error_message()); exit(1); }\n"
        "echo json_encode(array('id' => $id, 'url' => wp_get_attachment_url($id)));\n"
    )
    return dict(json.loads(wp.php(php)))


def link_attachments(wp: WordPress, parent_id: int, files: list[dict]) -> None:
    """Add a download list to the parent post, as an editor would."""
    items = "".join(f'<li><a href="{f["url"]}">{html.escape(f["title"])}</a></li>' for f in files)
    current = wp.rest("GET", f"/wp/v2/posts/{parent_id}", params={"context": "edit"})
    current.raise_for_status()
    content = current.json()["content"]["raw"] + f"\n\n<h2>Downloads</h2>\n<ul>{items}</ul>"
    wp.rest("POST", f"/wp/v2/posts/{parent_id}", json={"content": content}).raise_for_status()


# --------------------------------------------------------------------------- outputs
def copy_uploads(wp: WordPress, files: list[dict], out: Path) -> None:
    marker = "/wp-content/uploads/"
    for file in files:
        relative = file["url"].split(marker, 1)[1]
        target = out / "uploads" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(wp.uploads_dir / relative, target)


def write_queries(out: Path, created: dict[str, dict[str, object]]) -> None:
    queries = [
        {"query": query, "expect_title": created[key]["plain_title"]} for key, query in QUERIES
    ]
    queries += [
        {"query": a.query, "expect_title": a.title, "distinctive_phrase": a.distinctive_phrase}
        for a in (PDF, DOCX)
    ]
    document = {
        "queries": queries,
        "never_visible": [d.marker for d in DOCS if d.marker],
    }
    (out / "queries.json").write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def verify_export(wxr: bytes, out: Path) -> dict[str, int]:
    """Fail loudly unless the export holds everything the sample promises."""
    items = ET.fromstring(wxr).findall("./channel/item")

    def field_of(item: ET.Element, name: str) -> str:
        return item.findtext(name, default="", namespaces=WXR) or ""

    by_type: dict[str, list[ET.Element]] = {}
    for item in items:
        by_type.setdefault(field_of(item, "wp:post_type"), []).append(item)
    posts, pages = by_type.get("post", []), by_type.get("page", [])
    published = [i for i in posts + pages if field_of(i, "wp:status") == "publish"]
    public = [i for i in published if not field_of(i, "wp:post_password")]
    statuses = [field_of(i, "wp:status") for i in posts]
    checks = {
        "≥30 published posts+pages": len(public) >= 30,
        "one private": statuses.count("private") == 1,
        "one draft": statuses.count("draft") == 1,
        "one trashed": statuses.count("trash") == 1,
        "one password-protected": sum(bool(field_of(i, "wp:post_password")) for i in posts) == 1,
        "block comment, [gallery], <script>": any(
            all(s in field_of(i, "content:encoded") for s in ("<!-- wp:", "[gallery", "<script"))
            for i in published
        ),
        "categories and tags": any(
            c.get("domain") == "post_tag" for i in posts for c in i.findall("category")
        ),
    }
    attachments = by_type.get("attachment", [])
    for name in (PDF.filename, DOCX.filename):
        url = next(
            (
                field_of(a, "wp:attachment_url")
                for a in attachments
                if field_of(a, "wp:attachment_url").endswith(name)
            ),
            "",
        )
        local = out / "uploads" / url.split("/wp-content/uploads/", 1)[-1]
        checks[f"attachment {name} with local file"] = bool(url) and local.is_file()
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        raise SystemExit(f"export is missing: {', '.join(failed)}")
    return {
        "posts": len(posts),
        "pages": len(pages),
        "public": len(public),
        "attachments": len(attachments),
    }


def build(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / "uploads", ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="pydocs-site-") as scratch:
        scratch_dir = Path(scratch)
        pdf_path, docx_path = scratch_dir / PDF.filename, scratch_dir / DOCX.filename
        write_pdf(PDF, pdf_path)
        write_docx(DOCX, docx_path)
        with WordPress(scratch_dir / "wp", site_url=SITE_URL, title="Python Docs Digest") as wp:
            wp.php("update_option('blogdescription', 'Selected Python 3.11 documentation');")
            remove_default_content(wp)
            created = create_documents(wp)
            parent = created[ATTACHMENT_PARENT]
            files = []
            for attachment, path in ((PDF, pdf_path), (DOCX, docx_path)):
                uploaded = attach(wp, path, int(parent["id"]), attachment.title)  # type: ignore[arg-type]
                files.append({**uploaded, "title": attachment.title})
            link_attachments(wp, int(parent["id"]), files)  # type: ignore[arg-type]
            copy_uploads(wp, files, out)
            wxr = wp.export_wxr()
    (out / "export.xml").write_bytes(wxr)
    write_queries(out, created)
    counts = verify_export(wxr, out)
    print(json.dumps(counts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "samples" / "pydocs")
    build(parser.parse_args().out)


if __name__ == "__main__":
    main()
