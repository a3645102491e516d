"""Bad input is a 4xx problem naming the field, never a 500 (API.md "Errors")."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.evaluation.support import Api, Facts, key

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@pytest.fixture
async def scene(stack_factory):
    stack = await stack_factory(("evaluation",), db="sqlite")
    facts, api = Facts(stack), Api(stack)
    org = await facts.register()
    await stack.settle()
    rnd = await api.open_round()
    ev = await api.apply(rnd["id"], org)
    _, evaluators, tokens = await api.agency_with_evaluators(1)
    await api.assign(ev["id"], evaluators[0]["id"])
    return stack, api, rnd, ev, tokens[0]


async def test_arbitrary_json_bodies_never_cause_a_server_error(scene):
    _, api, _, ev, token = scene
    targets = [
        ("PUT", f"/evaluation/v1/evaluations/{ev['id']}/scores", {**token, "If-None-Match": "*"}),
        ("POST", "/evaluation/v1/rounds", api.idem(api.officer)),
        ("POST", f"/evaluation/v1/evaluations/{ev['id']}/decision", api.officer),
        ("POST", f"/evaluation/v1/evaluations/{ev['id']}/conflicts", api.idem(token)),
        ("POST", "/evaluation/v1/band-tables", api.idem(api.officer)),
        ("POST", "/evaluation/v1/indicator-templates", api.idem(api.officer)),
        ("POST", "/evaluation/v1/rule-sets", api.idem(api.officer)),
    ]
    seen: list[int] = []

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=JSON, scores=st.dictionaries(st.sampled_from(["A1", "A2", "B1", "X1", "Z"]), JSON, max_size=3))
    def run(body, scores):
        seen.append((body, scores))

    run()
    for i, (body, scores) in enumerate(seen):
        method, path, headers = targets[i % len(targets)]
        payload = {"scores": scores} if method == "PUT" and i % 2 else body
        if "Idempotency-Key" in headers:
            headers = {**headers, "Idempotency-Key": key()}
        r = await api.c.request(method, path, json=payload, headers=headers)
        assert r.status_code < 500, (method, path, payload, r.text)
        if r.status_code >= 400:
            assert r.headers["content-type"].startswith("application/problem+json"), r.text


JUNK = [None, 7, -1, 1.5, "", "x", [], {}, [1, "a"], {"a": None}, True]
RULE_SET_PATHS = [
    ("eligibility",),
    ("eligibility", "registered_years_before_round"),
    ("eligibility", "grade_in_force"),
    ("eligibility", "grade_in_force", "re_evaluation_within_years"),
    ("eligibility", "exclusions"),
    ("eligibility", "exclusions", "annual_inspection_last_year"),
    ("eligibility", "exclusions", "annual_inspection_last_year", "results"),
    ("eligibility", "exclusions", "penalty_last_year"),
    ("eligibility", "exclusions", "penalty_last_year", "fine_at_least"),
    ("eligibility", "exclusions", "basically_qualified_years_running", "years"),
    ("eligibility", "exclusions", "credit_lists", "lists"),
    ("procedure",),
    ("procedure", "notice_working_days"),
    ("procedure", "appeal"),
    ("procedure", "appeal", "notify_within_calendar_days"),
    ("scoring", "cap"),
    ("scoring", "max_spread"),
    ("validity", "rule"),
    ("validity", "years"),
    ("after_publication", "downgrade_on"),
    ("after_publication", "certificate_return_calendar_days"),
    ("after_publication", "on_serious_listing"),
]


async def test_a_copied_rule_set_with_a_wrong_value_anywhere_is_refused_naming_it(scene):
    _, api, _, _, _ = scene
    accepted = []
    for n, path in enumerate(RULE_SET_PATHS):
        for junk in JUNK:
            changes: object = junk
            for part in reversed(path):
                changes = {part: changes}
            body = {"copy_of": {"id": "national-2011"}, "id": f"bad-{n}", "name": "坏的", "changes": changes}
            r = await api.post("/rule-sets", body, api.officer)
            assert r.status_code in (201, 409, 422), (path, junk, r.text)
            if r.status_code == 422:
                assert r.json()["errors"], r.text
            elif r.status_code == 201 and junk in ("x", 1.5, [1, "a"], True):
                accepted.append((path, junk))
    # a wrong type is accepted only where the value is free text or a yes/no that any value answers
    assert accepted == [], accepted
    for junk in JUNK:
        for doc in (
            {"id": "t", "name": "t", "total": junk, "indicators": [{"code": "A", "name": "a", "max": "10"}]},
            {"id": "t", "name": "t", "total": "10", "indicators": junk},
            {"id": "t", "name": "t", "total": "10", "indicators": [{"code": "A", "name": "a", "max": junk}]},
            {"id": "b", "name": "b", "scale": junk, "bands": [{"grade": "5A", "from": "0"}]},
            {"id": "b", "name": "b", "scale": 100, "bands": [{"grade": junk, "from": junk, "to": junk}]},
        ):
            path = "/indicator-templates" if "total" in doc else "/band-tables"
            r = await api.post(path, doc, api.officer)
            assert r.status_code in (201, 409, 422), (path, doc, r.text)
