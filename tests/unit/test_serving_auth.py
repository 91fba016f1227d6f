"""Browser-token and admin-key checks (serving.auth) with real PyJWT tokens."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path

import jwt
import pytest

from pressrag.resources.store.sites import Site
from pressrag.serving.auth import Principal, authenticate, authorize_site, verify_token
from pressrag.serving.directory import SiteEntry
from pressrag.serving.errors import ApiError

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "tokens.json").read_text())
KEY_A = b"a" * 32
KEY_A_OLD = b"o" * 32
KEY_B = b"b" * 32
ORIGIN_A = "https://a.example"


def entry(site_id: str, keys: tuple[bytes, ...], origins: list[str]) -> SiteEntry:
    site = Site(id=site_id, source_kind="wxr", base_url=origins[0], settings={"origins": origins})
    return SiteEntry(site, keys)


SITES = {
    "a": entry("a", (KEY_A, KEY_A_OLD), [ORIGIN_A, "http://127.0.0.1:8080"]),
    "b": entry("b", (KEY_B,), ["https://b.example"]),
}


def token(key: bytes = KEY_A, **overrides: object) -> str:
    now = int(time.time())
    claims: dict[str, object] = {
        "site": "a",
        "origin": ORIGIN_A,
        "iat": now,
        "exp": now + 300,
        "aud": "pressrag",
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="HS256")


def auth(tok: str, origin: str | None = None, admin_key: str | None = "admin-key-123") -> Principal:
    return authenticate(f"Bearer {tok}", origin, "10.0.0.1", SITES.get, admin_key)


def error_of(fn: Callable[..., object], *args: object, **kwargs: object) -> ApiError:
    with pytest.raises(ApiError) as info:
        fn(*args, **kwargs)
    return info.value


def test_valid_token_identifies_site_and_client() -> None:
    principal = auth(token(), origin=ORIGIN_A)
    assert not principal.is_admin
    assert principal.site_id == "a"
    assert principal.client_key == "ip:10.0.0.1"


VISITOR_SUB = "3f2a9c0e8b7d4a1f9e6c5b4a3d2e1f00"


def test_visitor_bucket_is_the_plugin_bound_subject_not_any_token_id() -> None:
    """Finding 7: a token's `jti` chose the bucket, so minting tokens bought requests. Only the
    plugin's visitor subject does; anything else falls back to the client address."""
    assert auth(token(jti="visitor-1")).client_key == "ip:10.0.0.1"
    assert auth(token(jti="visitor-2")).client_key == "ip:10.0.0.1"
    assert auth(token(sub=VISITOR_SUB)).client_key == f"visitor:{VISITOR_SUB}"
    assert auth(token(sub=VISITOR_SUB, jti="other")).client_key == f"visitor:{VISITOR_SUB}"
    for malformed in ("short", "x" * 200, "has space in it!!", "../../etc/passwd/xxxx"):
        assert auth(token(sub=malformed)).client_key == "ip:10.0.0.1"


def test_rotated_key_still_accepted() -> None:
    assert auth(token(KEY_A_OLD)).site_id == "a"


def test_shared_vectors_verify() -> None:
    """The plugin's minting (tests/vectors/tokens.json) is accepted, given the clock then."""
    for case in VECTORS["cases"]:
        key = base64.b64decode(case["secret"].removeprefix("whsec_"))
        claims = jwt.decode(
            case["expected_jwt"],
            key,
            algorithms=["HS256"],
            audience="pressrag",
            options={"verify_exp": False, "verify_iat": False},
        )
        assert claims == case["claims"]


@pytest.mark.parametrize(
    ("make", "status", "code"),
    [
        (
            lambda: token(exp=int(time.time()) - 120, iat=int(time.time()) - 400),
            401,
            "token_expired",
        ),
        (lambda: token(KEY_B), 401, "invalid_token"),
        (lambda: token()[:-3] + "AAA", 401, "invalid_token"),
        (lambda: token(aud="other"), 401, "invalid_token"),
        (lambda: token(origin=None), 401, "invalid_token"),
        (lambda: token(exp=None), 401, "invalid_token"),
        (lambda: token(iat=None), 401, "invalid_token"),
        (lambda: token(exp=int(time.time()) + 900), 401, "invalid_token"),
        (lambda: token(site="nosuchsite"), 401, "invalid_token"),
        (lambda: token(site="Bad Site!"), 401, "invalid_token"),
        (lambda: token(origin="https://evil.example"), 403, "origin_not_allowed"),
        (lambda: "not-a-jwt", 401, "invalid_token"),
        (lambda: jwt.encode({"site": "a"}, "", algorithm="none"), 401, "invalid_token"),
    ],
)
def test_bad_tokens_are_refused(make: Callable[[], str], status: int, code: str) -> None:
    """Each way a token can be wrong (expired, tampered, foreign key, missing claims, too long
    a lifetime, unknown site, unregistered origin, alg=none) gets its own clear refusal."""
    error = error_of(auth, make())
    assert (error.status_code, error.code) == (status, code)
    assert "eyJ" not in error.detail  # the token is never echoed


def test_origin_header_must_match_claim() -> None:
    error = error_of(auth, token(), origin="http://127.0.0.1:8080")
    assert (error.status_code, error.code) == (403, "origin_mismatch")


def test_missing_or_malformed_header() -> None:
    for header in (None, "", "Basic abc", "Bearer "):
        error = error_of(authenticate, header, None, "ip", SITES.get, "admin-key-123")
        assert (error.status_code, error.code) == (401, "missing_token")


def test_admin_key() -> None:
    principal = auth("admin-key-123")
    assert principal.is_admin and principal.site is None
    assert authorize_site(principal, "b", SITES.get).id == "b"
    assert error_of(authorize_site, principal, "zzz", SITES.get).status_code == 404
    # Without a configured key nothing is an admin key (not even an empty one).
    assert error_of(auth, "admin-key-123", admin_key=None).status_code == 401


def test_token_only_reads_its_own_site() -> None:
    principal = auth(token())
    assert authorize_site(principal, "a", SITES.get).id == "a"
    error = error_of(authorize_site, principal, "b", SITES.get)
    assert (error.status_code, error.code) == (403, "wrong_site")


def test_verify_token_lifetime_boundary() -> None:
    now = int(time.time())
    assert verify_token(token(iat=now, exp=now + 600), (KEY_A,))["site"] == "a"
    assert error_of(verify_token, token(iat=now, exp=now + 601), (KEY_A,)).status_code == 401
