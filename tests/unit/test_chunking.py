"""chunk_document with the embedder's real tokenizer: the token limit is a guarantee."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pressrag.assets.transforms.chunking import chunk_document
from pressrag.resources.tokenization import WordPieceCounter, default_counter, minilm_model_path

MAX_TOKENS = 256


@pytest.fixture(scope="module")
def counter() -> WordPieceCounter:
    return default_counter()


def _sentences(topic: str, count: int) -> str:
    return " ".join(
        f"Sentence {i} explains {topic} in some detail for readers." for i in range(count)
    )


GUIDE = f"""Lead paragraph before any heading.

# Gardening

{_sentences("soil", 3)}

## Tomatoes

{_sentences("tomatoes", 80)}

```python
# this is a comment, not a heading
print("hello")
```

### Pests

{_sentences("aphids", 4)}

## Beans

{_sentences("beans", 2)}

# Cooking

Short.
"""


# --- the tokenizer ----------------------------------------------------------------------------


def test_counter_matches_the_transformers_tokenizer(counter: WordPieceCounter) -> None:
    """We load tokenizer.json directly (fast) — it must count exactly like AutoTokenizer,
    including [CLS]/[SEP] and without the file's built-in truncation at 128."""
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(minilm_model_path()))
    for text in ["", "Hello, world!", "日本語のテキスト", "word " * 400, "x" * 150, GUIDE]:
        expected = len(reference(text, add_special_tokens=True, truncation=False)["input_ids"])
        assert counter.count(text) == expected


# Characters where counting by word could go wrong: every kind of whitespace Python splits at
# (some of which BERT deletes as control characters instead), other control and format
# characters, combining accents, CJK (BERT isolates each character), punctuation, emoji.
_TRICKY = st.sampled_from(
    list(" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2028\u2029\u202f\u3000")
    + list("\x00\x01\x7f\u200b\u200d\ufeff\ufffd\u0301\u0308é日本語。！,.-_#'\"😀")
)
_TEXT = st.lists(
    st.one_of(
        _TRICKY, st.text(alphabet="abcxyzABC019", min_size=1, max_size=8), st.just("x" * 101)
    ),
    max_size=60,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=_TEXT)
def test_counting_by_word_equals_the_tokenizers_count(text: str) -> None:
    """The word-by-word count (each word tokenized once per process) equals the tokenizer's
    count of the whole text, whatever the whitespace, control characters or scripts."""
    counter = default_counter()
    assert counter.count(text) == counter.encoded_length(text)


def test_counter_reads_the_models_limit(counter: WordPieceCounter) -> None:
    assert counter.max_tokens == 256
    assert counter.count("") == 2  # [CLS] and [SEP] always count


# --- structure --------------------------------------------------------------------------------


def test_heading_paths_follow_the_outline(counter: WordPieceCounter) -> None:
    chunks = chunk_document("Guide", GUIDE, count_tokens=counter.count, max_tokens=MAX_TOKENS)
    paths = [chunk.heading_path for chunk in chunks]
    assert paths[0] == ()
    assert ("Gardening",) in paths
    assert ("Gardening", "Tomatoes") in paths
    assert ("Gardening", "Tomatoes", "Pests") in paths
    assert ("Gardening", "Beans") in paths  # h2 after h3 pops back up
    assert ("Cooking",) in paths  # h1 resets the whole path
    assert not any("this is a comment" in part for path in paths for part in path)
    assert any("# this is a comment" in chunk.text for chunk in chunks)
    for chunk in chunks:
        if chunk.heading_path == ("Cooking",):
            assert "Short." in chunk.text
        if "aphids" in chunk.text and "tomatoes" not in chunk.text:
            assert chunk.heading_path[-1] == "Pests"


def test_chunks_never_cross_sections(counter: WordPieceCounter) -> None:
    chunks = chunk_document("Guide", GUIDE, count_tokens=counter.count, max_tokens=MAX_TOKENS)
    for chunk in chunks:
        topics = {
            t for t in ("soil", "tomatoes", "aphids", "beans") if f"explains {t}" in chunk.text
        }
        assert len(topics) <= 1, chunk.text


def test_embed_text_layout_and_counts(counter: WordPieceCounter) -> None:
    """Heading path and text are embedded; the title is not (the full-text side has it)."""
    chunks = chunk_document("Zanzibar", GUIDE, count_tokens=counter.count, max_tokens=MAX_TOKENS)
    assert [chunk.ordinal for chunk in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        path = " > ".join(chunk.heading_path)
        expected = f"{path}\n\n{chunk.text}" if path else chunk.text
        assert chunk.embed_text == expected
        assert "Zanzibar" not in chunk.embed_text
        assert chunk.token_count == counter.count(chunk.embed_text) <= MAX_TOKENS


def test_long_section_splits_with_overlap(counter: WordPieceCounter) -> None:
    """Consecutive chunks of one section share a tail/head, bounded by overlap_tokens."""
    chunks = chunk_document(
        "Guide", GUIDE, count_tokens=counter.count, max_tokens=MAX_TOKENS, overlap_tokens=32
    )
    tomato = [chunk for chunk in chunks if chunk.heading_path == ("Gardening", "Tomatoes")]
    assert len(tomato) >= 3
    for previous, following in itertools.pairwise(tomato):
        shared = _shared_overlap(previous.text, following.text)
        assert len(shared.split()) >= 5, (previous.text[-80:], following.text[:80])
        assert counter.count(shared) - 2 <= 32


def test_no_overlap_when_asked(counter: WordPieceCounter) -> None:
    chunks = chunk_document(
        "Guide", GUIDE, count_tokens=counter.count, max_tokens=MAX_TOKENS, overlap_tokens=0
    )
    tomato = [chunk.text for chunk in chunks if chunk.heading_path == ("Gardening", "Tomatoes")]
    for previous, following in itertools.pairwise(tomato):
        assert len(_shared_overlap(previous, following).split()) <= 1


def _shared_overlap(previous: str, following: str) -> str:
    """Longest suffix of `previous` that is a prefix of `following`."""
    for length in range(min(len(previous), len(following)), 0, -1):
        if previous.endswith(following[:length]):
            return following[:length]
    return ""


def test_target_tokens_leaves_headroom(counter: WordPieceCounter) -> None:
    """Packing aims at the target; only the hard limit is a guarantee, but most chunks of a
    long section should land near the target, not at the limit."""
    chunks = chunk_document(
        "Guide", GUIDE, count_tokens=counter.count, max_tokens=MAX_TOKENS, target_tokens=120
    )
    sizes = [c.token_count for c in chunks if c.heading_path == ("Gardening", "Tomatoes")]
    assert max(sizes) <= 130
    assert sum(sizes) / len(sizes) >= 80


def test_deterministic(counter: WordPieceCounter) -> None:
    first = chunk_document("Guide", GUIDE, count_tokens=counter.count, max_tokens=MAX_TOKENS)
    second = chunk_document("Guide", GUIDE, count_tokens=counter.count, max_tokens=MAX_TOKENS)
    assert first == second


@pytest.mark.parametrize("markdown", ["", "   ", "\n\n\t\n"])
def test_empty_markdown_and_title_give_no_chunks(markdown: str, counter: WordPieceCounter) -> None:
    """Nothing to index is not an error at this layer; the asset decides what that means."""
    assert chunk_document(" ", markdown, count_tokens=counter.count, max_tokens=MAX_TOKENS) == []


def test_heading_without_body_keeps_its_words(counter: WordPieceCounter) -> None:
    chunks = chunk_document(
        "T", "# Only a heading", count_tokens=counter.count, max_tokens=MAX_TOKENS
    )
    assert [(c.heading_path, c.text) for c in chunks] == [(("Only a heading",), "Only a heading")]


def test_no_words_lost(counter: WordPieceCounter) -> None:
    """Every word of the body appears in some chunk (overlap may repeat, never drop)."""
    chunks = chunk_document("Guide", GUIDE, count_tokens=counter.count, max_tokens=MAX_TOKENS)
    chunked = " ".join(chunk.text for chunk in chunks).split()
    body_words = [
        w for line in GUIDE.splitlines() if not line.startswith("#") for w in line.split()
    ]
    assert set(body_words) <= set(chunked)


@pytest.mark.parametrize(
    "heading",
    ["A" * 3000, "word " * 1000, "題" * 2000],
    ids=["one-giant-word", "many-words", "cjk"],
)
def test_pathological_headings_are_truncated(heading: str, counter: WordPieceCounter) -> None:
    """Headings far over the budget must not push text out: they are cut in embed_text only."""
    markdown = f"# {heading}\n\n{GUIDE}"
    chunks = chunk_document("T", markdown, count_tokens=counter.count, max_tokens=MAX_TOKENS)
    assert chunks
    for chunk in chunks:
        assert counter.count(chunk.embed_text) <= MAX_TOKENS
        assert chunk.text in chunk.embed_text


def test_a_document_without_text_is_its_title(counter: WordPieceCounter) -> None:
    """A post with an empty body stays findable by its title."""
    (only,) = chunk_document(
        "Template: Featured Image", "  \n", count_tokens=counter.count, max_tokens=MAX_TOKENS
    )
    assert only.text == only.embed_text == "Template: Featured Image"
    assert chunk_document("", "", count_tokens=counter.count, max_tokens=MAX_TOKENS) == []


def test_a_document_without_title_is_its_text(counter: WordPieceCounter) -> None:
    chunks = chunk_document("", GUIDE, count_tokens=counter.count, max_tokens=MAX_TOKENS)
    assert chunks and all(c.text in c.embed_text for c in chunks)


def test_oversize_cjk_and_long_words_fit(counter: WordPieceCounter) -> None:
    markdown = "# 日本\n\n" + "日本語のテキストです" * 300 + "\n\n" + "x" * 90 + " " + "ab" * 5000
    chunks = chunk_document("T", markdown, count_tokens=counter.count, max_tokens=MAX_TOKENS)
    assert len(chunks) > 5
    assert all(counter.count(c.embed_text) <= MAX_TOKENS for c in chunks)
    assert "日本語のテキストです日本語" in chunks[0].text  # no spaces invented inside CJK text


def test_too_small_max_tokens_is_refused(counter: WordPieceCounter) -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        chunk_document("T", "text", count_tokens=counter.count, max_tokens=4)


# --- property: the limit holds for any markdown ------------------------------------------------

_words = st.one_of(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=40, max_size=400),
    st.text(alphabet="日本語中文字漢테스트한국어。", min_size=1, max_size=300),
    st.sampled_from(["—", "!!!", "😀", "C++", "e.g.", "#tag", "[1]", "\u00e9t\u00e9"]),
)
_paragraph = st.lists(_words, min_size=1, max_size=80).map(" ".join)
_heading = st.tuples(st.integers(1, 6), _paragraph).map(lambda h: "#" * h[0] + " " + h[1])
_fence = _paragraph.map(lambda body: f"```\n# fenced comment\n\n{body}\n```")
_markdown = st.lists(st.one_of(_paragraph, _heading, _fence), max_size=12).map("\n\n".join)
_title = st.one_of(st.just(""), _paragraph, st.text(min_size=0, max_size=2000))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=_title,
    markdown=_markdown,
    max_tokens=st.sampled_from([32, 64, 256]),
    overlap=st.integers(0, 64),
)
def test_property_every_chunk_fits(
    title: str, markdown: str, max_tokens: int, overlap: int
) -> None:
    """Random markdown with long words, CJK, emoji, code fences and huge titles: every chunk's
    embed_text fits, ordinals run 0..n-1, no chunk is empty, and nothing under a fence
    becomes a heading."""
    counter = default_counter()
    chunks = chunk_document(
        title, markdown, count_tokens=counter.count, max_tokens=max_tokens, overlap_tokens=overlap
    )
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert chunk.text.strip()
        assert chunk.token_count == counter.encoded_length(chunk.embed_text) <= max_tokens
    if markdown.strip():
        assert chunks
    for chunk in chunks:
        assert "fenced comment" not in " ".join(chunk.heading_path)


def test_chunking_benchmark_finds_identical_chunks(capsys: pytest.CaptureFixture[str]) -> None:
    """bench/chunking.py chunks the sample site and synthetic posts with both counters and
    fails unless every chunk is the same."""
    from bench import chunking

    assert chunking.main(["--synthetic", "20"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "chunks identical" in line]
    assert len(lines) == 2 and all(line.endswith("chunks identical: yes") for line in lines)
