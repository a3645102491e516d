from __future__ import annotations

import pytest


@pytest.fixture
async def pg(stack_factory):
    """The registry alone on a fresh PostgreSQL database and the embedded log."""
    return await stack_factory(("registry",), db="postgres")


@pytest.fixture(params=["postgres", "sqlite"])
async def any_db(stack_factory, request):
    """Key paths on both databases."""
    return await stack_factory(("registry",), db=request.param)
