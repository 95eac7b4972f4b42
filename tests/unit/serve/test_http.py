"""The HTTP contract: results, every error status with a JSON body, API key, metrics,
concurrency. Runs the real ASGI app in process (Starlette's TestClient)."""

import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from qinglang.models.registry import ModelInfo
from qinglang.serve.http import create_app
from qinglang.serve.predictor import Predictor
from qinglang.serve.settings import HttpSettings

LIMITS = HttpSettings(max_items=5, max_text_chars=50, max_body_bytes=4000)


@pytest.fixture(scope="module")
def predictor(demo_bundle):
    return Predictor(demo_bundle, ModelInfo("qinglang", "3", "demo0000", "models:/qinglang@candidate"))


@pytest.fixture()
def client(predictor):
    return TestClient(create_app(predictor, LIMITS))


def post(client, body, content_type="application/json", **headers):
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return client.post(
        "/v1/moderate", content=data, headers={"content-type": content_type, **headers} if content_type else headers
    )


def test_moderate_returns_scores_flags_groups_and_version_per_item(client, predictor):
    items = [{"id": "a", "text": "顶流小A机场私服又火了"}, {"id": "b", "text": "明天全国大部分地区有雨"}]
    r = post(client, {"items": items})
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == {"name": "qinglang", "version": "3"}
    assert [i["id"] for i in body["items"]] == ["a", "b"]
    expected = predictor.predict([i["text"] for i in items])
    for got, want in zip(body["items"], expected, strict=True):
        assert got["scores"] == pytest.approx(want.scores)
        assert [f["category"] for f in got["flagged"]] == [f.category for f in want.flagged]
        assert got["groups"] == want.groups and got["model_version"] == "3"
    assert body["items"][0]["flagged"][0]["category"] == "celebrity_hype"
    assert body["items"][0]["scores"]["wealth_flaunting"] is None


@pytest.mark.parametrize(
    "body, content_type, status, code",
    [
        (b"", "application/json", 400, "empty_body"),
        (b"   ", "application/json", 400, "empty_body"),
        (b'{"items": [{"id": "1", "text": "\xff\xfe"}]}', "application/json", 400, "invalid_encoding"),
        (b"{bad json", "application/json", 400, "invalid_json"),
        (b'{"items": [{"id": "1", "text": "hi"}]}', "text/plain", 415, "unsupported_media_type"),
        (b'{"items": [{"id": "1", "text": "hi"}]}', "application/json; charset=latin-1", 415, "unsupported_media_type"),
        (b'{"items": [{"id": "1", "text": "hi"}]}', None, 415, "unsupported_media_type"),
        (b"x" * 5000, "application/json", 413, "body_too_large"),
        (
            json.dumps({"items": [{"id": str(i), "text": "hi"} for i in range(6)]}).encode(),
            "application/json",
            422,
            "too_many_items",
        ),
        (json.dumps({"items": [{"id": "1", "text": "长" * 51}]}).encode(), "application/json", 422, "text_too_long"),
        (b"[]", "application/json", 422, "invalid_request"),
        (b"null", "application/json", 422, "invalid_request"),
        (b'{"items": []}', "application/json", 422, "invalid_request"),
        (b'{"items": [{"id": 1, "text": "hi"}]}', "application/json", 422, "invalid_request"),
        (b'{"items": [{"id": "1", "text": ["hi"]}]}', "application/json", 422, "invalid_request"),
        (b'{"items": [{"id": "1", "text": ""}]}', "application/json", 422, "invalid_request"),
        (b'{"items": [{"id": "1"}]}', "application/json", 422, "invalid_request"),
        (b'{"items": [{"id": "1", "text": "hi", "extra": 1}]}', "application/json", 422, "invalid_request"),
        (b'{"texts": ["hi"]}', "application/json", 422, "invalid_request"),
    ],
)
def test_bad_input_gets_the_right_status_and_a_json_error(client, body, content_type, status, code):
    r = post(client, body, content_type)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"items": ' + b"[" * 5000 + b"]" * 5000 + b"}",  # deeper than the JSON parser's recursion limit
        b'{"items": [{"id": "1", "text": "hi"}], "profile": ' + b"9" * 5000 + b"}",  # over its 4300 digits
        b'{"items": [{"id": "1", "text": "hi"}], "profile": -' + b"9" * 5000 + b"}",
    ],
)
def test_json_the_parser_gives_up_on_is_invalid_json(predictor, body):
    """The README's error code for a body that is not JSON, not FastAPI's generic bad_request."""
    r = post(TestClient(create_app(predictor, HttpSettings(max_body_bytes=100_000))), body)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json", r.text


def test_content_free_texts_are_scored_as_nothing_never_flagged(client):
    """Spaces, ideographic space, zero-width space, NUL: nothing to judge, so a 200 with null
    scores and no flag at any operating point (the model decides; the schema allows null)."""
    texts = [" ", "\u3000", "\u200b", "\u0000", " \u200b\u3000 "]
    for profile in ("balanced", "review", "auto"):
        r = post(client, {"items": [{"id": str(i), "text": t} for i, t in enumerate(texts)], "profile": profile})
        assert r.status_code == 200, r.text
        for item in r.json()["items"]:
            assert item["flagged"] == [] and item["groups"] == []
            assert set(item["scores"].values()) == {None}


def test_chunked_body_over_the_limit_is_refused_without_content_length(client):
    def chunks():
        for _ in range(10):
            yield b" " * 1000

    r = client.post("/v1/moderate", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"


def test_unknown_routes_and_methods_answer_json(client):
    assert client.get("/nope").json()["error"]["code"] == "not_found"
    r = client.get("/v1/moderate")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_api_key_guards_moderation_but_not_health(predictor):
    client = TestClient(create_app(predictor, HttpSettings(api_key="s3cret")))
    ok = {"items": [{"id": "1", "text": "你好"}]}
    assert post(client, ok).status_code == 401
    assert post(client, ok, authorization="Bearer wrong").status_code == 401
    assert post(client, ok, authorization="Basic czNjcmV0").status_code == 401
    r = post(client, ok, authorization="Bearer s3cret")
    assert r.status_code == 200
    assert client.get("/v1/taxonomy").status_code == 401
    assert client.get("/v1/taxonomy", headers={"authorization": "Bearer s3cret"}).status_code == 200
    for open_path in ("/healthz", "/readyz"):
        assert client.get(open_path).status_code == 200


def test_taxonomy_comes_from_the_model(client, demo_bundle):
    body = client.get("/v1/taxonomy").json()
    assert [c["key"] for c in body["categories"]] == demo_bundle.categories
    by_key = {c["key"]: c for c in body["categories"]}
    assert by_key["wealth_flaunting"] == {**by_key["wealth_flaunting"], "trained": False, "threshold": None}
    assert by_key["celebrity_hype"]["threshold"] == pytest.approx(float(demo_bundle.classifier.thresholds_[0]))
    assert set(body["groups"]) == {c["group"] for c in body["categories"]}


def test_health_ready_and_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["model"]["version"] == "3"
    post(client, {"items": [{"id": "1", "text": "你这个傻逼"}, {"id": "2", "text": "你好"}]})
    post(client, b"{bad")
    text = client.get("/metrics").text
    assert 'qinglang_http_requests_total{method="POST",route="/v1/moderate",status="200"} 1.0' in text
    assert 'qinglang_http_requests_total{method="POST",route="/v1/moderate",status="400"} 1.0' in text
    assert "qinglang_items_scored_total 2.0" in text
    assert 'qinglang_http_request_duration_seconds_bucket{le="0.02",route="/v1/moderate"}' in text
    assert 'qinglang_model_info{name="qinglang",version="3"} 1.0' in text


def test_a_failing_model_gives_500_json_and_the_app_keeps_serving(predictor, monkeypatch):
    client = TestClient(create_app(predictor, LIMITS), raise_server_exceptions=False)
    calls = {"n": 0}
    real = predictor.predict

    def flaky(texts, profile=None, kind=None):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom")
        return real(texts, profile, kind)

    monkeypatch.setattr(predictor, "predict", flaky)
    first = post(client, {"items": [{"id": "1", "text": "你好"}]})
    assert first.status_code == 500 and first.json()["error"]["code"] == "internal_error"
    assert post(client, {"items": [{"id": "1", "text": "你好"}]}).status_code == 200


def test_concurrent_requests_return_exactly_the_sequential_responses(client):
    bodies = [
        {"items": [{"id": str(i), "text": f"顶流小A机场私服{i}"}, {"id": "x", "text": f"你这个傻逼{i % 7}"}]}
        for i in range(48)
    ]
    sequential = [post(client, b).json() for b in bodies]
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(lambda b: post(client, b).json(), bodies))
    assert concurrent == sequential


def test_operating_point_is_chosen_per_request(client, predictor, demo_bundle):
    texts = ["顶流小A机场私服又火了", "你这个傻逼滚出去", "家里有矿晒豪车名表"]
    items = [{"id": str(i), "text": t} for i, t in enumerate(texts)]
    assert post(client, {"items": items}).json()["profile"] == "balanced"
    for profile in ("review", "auto"):
        body = post(client, {"items": items, "profile": profile}).json()
        assert body["profile"] == profile
        expected = predictor.predict(texts, profile)
        assert [[f["category"] for f in i["flagged"]] for i in body["items"]] == [
            [f.category for f in p.flagged] for p in expected
        ]
    r = post(client, {"items": items, "profile": "strict"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    assert "review" in json.dumps(r.json()["error"]["details"])  # the error lists the model's profiles


def test_taxonomy_lists_every_operating_point(client, demo_bundle):
    body = client.get("/v1/taxonomy").json()
    clf = demo_bundle.classifier
    assert body["default_profile"] == "balanced" and body["profiles"] == ["balanced", "review", "auto"]
    hype = body["categories"][0]["operating_points"]
    assert hype["review"]["threshold"] == pytest.approx(float(clf.profiles_["review"][0]))
    untrained = {c["key"]: c for c in body["categories"]}["wealth_flaunting"]["operating_points"]
    assert all(p == {"threshold": None, "reached": False} for p in untrained.values())


def rerank_post(client, body):
    return client.post(
        "/v1/trending/rerank",
        content=json.dumps(body, ensure_ascii=False).encode(),
        headers={"content-type": "application/json"},
    )


def test_rerank_returns_the_policy_order_and_matches_the_in_process_reranker(client, predictor):
    from qinglang.trending.rerank import DEFAULT_POLICY, Entry, Reranker, decision_records

    entries = [
        {"id": "a", "title": "顶流小A机场私服又火了", "rank": 1, "heat": 90.5},
        {"id": "b", "title": "明天全国大部分地区有雨", "rank": 2},
        {"id": "c", "title": "这个星座下周有大财运", "rank": 3},
    ]
    r = rerank_post(client, {"entries": entries})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = decision_records(
        Reranker.from_file(DEFAULT_POLICY, predictor.bundle).rerank(
            [Entry(e["id"], e["title"], e["rank"], e.get("heat")) for e in entries]
        )
    )
    assert body["entries"] == expected
    assert body["policy"]["name"] == "trending-default" and body["model"] == {"name": "qinglang", "version": "3"}
    assert sum(body["actions"].values()) == 3 and set(body["actions"]) == {"keep", "demote", "review", "remove"}
    assert rerank_post(client, {"entries": entries[::-1]}).json() == body  # input order does not matter


@pytest.mark.parametrize(
    "entries, status, code",
    [
        ([{"id": "a", "title": "x", "rank": 1}, {"id": "a", "title": "y", "rank": 2}], 409, "duplicate_ids"),
        ([{"id": str(i), "title": "x", "rank": i + 1} for i in range(6)], 422, "too_many_items"),
        ([{"id": "a", "title": "长" * 51, "rank": 1}], 422, "text_too_long"),
        ([{"id": "a", "title": "x", "rank": 0}], 422, "invalid_request"),
        ([{"id": "a", "title": "x"}], 422, "invalid_request"),
        ([], 422, "invalid_request"),
    ],
)
def test_rerank_refuses_bad_lists_with_a_json_error(client, entries, status, code):
    r = rerank_post(client, {"entries": entries})
    assert r.status_code == status and r.json()["error"]["code"] == code


def test_a_bad_policy_stops_the_app_before_it_serves(predictor, tmp_path):
    from qinglang.trending.rerank import PolicyError

    bad = tmp_path / "policy.yaml"
    bad.write_text("name: x\nrules: [{name: a, action: remove, when: {categories: [celeb], profile: auto}}]\n", "utf-8")
    with pytest.raises(
        PolicyError, match=r"policy .*policy.yaml: field `rules\[0\].when.categories\[0\]`: unknown category 'celeb'"
    ):
        create_app(predictor, HttpSettings(rerank_policy=str(bad)))


@pytest.mark.parametrize(
    "entry, status, code",
    [
        (
            {"id": "x" * 300, "title": "t", "rank": 1},
            422,
            "invalid_request",
        ),  # an over-long id is not an over-long text
        ({"id": "a", "title": "   ", "rank": 1}, 422, "invalid_request"),
        ({"id": "a", "title": "t", "rank": 1, "heat": float("inf")}, 422, "invalid_request"),
    ],
)
def test_rerank_fields_are_checked_like_the_command_line(client, entry, status, code):
    r = client.post(
        "/v1/trending/rerank",
        content=json.dumps({"entries": [entry]}).encode(),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == status and r.json()["error"]["code"] == code


def test_an_error_inside_rerank_is_a_500_not_a_duplicate_id(predictor, monkeypatch):
    from qinglang.trending.rerank import Reranker

    client = TestClient(create_app(predictor, LIMITS), raise_server_exceptions=False)
    monkeypatch.setattr(Reranker, "rerank", lambda self, entries, proba=None: (_ for _ in ()).throw(ValueError("boom")))
    r = rerank_post(client, {"entries": [{"id": "a", "title": "x", "rank": 1}]})
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"


def test_each_item_is_scored_as_its_kind(client, predictor):
    text = "某顶流明星机场私服曝光"
    body = post(
        client,
        {
            "items": [
                {"id": "t", "text": text},
                {"id": "c", "text": text, "kind": "comment"},
                {"id": "p", "text": text, "kind": "post"},
            ]
        },
    ).json()
    by_id = {item["id"]: item for item in body["items"]}
    assert by_id["t"]["kind"] == predictor.default_kind == "title"
    assert (
        by_id["c"]["kind"] == "comment" and by_id["c"]["scores"]["celebrity_hype"] is None
    )  # hype is not for comments
    assert by_id["t"]["scores"]["celebrity_hype"] is not None and by_id["p"]["scores"]["celebrity_hype"] is not None
    assert "celebrity_hype" not in {f["category"] for f in by_id["c"]["flagged"]}
    for kind, item in (("title", by_id["t"]), ("comment", by_id["c"])):
        expected = predictor.predict([text], kind=kind)[0]
        assert item["scores"] == expected.scores


def test_an_unknown_kind_is_a_422_naming_the_field(client):
    response = post(client, {"items": [{"id": "1", "text": "你好", "kind": "tweet"}]})
    assert response.status_code == 422
    assert "kind" in json.dumps(response.json()["error"]["details"])


def test_taxonomy_says_which_kinds_each_category_applies_to(client):
    body = client.get("/v1/taxonomy").json()
    assert body["default_kind"] == "title" and body["kinds"] == ["title", "post", "comment"]
    hype = next(c for c in body["categories"] if c["key"] == "celebrity_hype")
    assert hype["kinds"] == ["title", "post"]
    assert all(p["threshold"] is None for p in hype["operating_points_by_kind"]["comment"].values())


BLANKISH = [" ", "\t", "\n", "\u00a0", "\u3000", "\u0085", "\u2003", "\u2028", "\u200b", "\u001c", "\ufeff", "\u0000"]


@pytest.mark.parametrize("title", [*BLANKISH, *(c * 3 for c in BLANKISH), " x", "\u0085热搜", "热搜"])
def test_the_schemas_title_pattern_is_the_rule_the_server_applies(client, title):
    """What the OpenAPI document promises about a title (its `pattern`, read as JSON Schema
    tools read it) is exactly what the server accepts, for every kind of blank character."""
    import jsonschema_rs

    doc = client.get("/openapi.json").json()
    title_schema = doc["components"]["schemas"]["TrendingEntry"]["properties"]["title"]
    promised = jsonschema_rs.validator_for(title_schema).is_valid(title)
    assert promised == bool(re.search(title_schema["pattern"], title))
    r = rerank_post(client, {"entries": [{"id": "a", "title": title, "rank": 1}]})
    assert r.status_code == (200 if promised else 422), (repr(title), r.text)
