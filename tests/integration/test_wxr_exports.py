"""WXR exports through the real pipeline: exports WordPress's importer reads are indexed, an
unreadable item costs only itself (and is recorded with its line), and a newer export given
with `pressrag sites update` applies only the difference, with its media from a zip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pressrag.resources.store import Store
from tests.conftest import REPO_ROOT, PressragEnv
from tests.support.indexing import asset_metadata, materialize_site
from tests.support.wxr_export import SITE, attachment, item, wxr

pytestmark = pytest.mark.integration

POSTS = {
    1: ("Harbour opening hours", "<p>The harbour office opens at seven every weekday.</p>"),
    2: ("Mooring fees", "<p>A night on a visitor mooring costs twelve euros.</p>"),
    3: ("Fuel berth", "<p>Diesel is sold at the fuel berth until six in the evening.</p>"),
    4: ("Tide gauge", "<p>The tide gauge by the lighthouse reports every ten minutes.</p>"),
    5: ("Slipway rules", "<p>Launching at the slipway needs a permit from the office.</p>"),
}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("pressrag")), *args],
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=600,
    )


def _posts(posts: dict[int, tuple[str, str]]) -> str:
    return "".join(item(i, title=t, content=c) for i, (t, c) in posts.items())


def _titles(site: str, query: str, k: int = 3) -> list[str]:
    from pressrag.orchestration.run import search

    return [hit.title for hit in search(site, query, k=k)]


def _without_site_url(export: str) -> str:
    for tag in ("<link>", "<wp:base_site_url>", "<wp:base_blog_url>"):
        end = tag.replace("<", "</")
        export = export.replace(f"{tag}{SITE}{end}", "", 1)
    return export


def test_an_export_whose_channel_names_no_url_is_added_and_indexed(
    pressrag_env: PressragEnv, tmp_path: Path
) -> None:
    """Refused before ("names no site URL"), though every item carries its link."""
    export = tmp_path / "export.xml"
    export.write_text(_without_site_url(wxr(_posts({1: POSTS[1]}))), encoding="utf-8")

    added = _cli("sites", "add", "nolink", "--wxr", str(export))

    assert added.returncode == 0, added.stderr
    assert f"site nolink: wxr source {SITE}" in added.stdout
    assert materialize_site("nolink").success
    assert _titles("nolink", "when does the harbour office open")[0] == "Harbour opening hours"


def test_nested_cdata_in_one_post_and_a_broken_item_cost_only_themselves(
    pressrag_env: PressragEnv, tmp_path: Path
) -> None:
    """An old exporter's nested CDATA is read as WordPress reads it; an item that cannot be
    recovered is recorded with its line; every other post is indexed."""
    from pressrag.orchestration.run import status
    from pressrag.orchestration.sites import add_site

    nested = item(
        6,
        title="Closing a CDATA section",
        content="<p>In XML a CDATA section ends with <code>]]></code> and nothing else.</p>",
    )
    broken = item(7, title="Cut short", content="<p>Half a post").replace(
        "]]></content:encoded>", ""
    )
    text = wxr(_posts({1: POSTS[1], 2: POSTS[2]}) + nested + broken + _posts({3: POSTS[3]}))
    broken_line = text[: text.index("<title><![CDATA[Cut short")].count("\n")  # its <item>
    export = tmp_path / "export.xml"
    export.write_text(text, encoding="utf-8")
    add_site("oldexport", wxr=str(export))

    result = materialize_site("oldexport")

    assert result.success
    assert asset_metadata(result, "wp_documents")["added"] == 4
    assert _titles("oldexport", "how does a CDATA section end")[0] == "Closing a CDATA section"
    with Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=1) as store, store.connection() as c:
        chunk = c.execute(
            "SELECT c.text FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE d.site_id = 'oldexport' AND d.wp_id = 6"
        ).fetchone()[0]
    assert "ends with `]]>` and nothing else" in chunk  # code keeps what it says
    report = status("oldexport")[0]["export"]
    assert (report["items"], report["documents"], report["unreadable_items"]) == (5, 4, 1)
    assert report["not_well_formed"].startswith("line ")
    (failure,) = report["failures"]
    assert failure == {
        "line": broken_line,
        "wp_id": 7,
        "title": "Cut short",
        "reason": "<content:encoded> is not closed",
    }


def _uploads_zip(path: Path, files: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(f"uploads/{name}", data)


def test_a_newer_export_applies_only_the_difference(
    pressrag_env: PressragEnv, tmp_path: Path
) -> None:
    """`sites update --wxr NEW.xml`: one edit, one deletion, one addition (and a new file,
    read from the uploads.zip beside the new export) are applied; unchanged posts are not
    embedded again; status says which export is current and when it was read."""
    first_dir, second_dir = tmp_path / "2024-01", tmp_path / "2024-06"
    first_dir.mkdir()
    second_dir.mkdir()
    first = first_dir / "export.xml"
    first.write_text(wxr(_posts(POSTS)), encoding="utf-8")
    added = _cli("sites", "add", "harbour", "--wxr", str(first))
    assert added.returncode == 0, added.stderr
    assert materialize_site("harbour").success

    posts = dict(POSTS)
    posts[2] = (
        "Mooring fees",
        "<p>From June a night on a visitor mooring costs fifteen euros.</p>",
    )
    del posts[3]
    posts[8] = ("Crane hire", "<p>The harbour crane lifts boats up to eight tonnes.</p>")
    newsletter = attachment(9, "2024/06/newsletter.txt", parent=8)
    second = second_dir / "export.xml"
    second.write_text(wxr(_posts(posts) + newsletter), encoding="utf-8")
    _uploads_zip(
        second_dir / "uploads.zip",
        {"2024/06/newsletter.txt": b"The summer regatta starts on the first Saturday of July."},
    )

    updated = _cli("sites", "update", "harbour", "--wxr", str(second))
    assert updated.returncode == 0, updated.stderr
    assert f"media {second_dir / 'uploads.zip'}" in updated.stdout
    result = materialize_site("harbour")

    assert result.success
    docs = asset_metadata(result, "wp_documents")
    assert (docs["added"], docs["updated"], docs["removed"], docs["unchanged"]) == (1, 1, 1, 3)
    assert asset_metadata(result, "wp_media")["added"] == 1
    embedded = asset_metadata(result, "embeddings")
    assert embedded["documents_indexed"] == 3  # the edit, the new post, the new file
    assert embedded["chunks_embedded"] == 3  # one short chunk each; the 3 others: none
    assert _titles("harbour", "what does a visitor mooring cost")[0] == "Mooring fees"
    assert "Fuel berth" not in _titles("harbour", "where can I buy diesel", k=10)
    assert _titles("harbour", "when does the summer regatta start")[0] == "Item 9"
    report = json.loads(_cli("status", "--site", "harbour", "--json").stdout)[0]["export"]
    assert report["path"] == str(second)
    assert report["media_path"] == str(second_dir / "uploads.zip")
    assert report["read_at"] is not None and report["read_at"] > report["registered_at"]
    assert report["exports"] == 2 and report["unreadable_items"] == 0
    assert report["changed_since_registered"] is False


def test_an_export_of_another_site_needs_an_explicit_url(
    pressrag_env: PressragEnv, tmp_path: Path
) -> None:
    from pressrag.orchestration.run import status
    from pressrag.orchestration.sites import add_site

    first = tmp_path / "export.xml"
    first.write_text(wxr(_posts({1: POSTS[1]})), encoding="utf-8")
    add_site("moving", wxr=str(first))
    staging = tmp_path / "staging.xml"
    staging.write_text(
        wxr(_posts({1: POSTS[1]})).replace(SITE, "https://staging.example.org"), "utf-8"
    )

    refused = _cli("sites", "update", "moving", "--wxr", str(staging))
    assert refused.returncode == 2
    assert "is an export of https://staging.example.org, but site moving is" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert status("moving")[0]["export"]["path"] == str(first)

    accepted = _cli("sites", "update", "moving", "--wxr", str(staging), "--url", SITE)
    assert accepted.returncode == 0, accepted.stderr
    assert status("moving")[0]["export"]["path"] == str(staging)
