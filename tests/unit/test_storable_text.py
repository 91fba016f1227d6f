"""What may be stored and given back: storable text, plain titles, safe result URLs, and
failure messages fit to store (no secrets, one bounded line)."""

from __future__ import annotations

import pytest

from pressrag.assets.indexing.failures import MAX_MESSAGE_CHARS, describe_failure
from pressrag.resources.store.text import is_storable, plain_title, refused_url_reason, storable

ORIGINS = ["https://example.org", "http://localhost:8080"]


def test_storable_removes_nul_and_replaces_lone_surrogates_only() -> None:
    assert storable("a\x00b") == "ab"
    assert storable("x\ud800y") == "x\ufffdy"
    assert storable("\udc00") == "\ufffd"
    # A pair that arrived as two code points is joined, not replaced; real astral text stays.
    assert storable("\ud83d\ude00") == "😀" == storable("😀")
    assert storable("café\n\ttab") == "café\n\ttab"
    for text in ("a\x00b", "x\ud800y", "\udc00"):
        assert not is_storable(text) and is_storable(storable(text))
        storable(text).encode("utf-8")  # what psycopg does; a surrogate would raise here


@pytest.mark.parametrize(
    ("title", "plain"),
    [
        ("<b>Sea</b> <img src=x onerror=alert(1)>otters", "Sea otters"),
        ("Q&A: x < y and y > z", "Q&A: x < y and y > z"),
        ("<!-- note -->Tea <em>and</em>\n biscuits", "Tea and biscuits"),
        ("Ib\x00is", "Ibis"),
        ("list[int] <T>", "list[int]"),
    ],
)
def test_titles_are_plain_text(title: str, plain: str) -> None:
    assert plain_title(title) == plain


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("https://example.org/post/", None),
        ("HTTPS://EXAMPLE.ORG:443/post/", None),
        ("http://localhost:8080/?p=3", None),
        ("", None),
        ("javascript:alert(1)", "not an http(s) URL"),
        (" JavaScript:alert(1)", "not an http(s) URL"),
        ("data:text/html,<script>alert(1)</script>", "not an http(s) URL"),
        ("//evil.example/x", "not an http(s) URL"),
        ("http://example.org/post/", "not on the site's origins"),  # scheme differs
        ("https://example.org:8443/", "not on the site's origins"),
        ("https://example.org.evil.example/", "not on the site's origins"),
        ("https://user@evil.example/", "not on the site's origins"),
        ("http://[::1/", "not an http(s) URL"),
    ],
)
def test_result_urls_must_be_http_on_the_sites_origins(url: str, refused: str | None) -> None:
    reason = refused_url_reason(url, ORIGINS)
    if refused is None:
        assert reason is None
    else:
        assert reason is not None and reason.endswith(refused)


def test_failure_messages_carry_no_secret_and_stay_bounded() -> None:
    exc = RuntimeError(
        "cannot reach https://editor:s3cret-pass@example.org/wp-json (Bearer abc.def.ghi) "
        "token=tok_123 api_key: sk-live-0123456789abcdef whsec_QUJDREVGR0hJSktMTU5PUA==\x00"
    )
    error_class, message = describe_failure(exc)
    assert error_class == "RuntimeError"
    for secret in ("s3cret-pass", "abc.def.ghi", "tok_123", "0123456789abcdef", "QUJDREVG"):
        assert secret not in message
    assert "\x00" not in message and "\n" not in message
    _, long = describe_failure(ValueError("x" * 5000 + "\nsecond line"))
    assert len(long) == MAX_MESSAGE_CHARS and long.endswith("…")
    assert describe_failure(KeyError())[1] == "KeyError"
