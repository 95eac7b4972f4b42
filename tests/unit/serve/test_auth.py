"""The API key rule of serve/http/auth.py: which endpoints it guards, the Bearer header as
RFC 7235 spells it, the check before the body is read, and the OpenAPI declaration only
when there is a key."""

import pytest
from fastapi.testclient import TestClient

from qinglang.models.registry import ModelInfo
from qinglang.serve.http import create_app
from qinglang.serve.http.auth import authorized
from qinglang.serve.lifecycle import Lifecycle
from qinglang.serve.predictor import Predictor
from qinglang.serve.settings import HttpSettings

KEY = "s3cret"
GOOD = {"authorization": f"Bearer {KEY}"}
ONE_ITEM = b'{"items": [{"id": "1", "text": "hi"}]}'


@pytest.fixture(scope="module")
def predictor(demo_bundle):
    return Predictor(demo_bundle, ModelInfo("qinglang", "3", "demo0000", "models:/qinglang@candidate"))


@pytest.fixture(scope="module")
def keyed(predictor):
    return TestClient(create_app(predictor, HttpSettings(max_body_bytes=4000, api_key=KEY), Lifecycle()))


@pytest.fixture(scope="module")
def open_app(predictor):
    return TestClient(create_app(predictor, HttpSettings(), Lifecycle()))


@pytest.mark.parametrize(
    "header, ok",
    [
        (f"Bearer {KEY}", True),
        (f"bearer {KEY}", True),  # RFC 7235: the auth-scheme is case-insensitive
        (f"BEARER {KEY}", True),
        (f"BeArEr {KEY}", True),
        (f"  Bearer   {KEY}  ", True),  # whitespace around and between is tolerated
        (f"Bearer\t{KEY}", True),
        (f"Bearer {KEY}x", False),
        (f"Bearer {KEY} {KEY}", False),
        (f"Bearer{KEY}", False),
        (f"Basic {KEY}", False),
        ("Bearer", False),
        ("", False),
        (None, False),
    ],
)
def test_the_bearer_header_is_read_as_rfc_7235_spells_it(header, ok):
    assert authorized(header, KEY) is ok


@pytest.mark.parametrize("header", [f"bearer {KEY}", f"BEARER {KEY}", f"Bearer   {KEY}", f"Bearer\t{KEY}"])
def test_a_lower_case_or_spaced_bearer_header_is_accepted_over_http(keyed, header):
    r = keyed.post(
        "/v1/moderate", content=ONE_ITEM, headers={"content-type": "application/json", "authorization": header}
    )
    assert r.status_code == 200, r.text


GUARDED = [
    ("POST", "/v1/moderate"),
    ("POST", "/v1/trending/rerank"),
    ("GET", "/v1/taxonomy"),
    ("GET", "/metrics"),
    ("GET", "/docs"),
    ("GET", "/redoc"),
    ("GET", "/openapi.json"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/no-such-path"),  # 401, not 404: the routes cannot be probed without the key
    ("DELETE", "/v1/moderate"),
]


@pytest.mark.parametrize("method, path", GUARDED)
def test_with_a_key_everything_but_health_and_readiness_needs_it(keyed, method, path):
    r = keyed.request(method, path)
    assert r.status_code == 401, (path, r.status_code)
    assert r.json()["error"]["code"] == "unauthorized" and r.headers["www-authenticate"] == "Bearer"
    with_key = keyed.request(method, path, headers=GOOD)
    assert with_key.status_code != 401


def test_health_is_open_and_readiness_names_the_model_only_to_the_key(keyed, open_app):
    assert keyed.get("/healthz").json() == {"status": "ok"}
    assert keyed.get("/readyz").json() == {"status": "ready"}
    assert keyed.get("/readyz", headers={"authorization": "Bearer wrong"}).json() == {"status": "ready"}
    assert keyed.get("/readyz", headers=GOOD).json() == {
        "status": "ready",
        "model": {"name": "qinglang", "version": "3"},
    }
    assert open_app.get("/readyz").json()["model"] == {"name": "qinglang", "version": "3"}  # no key: nothing to hide


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b"{bad json", "application/json"),
        (b"", "application/json"),
        (b"\xff\xfe", "application/json"),
        (ONE_ITEM, "text/plain"),
        (b"x" * 5000, "application/json"),  # over the byte limit
        (b'{"items": []}', "application/json"),
    ],
)
def test_the_key_is_checked_before_the_body_is_read(keyed, body, content_type):
    for headers in ({}, {"authorization": "Bearer wrong"}):
        r = keyed.post("/v1/moderate", content=body, headers={"content-type": content_type, **headers})
        assert r.status_code == 401, r.text


def test_openapi_declares_bearer_auth_only_when_the_server_has_a_key(keyed, open_app):
    plain = open_app.get("/openapi.json").json()
    assert "securitySchemes" not in plain.get("components", {})
    for path, ops in plain["paths"].items():
        for op in ops.values():
            assert "security" not in op and "401" not in op["responses"], path

    doc = keyed.get("/openapi.json", headers=GOOD).json()
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    security = {path: [op.get("security") for op in ops.values()] for path, ops in doc["paths"].items()}
    for path in ("/v1/moderate", "/v1/trending/rerank", "/v1/taxonomy", "/metrics"):
        assert security[path] == [[{"HTTPBearer": []}]], path
        assert all("401" in op["responses"] for op in doc["paths"][path].values())
    assert security["/readyz"] == [[{"HTTPBearer": []}, {}]]  # optional: it tells more with the key
    assert security["/healthz"] == [None]
