"""Schemathesis against one service's OpenAPI document, on a test stack, as its users would call it.

`fuzz(stack, service, callers=..., known=...)` loads the document the app serves
(`schemathesis.openapi.from_dict` of `GET /<svc>/openapi.json`: `from_asgi` would start the app's
lifespan again on a private event loop in another thread, and the stack's database pools belong to
the test's loop), then for every operation draws cases with Hypothesis (positive and negative data,
a fixed number of examples, derandomized) in a worker thread and sends each one through the stack's
own client on the test's loop. Each case is sent:

- as one of the `callers` (role → bearer token, or None for an anonymous call), drawn per case;
- with the path parameters of resources that exist (`known`: parameter name → ids of the seeded
  world) or generated ones, drawn per case, so handlers run past their 404s;
- with what a well-behaved client adds to the headers the document does not list: a fresh
  `Idempotency-Key` on most POSTs, and `If-Match: *`, `If-None-Match: *` or neither on anything
  but a GET;
- operation by operation, reads first and deletions last, so the seeded world lasts.

Every response is validated with schemathesis' checks: no 5xx, a documented status code, media
type and headers, a body that matches the documented schema, and a 4xx for every case the document
says is invalid (negative data). The result is the list of failures (empty when
the service answers as documented), each with a curl command that reproduces it.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.transport.requests import REQUESTS_TRANSPORT

from tests.support.stack import Stack

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
BASE_URL = "http://gongyi.test"
# Drawn per case (a list repeats what should come up more often).
PRECONDITIONS: list[dict[str, str]] = [{"If-Match": "*"}, {"If-Match": "*"}, {"If-None-Match": "*"}, {}]
WITH_IDEMPOTENCY_KEY = [True, True, True, False]
MAX_FAILURES_PER_OPERATION = 3
ORDER = ["GET", "PUT", "POST", "PATCH", "DELETE"]


@dataclass(frozen=True)
class Failure:
    operation: str
    caller: str
    status: int
    problem: str  # schemathesis' report: the failed checks, the answer and a curl command

    def __str__(self) -> str:
        return f"{self.operation} as {self.caller} -> {self.status}\n{self.problem}"


@dataclass
class Report:
    requests: int
    statuses: dict[str, set[int]]  # operation label -> statuses seen
    failures: list[Failure]

    def __str__(self) -> str:
        return "\n\n".join(str(f) for f in self.failures)

    def summary(self) -> str:
        """Operation by operation, the statuses it answered (which show how deep the cases got)."""
        lines = [f"{self.requests} requests"]
        lines += [f"{label}: {sorted(statuses)}" for label, statuses in sorted(self.statuses.items())]
        return "\n".join(lines)


def _cases(operation: Any, known: Mapping[str, Sequence[str]]) -> st.SearchStrategy[Any]:
    """Positive and negative cases; when every id in the path is known, mostly (3 in 5) on resources
    that exist, since generated ids only reach the 404 of a route."""
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    strategies = [operation.as_strategy(generation_mode=mode) for mode in modes]
    names = [p.name for p in operation.path_parameters]
    if names and all(known.get(name) for name in names):
        combos = [dict(zip(names, values, strict=True)) for values in itertools.product(*(known[n] for n in names))]

        def on_known(mode: GenerationMode) -> st.SearchStrategy[Any]:
            return st.sampled_from(combos).flatmap(
                lambda params: operation.as_strategy(generation_mode=mode, path_parameters=params)
            )

        positive = on_known(GenerationMode.POSITIVE)
        strategies = [positive, positive, on_known(GenerationMode.NEGATIVE), *strategies]
    return st.one_of(strategies)


def _headers(case: Any, token: str | None, precondition: dict[str, str], with_key: bool) -> dict[str, str]:
    headers: dict[str, str] = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    method = case.method.upper()
    if method == "POST" and with_key:
        headers["Idempotency-Key"] = uuid.uuid4().hex
    if method != "GET":
        headers.update(precondition)
    return headers


def _prepare(case: Any, headers: dict[str, str]) -> requests.PreparedRequest:
    kwargs = REQUESTS_TRANSPORT.serialize_case(case, base_url=BASE_URL, headers=headers)
    allowed = ("method", "url", "headers", "files", "data", "json", "params", "cookies")
    return requests.Request(**{k: v for k, v in kwargs.items() if k in allowed}).prepare()


async def fuzz(
    stack: Stack,
    service: str,
    *,
    callers: Mapping[str, str | None],
    known: Mapping[str, Sequence[str]],
    examples_per_caller: int,
) -> Report:
    """Every operation, as every caller: `examples_per_caller` cases each (one for anonymous callers,
    who only ever meet a 401)."""
    document = (await stack.client.get(f"/{service}/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(document)
    loop = asyncio.get_running_loop()
    client: httpx.AsyncClient = stack.client
    report = Report(requests=0, statuses={}, failures=[])

    def send(prepared: requests.PreparedRequest) -> httpx.Response:
        body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
        request = client.request(str(prepared.method), str(prepared.url), headers=dict(prepared.headers), content=body)
        return asyncio.run_coroutine_threadsafe(request, loop).result(timeout=60)

    def exercise(operation: Any, role: str, seen: set[tuple[Any, ...]]) -> None:
        statuses = report.statuses.setdefault(operation.label, set())
        token = callers[role]

        @settings(
            max_examples=examples_per_caller if token is not None else 1,
            derandomize=True,
            database=None,
            deadline=None,
            phases=(Phase.explicit, Phase.generate),
            suppress_health_check=list(HealthCheck),
        )
        @given(
            case=_cases(operation, known),
            precondition=st.sampled_from(PRECONDITIONS),
            with_key=st.sampled_from(WITH_IDEMPOTENCY_KEY),
        )
        def one(case: Any, precondition: dict[str, str], with_key: bool) -> None:
            response = send(_prepare(case, _headers(case, token, precondition, with_key)))
            report.requests += 1
            statuses.add(response.status_code)
            try:
                case.validate_response(response, checks=CHECKS)
            except (AssertionError, BaseExceptionGroup) as exc:  # a failed check, or a group of them
                kinds = sorted(type(e).__name__ for e in getattr(exc, "exceptions", [exc]))
                if (response.status_code, *kinds) not in seen and len(seen) < MAX_FAILURES_PER_OPERATION:
                    seen.add((response.status_code, *kinds))  # each kind of failure once per operation
                    report.failures.append(Failure(operation.label, role, response.status_code, str(exc).strip()))

        one()

    def run_all() -> None:
        operations = [result.ok() for result in schema.get_all_operations()]
        for operation in sorted(operations, key=lambda op: (ORDER.index(op.method.upper()), op.path)):
            seen: set[tuple[Any, ...]] = set()
            for role in sorted(callers):
                exercise(operation, role, seen)

    await asyncio.to_thread(run_all)
    return report
