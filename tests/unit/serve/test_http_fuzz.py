"""Property-based fuzzing of the HTTP API: schemathesis derives valid and invalid requests
from the OpenAPI schema and checks every response against it (no 5xx, documented status
codes and bodies); hypothesis throws arbitrary bytes and JSON at the moderation endpoint."""

import json

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from qinglang.models.registry import ModelInfo
from qinglang.serve.http import create_app
from qinglang.serve.predictor import Predictor
from qinglang.serve.settings import HttpSettings

KEY = "fuzz-key"
LIMITS = HttpSettings(max_items=8, max_text_chars=200, max_body_bytes=20_000, api_key=KEY)
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def app(demo_bundle):
    return create_app(Predictor(demo_bundle, ModelInfo("qinglang", "1", "demo0000", "test")), LIMITS)


def operations(app) -> list:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    # over-limit requests (items, text length) are refused with 413 by design, not 400/422
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])
def test_every_operation_conforms_to_its_schema(app, mode):
    """schemathesis' own pytest plugin does not run under pytest 9 yet, so each operation's
    strategy is driven by hypothesis directly; `call_and_validate` runs schemathesis' checks."""
    ops = operations(app)
    assert {op.path for op in ops} >= {
        "/v1/moderate",
        "/v1/trending/rerank",
        "/v1/taxonomy",
        "/healthz",
        "/readyz",
        "/metrics",
    }
    fuzzed = set()
    for op in ops:

        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            case.call_and_validate(headers=AUTH)

        try:
            check()
            fuzzed.add(op.path)
        except Unsatisfiable:  # an operation without inputs has no invalid request to make
            assert mode is schemathesis.GenerationMode.NEGATIVE
    assert {"/v1/moderate", "/v1/trending/rerank"} <= fuzzed


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.sampled_from(["items", "id", "text", "x"]) | st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)
ITEM = st.fixed_dictionaries({"id": st.text(max_size=10), "text": st.text(max_size=300)})


@given(
    body=st.binary(max_size=400)
    | JSON.map(lambda v: json.dumps(v).encode())
    | st.lists(ITEM, max_size=10).map(lambda items: json.dumps({"items": items}, ensure_ascii=False).encode())
)
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_arbitrary_bodies_never_cause_a_server_error(app, body):
    client = TestClient(app, raise_server_exceptions=True)
    r = client.post("/v1/moderate", content=body, headers={"content-type": "application/json", **AUTH})
    assert r.status_code in (200, 400, 413, 422), (r.status_code, r.text)
    payload = r.json()
    if r.status_code == 200:
        assert len(payload["items"]) == len(json.loads(body)["items"])
    else:
        assert payload["error"]["code"] and payload["error"]["message"]
