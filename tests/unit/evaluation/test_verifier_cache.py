"""The evaluation service remembers verified machine credentials, but never past their lifetime."""

from __future__ import annotations

import time

from services.evaluation.main import CachedVerifier
from shared.auth import Principal


class CountingVerifier:
    def __init__(self, exp: float) -> None:
        self.calls, self.exp = 0, exp

    async def verify(self, token: str) -> Principal:
        self.calls += 1
        return Principal(sub=token, role="evaluator", agency_id="a", claims={"exp": self.exp, "nbf": time.time() - 1})


async def test_a_verified_token_is_reused_until_the_cache_entry_or_the_token_expires():
    inner = CountingVerifier(exp=time.time() + 3600)
    cached = CachedVerifier(inner, ttl_s=300)
    assert (await cached.verify("t1")).sub == "t1"
    assert (await cached.verify("t1")).sub == "t1"
    assert inner.calls == 1
    await cached.verify("t2")
    assert inner.calls == 2

    short = CachedVerifier(inner, ttl_s=0)
    await short.verify("t1")
    await short.verify("t1")
    assert inner.calls == 4  # a zero-lifetime cache never answers by itself


async def test_an_expired_token_is_verified_again_and_never_served_from_the_cache():
    inner = CountingVerifier(exp=time.time() - 120)  # expired beyond the 60 s leeway
    cached = CachedVerifier(inner, ttl_s=300)
    await cached.verify("old")
    await cached.verify("old")
    assert inner.calls == 2
