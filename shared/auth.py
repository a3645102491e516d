"""Bearer-token identity (API.md "Conventions": Auth) and region authority (DOMAIN.md §1).

Contract:
- `TokenVerifier.verify(token)` returns a `Principal` or raises `InvalidToken` (→ 401) — or
  `KeySetUnavailable` (→ 503) when the identity provider's key set cannot be fetched. A token is
  accepted only when all of these hold: header `alg` is RS256 (`ALGORITHMS`, not configurable:
  never `none` or HS*); the signature verifies with the configured key (a static PEM key, a static
  JWK set, or a JWKS URL cached by `kid` and re-fetched for an unknown `kid` at most once per
  `jwks_refetch_seconds`); `iss` equals the issuer; `aud` is or contains `gongyi`; `exp` is present
  and, like `nbf`, holds within `leeway_seconds` of the verifier's clock; `sub` and a known role
  are present; `officer` and `finance` carry a well-formed `region`; `org` carries a UUID `org_id`;
  `evaluator` carries an `agency_id`.
- The role is read at a configurable dotted claim path (`role`, or Keycloak's
  `realm_access.roles`). A list yields its highest-ranked known role in the order of `ROLES`
  (admin > officer > finance > evaluator > org); unknown entries are ignored.
- A `Principal` carries only the scope claims its role uses (`region` for officer and finance,
  `org_id` for org, `agency_id`/`agency_admin` for evaluator); admin is national. The raw claims
  stay available in `claims`.
- Development keys: tokens minted here (`mint_token`) always carry a `kid` starting with
  `gongyi-dev-`. A verifier refuses such tokens, and such keys in a key set, unless its settings
  say `allow_development_keys` (development mode only). `is_development_key` lets production
  start-up refuse to be configured with the data dir's development key under another `kid`.
- Region codes: 6-digit GB/T 2260 codes (province `xx0000`, city `xxxx00`, county `xxxxxx`,
  `100000` national) and 9-digit street codes (a city or county code + 3 digits, not `000`).
  X lies within R iff X starts with `authority_prefix(R)`.
Nothing here does I/O except `TokenVerifier` (the JWKS fetch) and the development-key helpers.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import os
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeGuard

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

Role = Literal["admin", "officer", "finance", "evaluator", "org"]
RegionLevel = Literal["national", "province", "city", "county", "street"]

ROLES: tuple[Role, ...] = ("admin", "officer", "finance", "evaluator", "org")  # precedence
ALGORITHMS = ("RS256",)
AUDIENCE = "gongyi"
NATIONAL = "100000"
DEV_KID_PREFIX = "gongyi-dev-"
DEV_ISSUER = "gongyi-dev"
DEV_KEY_FILE = "dev-jwt.pem"
_PROVINCE_RANGES = ((11, 15), (21, 23), (31, 37), (41, 46), (50, 54), (61, 65), (71, 71), (81, 82))
_PROVINCES = frozenset(str(p) for lo, hi in _PROVINCE_RANGES for p in range(lo, hi + 1))
_MIN_KEY_BITS = 2048
_CACHE_SIZE = 10_000


class AuthError(Exception):
    """Base of identity failures."""


class InvalidToken(AuthError):
    """The request carries no acceptable token (401); the message is for logs, not the caller."""


class KeySetUnavailable(AuthError):
    """The identity provider's key set cannot be fetched now (503): not the token's fault."""


class InvalidRegionCode(ValueError):
    """Not a region code of the shapes DOMAIN.md §1 defines."""


def is_region_code(code: object) -> bool:
    if not isinstance(code, str) or not (code.isascii() and code.isdigit()):
        return False
    if len(code) == 9:
        return _is_six_digit(code[:6]) and code[2:4] != "00" and code[6:] != "000"
    return len(code) == 6 and (code == NATIONAL or _is_six_digit(code))


def _is_six_digit(code: str) -> bool:
    # A county part without a city part (44 00 11) does not occur in GB/T 2260.
    return code[:2] in _PROVINCES and not (code[2:4] == "00" and code[4:] != "00")


def authority_prefix(code: str) -> str:
    """The prefix every code inside the region starts with (`""` for national)."""
    if not is_region_code(code):
        raise InvalidRegionCode(f"not a region code: {code!r}")
    if code == NATIONAL:
        return ""
    prefix = code
    while len(prefix) in (4, 6) and prefix.endswith("00"):
        prefix = prefix[:-2]
    return prefix


def lies_within(code: str, region: str) -> bool:
    """Whether region code `code` is `region` itself or inside it."""
    if not is_region_code(code):
        raise InvalidRegionCode(f"not a region code: {code!r}")
    return code.startswith(authority_prefix(region))


def region_level(code: str) -> RegionLevel:
    levels: dict[int, RegionLevel] = {0: "national", 2: "province", 4: "city", 6: "county"}
    return levels.get(len(authority_prefix(code)), "street")


@dataclass(frozen=True, slots=True)
class Principal:
    sub: str
    role: Role
    org_id: str | None = None
    agency_id: str | None = None
    agency_admin: bool = False
    region: str | None = None
    email: str | None = field(default=None, repr=False)
    claims: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def can_act_on_region(self, code: str) -> bool:
        """Admin: every region; officer and finance: inside their region; others: none."""
        if not is_region_code(code):
            return False
        if self.role == "admin":
            return True
        return self.region is not None and lies_within(code, self.region)


def principal_from_claims(claims: Mapping[str, Any], *, role_claim: str = "role") -> Principal:
    """The claim rules of API.md, applied to already-verified claims."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidToken("token has no sub")
    role = _role(claims, role_claim)
    scope: dict[str, Any] = {}
    if role in ("officer", "finance"):
        region = _str_claim(claims, "region")
        if region is None or not is_region_code(region):
            raise InvalidToken(f"{role} token needs a well-formed region, got {region!r}")
        scope["region"] = region
    elif role == "org":
        scope["org_id"] = _uuid_claim(claims, "org_id")
    elif role == "evaluator":
        scope["agency_id"] = _str_claim(claims, "agency_id")
        if scope["agency_id"] is None:
            raise InvalidToken("evaluator token has no agency_id")
        agency_admin = claims.get("agency_admin", False)
        if not isinstance(agency_admin, bool):
            raise InvalidToken("agency_admin must be a boolean")
        scope["agency_admin"] = agency_admin
    return Principal(
        sub=sub,
        role=role,
        email=_str_claim(claims, "email"),
        claims=MappingProxyType(dict(claims)),
        **scope,
    )


def _role(claims: Mapping[str, Any], path: str) -> Role:
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    for role in ROLES:
        if role in names:
            return role
    raise InvalidToken(f"token has no known role at {path!r}")


def _str_claim(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidToken(f"{name} must be a non-empty string")
    return value


def _uuid_claim(claims: Mapping[str, Any], name: str) -> str:
    value = _str_claim(claims, name)
    try:
        return str(uuid.UUID(value or ""))
    except ValueError:
        raise InvalidToken(f"org token needs a UUID {name}, got {value!r}") from None


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """Exactly one key source: `public_key_pem`, a static `jwks` document, or a `jwks_url`."""

    issuer: str
    audience: str = AUDIENCE
    role_claim: str = "role"
    leeway_seconds: float = 60
    public_key_pem: str | None = None
    jwks: Mapping[str, Any] | None = None
    jwks_url: str | None = None
    jwks_refetch_seconds: float = 60
    jwks_timeout_seconds: float = 5
    allow_development_keys: bool = False

    def __post_init__(self) -> None:
        sources = [self.public_key_pem, self.jwks, self.jwks_url]
        if sum(s is not None for s in sources) != 1:
            raise ValueError("configure exactly one of public_key_pem, jwks, jwks_url")
        if not self.issuer:
            raise ValueError("issuer is required")


class TokenVerifier:
    """Verifies bearer tokens; one per app, safe to share between concurrent requests."""

    def __init__(
        self,
        settings: AuthSettings,
        *,
        http: httpx.AsyncClient | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        # `now` is wall-clock time on purpose: token lifetimes are real time even when the
        # development clock of the services has been moved.
        self._settings, self._http, self._now, self._monotonic = settings, http, now, monotonic
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._last_fetch: float | None = None
        self._last_fetch_failed = False
        self._lock = asyncio.Lock()
        if settings.public_key_pem is not None:
            self._keys[""] = _rsa_public_key(
                serialization.load_pem_public_key(settings.public_key_pem.encode())
            )
        elif settings.jwks is not None:
            self._keys = _keys_from_jwks(settings.jwks, settings.allow_development_keys)
        self._verified: dict[str, tuple[Principal, Mapping[str, Any]]] = {}

    async def verify(self, token: str) -> Principal:
        """Verify a token; a token verified before is answered from a bounded cache after its
        lifetime is re-checked (parsing costs more than the signature: clients reuse tokens)."""
        cached = self._verified.get(token)
        if cached is not None:
            principal, claims = cached
            self._check_lifetime(claims)
            return principal
        principal, claims = await self._verify(token)
        if len(self._verified) >= _CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (principal, claims)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, Mapping[str, Any]]:
        s = self._settings
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, TypeError, ValueError) as e:
            raise InvalidToken(f"malformed token: {e}") from e
        if header.get("alg") not in ALGORITHMS:
            raise InvalidToken(f"algorithm {header.get('alg')!r} is not accepted")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("kid must be a string")
        if kid and kid.startswith(DEV_KID_PREFIX) and not s.allow_development_keys:
            raise InvalidToken("development keys are refused outside development mode")
        key = await self._key_for(kid)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                audience=s.audience,
                issuer=s.issuer,
                options={
                    "verify_exp": False,  # checked below against the injected clock
                    "verify_nbf": False,
                    "verify_iat": False,
                    "require": ["exp", "iss", "aud", "sub"],
                },
            )
        except jwt.PyJWTError as e:
            raise InvalidToken(str(e)) from e
        self._check_lifetime(claims)
        return principal_from_claims(claims, role_claim=s.role_claim), claims

    def _check_lifetime(self, claims: Mapping[str, Any]) -> None:
        now, leeway = self._now().timestamp(), self._settings.leeway_seconds
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not _is_number(exp) or (nbf is not None and not _is_number(nbf)):
            raise InvalidToken("exp and nbf must be numbers")
        if exp <= now - leeway:
            raise InvalidToken("token has expired")
        if nbf is not None and nbf > now + leeway:
            raise InvalidToken("token is not valid yet")

    async def _key_for(self, kid: str | None) -> rsa.RSAPublicKey:
        key = self._lookup(kid)
        if key is None and self._settings.jwks_url is not None:
            async with self._lock:
                key = self._lookup(kid)
                if key is None and self._may_fetch():
                    await self._fetch(self._settings.jwks_url)
                    key = self._lookup(kid)
                elif key is None and self._last_fetch_failed:
                    raise KeySetUnavailable("the key set could not be fetched recently")
        if key is None:
            raise InvalidToken(f"no key for kid {kid!r}")
        return key

    def _lookup(self, kid: str | None) -> rsa.RSAPublicKey | None:
        if "" in self._keys and self._settings.public_key_pem is not None:
            return self._keys[""]
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _may_fetch(self) -> bool:
        last = self._last_fetch
        return last is None or self._monotonic() - last >= self._settings.jwks_refetch_seconds

    async def _fetch(self, url: str) -> None:
        self._last_fetch, self._last_fetch_failed = self._monotonic(), True
        timeout = self._settings.jwks_timeout_seconds
        try:
            if self._http is not None:
                response = await self._http.get(url, timeout=timeout)
            else:
                async with httpx.AsyncClient(timeout=timeout) as client:
                    response = await client.get(url)
            response.raise_for_status()
            keys = _keys_from_jwks(response.json(), self._settings.allow_development_keys)
        except (httpx.HTTPError, ValueError, TypeError) as e:
            raise KeySetUnavailable(f"cannot fetch the key set: {e}") from e
        self._keys, self._last_fetch_failed = keys, False


def _is_number(value: object) -> TypeGuard[float]:
    # json.loads accepts NaN, and NaN compares false both ways: it would never expire.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _keys_from_jwks(document: Any, allow_development_keys: bool) -> dict[str, rsa.RSAPublicKey]:
    """The RS256 signing keys of a JWK set by `kid` (`""` for a key without one)."""
    entries = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(entries, list):
        raise TypeError("a JWK set is an object with a keys list")
    keys: dict[str, rsa.RSAPublicKey] = {}
    for jwk in entries:
        if not isinstance(jwk, Mapping) or jwk.get("kty") != "RSA":
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("alg", "RS256") != "RS256":
            continue  # e.g. Keycloak's RSA-OAEP encryption key
        kid = jwk.get("kid", "")
        if not isinstance(kid, str) or (
            kid.startswith(DEV_KID_PREFIX) and not allow_development_keys
        ):
            continue
        try:
            keys[kid] = _rsa_public_key(RSAAlgorithm.from_jwk(dict(jwk)))
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            continue
    return keys


def _rsa_public_key(key: object) -> rsa.RSAPublicKey:
    if isinstance(key, rsa.RSAPrivateKey):
        key = key.public_key()
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < _MIN_KEY_BITS:
        raise ValueError(f"an RSA public key of at least {_MIN_KEY_BITS} bits is required")
    return key


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer …` header value."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("expected Authorization: Bearer <token>")
    return token.strip()


# Development keys (`gongyi up`, `gongyi token`, `gongyi demo`; never production).


def load_or_create_dev_key(data_dir: str | Path) -> rsa.RSAPrivateKey:
    """`<data dir>/dev-jwt.pem` (mode 0600), created on first use; racing creators agree."""
    directory = Path(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / DEV_KEY_FILE
    if not path.exists():
        pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = directory / f".{DEV_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)  # atomic and never overwrites: the first creator wins
            except FileExistsError:
                pass
        finally:
            tmp.unlink()
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError(f"{path} does not hold an RSA private key")
    return key


def dev_kid(public_key: rsa.RSAPublicKey) -> str:
    """`gongyi-dev-` + the start of the key's RFC 7638 thumbprint."""
    jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return DEV_KID_PREFIX + base64.urlsafe_b64encode(digest).decode()[:16]


def dev_jwks(private_key: rsa.RSAPrivateKey) -> dict[str, Any]:
    """The JWK set a development verifier trusts."""
    public_key = private_key.public_key()
    jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
    return {"keys": [{**jwk, "kid": dev_kid(public_key), "use": "sig", "alg": "RS256"}]}


def dev_settings(private_key: rsa.RSAPrivateKey, *, issuer: str = DEV_ISSUER) -> AuthSettings:
    return AuthSettings(issuer=issuer, jwks=dev_jwks(private_key), allow_development_keys=True)


def is_development_key(public_key: rsa.RSAPublicKey, data_dir: str | Path) -> bool:
    """Whether `public_key` is the development key kept in `data_dir` (if there is one)."""
    path = Path(data_dir) / DEV_KEY_FILE
    if not path.exists():
        return False
    dev = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(dev, rsa.RSAPrivateKey):
        return False
    return dev.public_key().public_numbers() == public_key.public_numbers()


def mint_token(
    private_key: rsa.RSAPrivateKey,
    *,
    issuer: str,
    sub: str,
    role: Role,
    region: str | None = None,
    org_id: str | None = None,
    agency_id: str | None = None,
    agency_admin: bool = False,
    email: str | None = None,
    ttl: timedelta = timedelta(hours=12),
    now: datetime | None = None,
    audience: str = AUDIENCE,
) -> str:
    """A development token; ValueError when a verifier would refuse its claims."""
    issued_at = int((now or datetime.now(UTC)).timestamp())
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": sub,
        "aud": audience,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + int(ttl.total_seconds()),
        "role": role,
    }
    optional = {"region": region, "org_id": org_id, "agency_id": agency_id, "email": email}
    claims.update({k: v for k, v in optional.items() if v is not None})
    if agency_admin:
        claims["agency_admin"] = True
    try:
        principal_from_claims(claims)
    except InvalidToken as e:
        raise ValueError(str(e)) from None
    kid = dev_kid(private_key.public_key())
    return jwt.encode(claims, private_key, algorithm="RS256", headers={"kid": kid})
