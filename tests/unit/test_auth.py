"""Bearer tokens (API.md "Conventions": Auth) and region authority (DOMAIN.md §1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from shared.auth import (
    AuthSettings,
    InvalidRegionCode,
    InvalidToken,
    KeySetUnavailable,
    Principal,
    TokenVerifier,
    authority_prefix,
    bearer_token,
    dev_jwks,
    dev_settings,
    is_development_key,
    is_region_code,
    lies_within,
    load_or_create_dev_key,
    mint_token,
    region_level,
)

ISSUER = "https://id.example.org/realms/gongyi"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_PEM = (
    KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
ORG_ID = "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f"


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": "gongyi",
        "sub": "user-1",
        "iat": int(NOW.timestamp()),
        "exp": int((NOW + timedelta(hours=1)).timestamp()),
        "role": "officer",
        "region": "440111",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(
    payload: dict[str, Any], *, key: rsa.RSAPrivateKey = KEY, kid: str = "idp-1", alg: str = "RS256"
) -> str:
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def verifier(**settings: Any) -> TokenVerifier:
    settings.setdefault("public_key_pem", PUBLIC_PEM)
    return TokenVerifier(AuthSettings(issuer=ISSUER, **settings), now=lambda: NOW)


def jwks_for(*keys: tuple[str, rsa.RSAPrivateKey]) -> dict[str, Any]:
    return {
        "keys": [
            {**RSAAlgorithm.to_jwk(k.public_key(), as_dict=True), "kid": kid, "use": "sig"}
            for kid, k in keys
        ]
    }


async def refused(v: TokenVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as e:
        await v.verify(token)
    return str(e.value)


# --- accepted tokens -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_valid_officer_token_yields_its_principal() -> None:
    p = await verifier().verify(sign(claims(email="a@example.org")))
    assert p == Principal(sub="user-1", role="officer", region="440111", email="a@example.org")
    assert p.claims["iss"] == ISSUER
    assert "a@example.org" not in repr(p)


@pytest.mark.asyncio
async def test_audience_may_be_a_list_containing_gongyi() -> None:
    p = await verifier().verify(sign(claims(aud=["account", "gongyi"])))
    assert p.role == "officer"


@pytest.mark.asyncio
async def test_org_evaluator_and_admin_tokens_carry_their_own_scope_only() -> None:
    v = verifier()
    org = await v.verify(sign(claims(role="org", region=None, org_id=ORG_ID.upper())))
    assert (org.org_id, org.region) == (ORG_ID, None)
    ev = await v.verify(
        sign(claims(role="evaluator", agency_id="ag-7", agency_admin=True, org_id=ORG_ID))
    )
    assert (ev.agency_id, ev.agency_admin, ev.org_id, ev.region) == ("ag-7", True, None, None)
    admin = await v.verify(sign(claims(role="admin", region=None)))
    assert admin.region is None


@pytest.mark.asyncio
async def test_a_role_list_yields_the_highest_known_role() -> None:
    v = verifier(role_claim="realm_access.roles")
    roles = ["offline_access", "org", "officer", "uma_authorization"]
    p = await v.verify(sign(claims(role=None, realm_access={"roles": roles}, org_id=ORG_ID)))
    assert p.role == "officer"
    admin = await v.verify(sign(claims(role=None, realm_access={"roles": ["org", "admin"]})))
    assert admin.role == "admin"
    assert "no known role" in await refused(
        v, sign(claims(role=None, realm_access={"roles": ["offline_access"]}))
    )


@pytest.mark.asyncio
async def test_expiry_and_not_before_allow_sixty_seconds_of_leeway() -> None:
    v = verifier()
    ts = int(NOW.timestamp())
    await v.verify(sign(claims(exp=ts - 59)))
    await v.verify(sign(claims(nbf=ts + 59)))
    assert "expired" in await refused(v, sign(claims(exp=ts - 61)))
    assert "not valid yet" in await refused(v, sign(claims(nbf=ts + 61)))


@pytest.mark.asyncio
async def test_a_token_verified_before_still_expires() -> None:
    moments = [NOW]
    v = TokenVerifier(AuthSettings(issuer=ISSUER, public_key_pem=PUBLIC_PEM), now=lambda: moments[0])
    token = sign(claims(exp=int(NOW.timestamp()) + 30))
    assert (await v.verify(token)).sub == "user-1"
    assert (await v.verify(token)).sub == "user-1"  # answered from the cache
    moments[0] = NOW + timedelta(seconds=91)
    assert "expired" in await refused(v, token)


# --- refused tokens --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_signature_from_another_key_is_refused() -> None:
    await refused(verifier(), sign(claims(), key=OTHER_KEY))


@pytest.mark.asyncio
async def test_a_tampered_payload_is_refused() -> None:
    header, _, signature = sign(claims()).split(".")
    forged = b64(json.dumps(claims(role="admin")).encode())
    await refused(verifier(), f"{header}.{forged}.{signature}")


@pytest.mark.asyncio
async def test_alg_none_is_refused() -> None:
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims(role="admin")).encode())
    assert "not accepted" in await refused(verifier(), f"{header}.{payload}.")


@pytest.mark.asyncio
async def test_hs256_signed_with_the_public_key_as_secret_is_refused() -> None:
    # The classic key-confusion attack: the public key is public, so anyone can compute this MAC.
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims(role="admin")).encode())
    mac = hmac.new(PUBLIC_PEM.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert "not accepted" in await refused(verifier(), f"{header}.{payload}.{b64(mac)}")


@pytest.mark.asyncio
async def test_other_rsa_algorithms_are_refused() -> None:
    await refused(verifier(), sign(claims(), alg="RS512"))
    await refused(verifier(), sign(claims(), alg="PS256"))


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "payload",
    [
        claims(iss="https://evil.example.org"),
        claims(iss=None),
        claims(aud="account"),
        claims(aud=["account", "other"]),
        claims(aud=None),
        claims(exp=None),
        claims(exp="tomorrow"),
        claims(exp=float("nan")),
        claims(sub=None),
        claims(sub=""),
        claims(role=None),
        claims(role="superuser"),
        claims(role="officer", region=None),
        claims(role="finance", region=None),
        claims(role="org", org_id=None),
        claims(role="org", org_id="not-a-uuid"),
        claims(role="evaluator", agency_id=None),
        claims(role="evaluator", agency_id="ag-7", agency_admin="true"),
    ],
    ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items() if k not in ("iat",)),
)
async def test_tokens_breaking_a_claim_rule_are_refused(payload: dict[str, Any]) -> None:
    await refused(verifier(), sign(payload))


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "region", ["4401", "44011", "4401110", "440011", "990000", "100100", "440100000", "44O111"]
)
async def test_a_malformed_region_is_refused(region: str) -> None:
    assert "region" in await refused(verifier(), sign(claims(region=region)))


@pytest.mark.asyncio
async def test_garbage_and_a_missing_header_are_refused() -> None:
    await refused(verifier(), "not-a-token")
    with pytest.raises(InvalidToken):
        bearer_token("Basic dXNlcjpwYXNz")
    with pytest.raises(InvalidToken):
        bearer_token(None)
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"


# --- JWKS --------------------------------------------------------------------------------------


class FakeIdp:
    """A JWKS endpoint whose key set can rotate; counts the fetches it serves."""

    def __init__(self, *keys: tuple[str, rsa.RSAPrivateKey]) -> None:
        self.keys = list(keys)
        self.fetches = 0
        self.down = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        if self.down:
            return httpx.Response(503)
        document = jwks_for(*self.keys)
        document["keys"].append(
            {"kty": "RSA", "use": "enc", "kid": "enc-1", "n": "AQAB", "e": "AQAB"}
        )
        return httpx.Response(200, json=document)


def jwks_verifier(idp: FakeIdp, clock: Callable[[], float]) -> TokenVerifier:
    settings = AuthSettings(issuer=ISSUER, jwks_url="https://id.example.org/certs")
    client = httpx.AsyncClient(transport=httpx.MockTransport(idp.handler))
    return TokenVerifier(settings, http=client, now=lambda: NOW, monotonic=clock)


@pytest.mark.asyncio
async def test_jwks_keys_are_fetched_once_and_cached_by_kid() -> None:
    idp = FakeIdp(("k1", KEY))
    v = jwks_verifier(idp, lambda: 1000.0)
    for _ in range(3):
        await v.verify(sign(claims(), kid="k1"))
    assert idp.fetches == 1


@pytest.mark.asyncio
async def test_an_unknown_kid_refetches_at_most_once_per_interval() -> None:
    t = [1000.0]
    idp = FakeIdp(("k1", KEY))
    v = jwks_verifier(idp, lambda: t[0])
    await v.verify(sign(claims(), kid="k1"))
    idp.keys = [("k1", KEY), ("k2", OTHER_KEY)]  # the provider rotates in a new key
    t[0] += 10
    await refused(v, sign(claims(), key=OTHER_KEY, kid="k2"))  # too soon to ask again
    assert idp.fetches == 1
    t[0] += 50
    await v.verify(sign(claims(), key=OTHER_KEY, kid="k2"))
    assert idp.fetches == 2
    t[0] += 10
    assert "no key" in await refused(v, sign(claims(), kid="k3"))
    assert "no key" in await refused(v, sign(claims(), kid="k4"))
    assert idp.fetches == 2  # refused without asking the provider again
    t[0] += 60
    await refused(v, sign(claims(), kid="k3"))
    assert idp.fetches == 3


@pytest.mark.asyncio
async def test_an_unreachable_key_set_is_reported_as_unavailable_not_invalid() -> None:
    t = [1000.0]
    idp = FakeIdp(("k1", KEY))
    idp.down = True
    v = jwks_verifier(idp, lambda: t[0])
    with pytest.raises(KeySetUnavailable):
        await v.verify(sign(claims(), kid="k1"))
    with pytest.raises(KeySetUnavailable):
        await v.verify(sign(claims(), kid="k1"))
    assert idp.fetches == 1
    idp.down = False
    t[0] += 60
    assert (await v.verify(sign(claims(), kid="k1"))).sub == "user-1"


def test_exactly_one_key_source_is_configured() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        AuthSettings(issuer=ISSUER)
    with pytest.raises(ValueError, match="exactly one"):
        AuthSettings(issuer=ISSUER, public_key_pem=PUBLIC_PEM, jwks_url="https://x/certs")


# --- development keys -------------------------------------------------------------------------


def test_the_development_key_is_created_once_with_owner_only_permissions(tmp_path: Path) -> None:
    key = load_or_create_dev_key(tmp_path / "var")
    path = tmp_path / "var" / "dev-jwt.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_or_create_dev_key(tmp_path / "var")
    assert again.public_key().public_numbers() == key.public_key().public_numbers()
    assert is_development_key(key.public_key(), tmp_path / "var")
    assert not is_development_key(OTHER_KEY.public_key(), tmp_path / "var")
    assert not is_development_key(key.public_key(), tmp_path / "elsewhere")


@pytest.mark.asyncio
async def test_a_minted_token_verifies_against_the_development_key_set() -> None:
    token = mint_token(
        KEY, issuer="gongyi-dev", sub="dev-officer", role="officer", region="440100", now=NOW
    )
    assert jwt.get_unverified_header(token)["kid"].startswith("gongyi-dev-")
    v = TokenVerifier(dev_settings(KEY), now=lambda: NOW)
    p = await v.verify(token)
    assert (p.sub, p.role, p.region) == ("dev-officer", "officer", "440100")
    expired = mint_token(
        KEY,
        issuer="gongyi-dev",
        sub="x",
        role="admin",
        now=NOW - timedelta(days=1),
        ttl=timedelta(hours=1),
    )
    await refused(v, expired)


@pytest.mark.asyncio
async def test_a_production_verifier_refuses_development_tokens_and_keys() -> None:
    token = mint_token(KEY, issuer=ISSUER, sub="dev", role="admin", now=NOW)
    # even when production is (wrongly) given the development key directly …
    assert "development" in await refused(verifier(), token)
    # … or the development key set: its keys are dropped, whatever kid a token names
    v = TokenVerifier(AuthSettings(issuer=ISSUER, jwks=dev_jwks(KEY)), now=lambda: NOW)
    await refused(v, token)
    await refused(v, sign(claims(), kid="idp-1"))


def test_minting_refuses_claims_a_verifier_would_refuse() -> None:
    with pytest.raises(ValueError, match="region"):
        mint_token(KEY, issuer=ISSUER, sub="x", role="officer")
    with pytest.raises(ValueError, match="org_id"):
        mint_token(KEY, issuer=ISSUER, sub="x", role="org")
    with pytest.raises(ValueError, match="agency_id"):
        mint_token(KEY, issuer=ISSUER, sub="x", role="evaluator")


# --- regions -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "prefix", "level"),
    [
        ("100000", "", "national"),
        ("440000", "44", "province"),
        ("500000", "50", "province"),
        ("440100", "4401", "city"),
        ("441900", "4419", "city"),
        ("440111", "440111", "county"),
        ("469001", "469001", "county"),
        ("440111001", "440111001", "street"),
        ("441900003", "441900003", "street"),
    ],
)
def test_authority_prefix_and_level(code: str, prefix: str, level: str) -> None:
    assert authority_prefix(code) == prefix
    assert region_level(code) == level


def test_a_code_lies_within_a_region_iff_it_starts_with_its_prefix() -> None:
    assert lies_within("440111001", "440111")
    assert lies_within("440111", "440100")
    assert lies_within("440100", "440100")
    assert lies_within("441900003", "441900")
    assert lies_within("110105", "100000")
    assert not lies_within("440000", "440100")
    assert not lies_within("440211", "440100")
    assert not lies_within("440111002", "440111001")
    with pytest.raises(InvalidRegionCode):
        lies_within("4401", "440000")
    with pytest.raises(InvalidRegionCode):
        authority_prefix("440011")


@pytest.mark.parametrize(
    "code",
    [
        "",
        "44",
        "44011",
        "4401110",
        "440011",
        "990000",
        "100100",
        "440000001",
        "440111000",
        "４４０１１１",
        "44011１",
    ],
)
def test_malformed_region_codes(code: str) -> None:
    assert not is_region_code(code)


def test_who_may_act_on_a_region() -> None:
    officer = Principal(sub="o", role="officer", region="440100")
    assert officer.can_act_on_region("440111")
    assert officer.can_act_on_region("440111001")
    assert not officer.can_act_on_region("440211")
    assert not officer.can_act_on_region("bogus")
    assert Principal(sub="a", role="admin").can_act_on_region("650102")
    assert not Principal(sub="g", role="org", org_id=ORG_ID).can_act_on_region("440111")
    street = Principal(sub="s", role="officer", region="440111001")
    assert not street.can_act_on_region("440111")
