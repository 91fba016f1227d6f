"""bench/peers' own logic: the corpus and its edits, and the counts its table reports."""

from __future__ import annotations

import argparse
import io

import pytest

from bench.peers import corpus
from bench.peers.protocol import changed_chunks, stale_chunks, timings
from pressrag.resources.wordpress.wxr import iter_wxr


def pages(n: int) -> list[corpus.Page]:
    return [
        corpus.Page(i, f"Page {i}", f"<p>one {i}</p><p>two {i}</p><p>three {i}</p>")
        for i in range(1, n + 1)
    ]


def test_edit_changes_one_paragraph_of_each_edited_page_and_drops_the_deleted() -> None:
    before = pages(20)
    after, edited, deleted = corpus.edit(before, 5, 5)
    assert len(edited) == 5 and len(deleted) == 5 and not set(edited) & set(deleted)
    by_id = {p.id: p for p in after}
    assert sorted(by_id) == sorted({p.id for p in before} - set(deleted))
    for page in before:
        if page.id in edited:
            assert by_id[page.id].html == page.html.replace(
                f"two {page.id}</p>", f"two {page.id}{corpus.EDIT_SENTENCE}</p>"
            )
        elif page.id not in deleted:
            assert by_id[page.id] == page


def test_sample_copies_never_repeat_a_title_or_a_first_paragraph() -> None:
    copies = corpus.sample_pages(2)
    assert len({p.title for p in copies}) == len(copies)
    firsts = [p.html.split("</p>", 1)[0] for p in copies if "<p>" in p.html]
    assert len(set(firsts)) == len(firsts)


def test_the_wxr_export_reads_back_as_the_same_published_pages() -> None:
    source = pages(3)
    source[1].html = "<p>text with ]]> inside a CDATA section</p>"
    docs = list(iter_wxr(io.BytesIO(corpus.wxr(source, [2]).encode())))
    assert [(d.wp_id, d.title, d.status) for d in docs] == [
        (p.id, p.title, "publish") for p in source
    ]
    assert "]]> inside" in docs[1].content_html
    assert docs[1].modified_gmt > docs[0].modified_gmt


def test_changed_chunks_counts_new_texts_as_a_multiset() -> None:
    assert changed_chunks(["a", "b", "c"], ["a", "b2", "c"]) == 1
    assert changed_chunks(["a"], ["a", "a"]) == 1  # a repeated passage is a new chunk
    assert changed_chunks(["a", "b"], ["a"]) == 0  # a removed chunk needs no embedding


def test_stale_chunks_are_deleted_pages_rows_and_edited_pages_extra_rows() -> None:
    stored = {"1": 4, "2": 7, "3": 3, "9": 5}
    # page 2 now has 5 chunks (2 old rows left), page 3 has 3 (none), page 9 was deleted
    assert stale_chunks(stored, {"2": 5, "3": 3}, ["9"]) == 7
    assert stale_chunks(stored, {"2": 9}, []) == 0


def test_timings_are_median_and_nearest_rank_p95() -> None:
    assert timings([float(v) for v in range(1, 101)]) == {"p50": 50.5, "p95": 95.0}
    assert timings([3.0]) == {"p50": 3.0, "p95": 3.0}


@pytest.mark.parametrize("count", [3, 400])
def test_pydocs_pages_picks_evenly_and_keeps_the_main_body(tmp_path, count: int) -> None:
    for name in ("a", "b", "c", "d"):
        (tmp_path / f"{name}.html").write_text(
            f"<title>{name} &mdash; x — Python 3.11 documentation</title><nav>menu</nav>"
            f'<div class="body" role="main"><h1>{name}<a class="headerlink" href="#">¶</a>'
            f'</h1><p>body</p></div><div class="sphinxsidebar">side</div>'
        )
    got = corpus.pydocs_pages(count, tmp_path)
    assert [p.title for p in got] == (
        ["a — x", "b — x", "c — x"] if count == 3 else ["a — x", "b — x", "c — x", "d — x"]
    )
    assert got[0].html == "<h1>a</h1><p>body</p></div>"


def test_stacks_are_chosen_by_name_once_each_in_the_order_given() -> None:
    from bench.peers.run import stacks_list

    assert stacks_list("pressrag") == ["pressrag"]
    assert stacks_list("langchain, pressrag,langchain") == ["langchain", "pressrag"]
    for wrong in ("pressrag,haystack", " , "):
        with pytest.raises(argparse.ArgumentTypeError, match="choose from pressrag"):
            stacks_list(wrong)
