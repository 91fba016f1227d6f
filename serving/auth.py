"""Who is calling: a site's browser token (HS256 JWT), a site's API key, or the operator key.

Browser tokens (docs/contracts.md): `aud = "pressrag"`, required `site`, `origin`, `iat`,
`exp`, a lifetime of at most 10 minutes, signed with one of the site's token secrets (all
active ones are tried, for rotation). The `origin` claim must be one of the site's
registered origins, and a browser's `Origin` header must equal it. Failures say what is
wrong without echoing the token. A token may search and ask its own site.

Site API keys (`prk_…`, resources/gateway/keys.py) belong to one site and carry scopes
(`search`, `ask`, `admin`; admin grants all three, plus the site's status, usage and reindex
routes). The operator key (`PRESSRAG_ADMIN_API_KEY`, optional) reaches every site and route. A
site's key on another site's route gets the same 403 whether that site exists or not.

The per-visitor rate limit keys on the `sub` claim: the plugin's keyed hash of the visitor's
id cookie and the address WordPress saw. A token without one (or a malformed one) keys on
the client address. Nothing else in a token (a `jti`, say) chooses the bucket, so minting
more tokens buys no more requests: the plugin limits minting per address. A site key is a
server integration, not a visitor: its calls count in its site's bucket only.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import jwt

from pressrag.resources.gateway.keys import ApiKey, looks_like_key
from pressrag.resources.store.sites import SITE_ID
from pressrag.serving.directory import SiteEntry, normalize_origin
from pressrag.serving.errors import ApiError

AUDIENCE = "pressrag"
MAX_LIFETIME_SECONDS = 600
LEEWAY_SECONDS = 30  # clock skew between WordPress and us
REQUIRED_CLAIMS = ["exp", "iat", "site", "origin", "aud"]
VISITOR = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
BROWSER_SCOPES = frozenset({"search", "ask"})


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the operator, a site's API key, or a browser of one site."""

    kind: Literal["operator", "site_key", "browser"]
    site: SiteEntry | None  # the key's or token's site (None for the operator)
    client_key: str  # the rate-limit key: the token's `sub`, the key's id, else the address
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        """The operator key: every site, every route."""
        return self.kind == "operator"

    @property
    def site_id(self) -> str | None:
        return self.site.id if self.site else None

    def may(self, scope: str) -> bool:
        return self.is_admin or scope in self.scopes or "admin" in self.scopes


def _unauthorized(code: str, message: str) -> ApiError:
    return ApiError(401, code, message, headers={"WWW-Authenticate": "Bearer"})


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise _unauthorized("missing_token", "an Authorization: Bearer token is required")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise _unauthorized("missing_token", "the Authorization header must be 'Bearer <token>'")
    return value.strip()


def is_admin_key(token: str, admin_key: str | None) -> bool:
    if not admin_key:
        return False
    return hmac.compare_digest(token.encode("utf-8"), admin_key.encode("utf-8"))


def authenticate(
    authorization: str | None,
    origin_header: str | None,
    client_address: str,
    lookup: Callable[[str], SiteEntry | None],
    admin_key: str | None,
    lookup_key: Callable[[str], ApiKey | None] = lambda key: None,
) -> Principal:
    """The caller behind an Authorization header. `lookup` finds a site by id, `lookup_key`
    an active API key by its secret (both cached)."""
    token = bearer_token(authorization)
    if is_admin_key(token, admin_key):
        return Principal(
            "operator", None, "admin:" + hashlib.sha256(token.encode()).hexdigest()[:12]
        )
    if looks_like_key(token):
        key = lookup_key(token)
        entry = lookup(key.site_id) if key is not None else None
        if key is None or entry is None:
            raise _unauthorized("invalid_key", "the API key is not valid (unknown or revoked)")
        return Principal("site_key", entry, f"key:{key.id}", frozenset(key.scopes))
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise _unauthorized("invalid_token", "the token is malformed") from None
    site_id = unverified.get("site")
    if not isinstance(site_id, str) or not SITE_ID.match(site_id):
        raise _unauthorized("invalid_token", "the token has no valid site claim")
    entry = lookup(site_id)
    if entry is None or not entry.token_keys:
        # Same answer as a bad signature: do not reveal which sites exist.
        raise _unauthorized("invalid_token", "the token signature is not valid")
    claims = verify_token(token, entry.token_keys)
    origin = normalize_origin(str(claims["origin"]))
    if origin not in entry.origins:
        raise ApiError(403, "origin_not_allowed", "the token's origin is not registered")
    if origin_header is not None and normalize_origin(origin_header) != origin:
        raise ApiError(403, "origin_mismatch", "the Origin header does not match the token")
    return Principal("browser", entry, visitor_key(claims, client_address), BROWSER_SCOPES)


def visitor_key(claims: dict, client_address: str) -> str:
    """The bucket of this token's visitor: its `sub` claim, else the client address."""
    visitor = claims.get("sub")
    if isinstance(visitor, str) and VISITOR.match(visitor):
        return f"visitor:{visitor}"
    return f"ip:{client_address}"


def verify_token(token: str, keys: tuple[bytes, ...]) -> dict:
    """Decode with the first key whose signature matches; map every failure to a 401."""
    claims = None
    for key in keys:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["HS256"],
                audience=AUDIENCE,
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS},
            )
            break
        except jwt.InvalidSignatureError:
            continue
        except jwt.ExpiredSignatureError:
            raise _unauthorized("token_expired", "the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise _unauthorized("invalid_token", "the token is not valid yet") from None
        except jwt.MissingRequiredClaimError as exc:
            raise _unauthorized("invalid_token", f"the token lacks the {exc.claim} claim") from None
        except jwt.InvalidAudienceError:
            raise _unauthorized("invalid_token", "the token's audience is not pressrag") from None
        except jwt.PyJWTError:
            raise _unauthorized("invalid_token", "the token is not valid") from None
    if claims is None:
        raise _unauthorized("invalid_token", "the token signature is not valid")
    iat, exp = claims["iat"], claims["exp"]
    if not isinstance(iat, int | float) or not isinstance(exp, int | float):
        raise _unauthorized("invalid_token", "iat and exp must be numbers")
    if exp - iat > MAX_LIFETIME_SECONDS:
        raise _unauthorized("invalid_token", "the token lives longer than 10 minutes")
    if not isinstance(claims["origin"], str) or not isinstance(claims["site"], str):
        raise _unauthorized("invalid_token", "site and origin must be strings")
    return claims


def authorize_site(
    principal: Principal,
    site_id: str,
    lookup: Callable[[str], SiteEntry | None],
    scope: str = "search",
) -> SiteEntry:
    """The site a request may use for `scope`: any existing one for the operator, its own for
    a key or a token, and only with the scope."""
    if principal.is_admin:
        entry = lookup(site_id)
        if entry is None:
            raise ApiError(404, "unknown_site", f"no site {site_id!r}")
        return entry
    assert principal.site is not None
    issued = "API key" if principal.kind == "site_key" else "token"
    if principal.site.id != site_id:
        raise ApiError(403, "wrong_site", f"the {issued} was issued for another site")
    if not principal.may(scope):
        raise ApiError(403, "insufficient_scope", f"this {issued} lacks the {scope} scope")
    return principal.site
