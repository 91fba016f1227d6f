"""Block-editor markup written by hand after what WordPress's core blocks save (6.x) and what
its REST API renders; the files are in tests/fixtures/blocks/."""

from __future__ import annotations

import json
from pathlib import Path

BLOCKS = Path(__file__).resolve().parents[1] / "fixtures" / "blocks"


def fixture(name: str) -> str:
    return (BLOCKS / name).read_text(encoding="utf-8")


FILE_BLOCK = fixture("file.html")
GALLERY = fixture("gallery.html")
COLUMNS_AND_BUTTONS = fixture("columns-buttons.html")
LISTS = fixture("lists.html")
TABLES = fixture("tables.html")
NOTE_ID = "5f1e8a0c-3b7d-4c2e-9a61-0d2f4b8c7e11"
FOOTNOTE_META = json.dumps(
    [{"content": "Measured at the <em>harbour</em> gauge in 2023.", "id": NOTE_ID}]
)
FOOTNOTES_RAW = fixture("footnotes-raw.html")  # post_content: markers + the footnotes block
# What the REST API's `content.rendered` holds for the same post (render_block_core_footnotes).
FOOTNOTES_RENDERED = fixture("footnotes-rendered.html")
