"""The labeling page's JSON API: the labeling loop (next, answer, undo, progress), blind
double annotation, who may adjudicate, and bad input answered as a 4xx JSON error with a
message, never a 500. Runs the real ASGI app in process (Starlette's TestClient)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qinglang.labeling.store import LabelStore, LabelStoreError
from qinglang.labeling.web.app import LabelServerSettings, create_label_app

TITLES = ["某顶流明星机场私服曝光", "明天全国大部分地区有雨", "喝醋能治新冠，转发给家人", "为什么挠痒痒这么舒服"]
COMMENT = "你这个傻逼滚出去"


@pytest.fixture()
def db(tmp_path, taxonomy):
    """A database with batch b1 (four titles and a comment, ids i0..i4) and batch b2 (two titles)."""
    store = LabelStore(tmp_path / "labels.db", taxonomy)
    rows = [{"item_id": f"i{i}", "text": t, "kind": "title"} for i, t in enumerate(TITLES)]
    store.add_batch(pd.DataFrame([*rows, {"item_id": "i4", "text": COMMENT, "kind": "comment"}]), "b1")
    store.add_batch(pd.DataFrame({"item_id": ["j0", "j1"], "text": ["二批第一条", "二批第二条"]}), "b2")
    return store


def client_for(db: LabelStore, batch: str | None = "b1", **who) -> TestClient:
    app = create_label_app(LabelServerSettings(db=db.path, taxonomy=db.taxonomy, batch=batch, **who))
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture()
def client(db):
    return client_for(db)


def answer(client, item_id, labeler, labels=(), skipped=False):
    r = client.post(
        "/api/answer", json={"item_id": item_id, "labeler": labeler, "labels": list(labels), "skipped": skipped}
    )
    assert r.status_code == 200, r.text
    return r.json()


def error_of(response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    return body["error"]


# -- taxonomy, config, pages --------------------------------------------------------------
def test_taxonomy_lists_the_categories_in_order_with_shortcuts_and_one_line_definitions(client, taxonomy):
    body = client.get("/api/taxonomy").json()
    assert body["version"] == taxonomy.version
    assert [c["key"] for c in body["categories"]] == taxonomy.keys
    assert [c["shortcut"] for c in body["categories"]] == list("1234567890-=")
    assert [g["key"] for g in body["groups"]] == ["low-value", "harmful"]
    first = body["categories"][0]
    assert first["name_zh"] == "明星炒作" and first["group"] == "low-value"
    for cat in body["categories"]:
        full = taxonomy[cat["key"]].definition
        assert full.startswith(cat["definition"]) and ". " not in cat["definition"]


def test_config_says_who_labels_and_how_adjudication_works(db):
    assert client_for(db).get("/api/config").json() == {
        "labeler": None,
        "batch": "b1",
        "adjudication": "open",
        "taxonomy_version": db.taxonomy.version,
    }
    assert client_for(db, labeler=" alice ").get("/api/config").json()["labeler"] == "alice"
    assert client_for(db, labeler="alice").get("/api/config").json()["adjudication"] == "off"
    assert client_for(db, labeler="alice", adjudicator="carol").get("/api/config").json()["adjudication"] == "named"


def test_pages_and_their_static_files_are_served(client):
    for path in ("/", "/adjudicate"):
        r = client.get(path)
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]
        assert 'src="static/app.js"' in r.text and r.headers["cache-control"] == "no-store"
    assert "function" in client.get("/static/app.js").text
    assert client.get("/static/style.css").status_code == 200
    error_of(client.get("/static/nope.js"), 404)


# -- the labeling loop ----------------------------------------------------------------------
def test_next_answer_and_progress_walk_the_batch_in_order(client, db):
    view = client.get("/api/next", params={"labeler": "alice"}).json()
    assert view["item"]["item_id"] == "i0" and view["item"]["text"] == TITLES[0] and view["item"]["kind"] == "title"
    assert view["item"]["labels"] == [] and view["progress"] == {"done": 0, "total": 5}
    view = answer(client, "i0", "alice", ["online_violence", "celebrity_hype"])
    assert view["item"]["item_id"] == "i1" and view["progress"] == {"done": 1, "total": 5}
    view = answer(client, "i1", "alice", skipped=True)
    assert view["item"]["item_id"] == "i2"
    assert client.get("/api/progress", params={"labeler": "alice"}).json() == {"done": 2, "total": 5}
    stored = db.current_answers("alice").set_index("item_id")
    assert stored.loc["i0", "labels"] == ("celebrity_hype", "online_violence")  # taxonomy order
    assert stored.loc["i1", "skipped"] and stored.loc["i1", "labels"] == ()


def test_the_end_of_the_batch_is_a_null_item_with_full_progress(client):
    for item_id in ("i0", "i1", "i2", "i3", "i4"):
        view = answer(client, item_id, "alice")
    assert view["item"] is None and view["progress"] == {"done": 5, "total": 5}
    assert client.get("/api/next", params={"labeler": "alice"}).json()["item"] is None


def test_a_comment_offers_only_the_categories_that_apply_to_comments(client, taxonomy):
    for item_id in ("i0", "i1", "i2", "i3"):
        view = answer(client, item_id, "alice")
    assert view["item"]["item_id"] == "i4" and view["item"]["kind"] == "comment"
    assert "celebrity_hype" not in view["item"]["applies"] and "online_violence" in view["item"]["applies"]
    message = error_of(
        client.post("/api/answer", json={"item_id": "i4", "labeler": "alice", "labels": ["trivial"]}), 422
    )
    assert "trivial" in message and "comment" in message


def test_undo_brings_the_last_item_back_with_its_labels(client, db):
    answer(client, "i0", "alice", ["vulgar"])
    answer(client, "i1", "alice", ["trivial", "disinformation"])
    body = client.post("/api/undo", json={"labeler": "alice"}).json()
    assert body["undone"] == "i1" and not body["was_skipped"]
    assert body["item"]["item_id"] == "i1" and body["item"]["labels"] == ["trivial", "disinformation"]
    assert body["progress"] == {"done": 1, "total": 5}
    assert "i1" not in set(db.current_answers("alice")["item_id"])
    assert client.get("/api/next", params={"labeler": "alice"}).json()["item"]["item_id"] == "i1"
    answer(client, "i1", "alice", skipped=True)
    body = client.post("/api/undo", json={"labeler": "alice"}).json()
    assert body["undone"] == "i1" and body["was_skipped"] and body["item"]["labels"] == []


def test_undo_with_nothing_to_undo_says_so(client):
    body = client.post("/api/undo", json={"labeler": "alice"}).json()
    assert body["undone"] is None and body["item"]["item_id"] == "i0"


def test_undo_does_not_reach_into_another_batch(db):
    answer(client_for(db, batch="b2"), "j0", "alice")
    message = error_of(client_for(db, batch="b1").post("/api/undo", json={"labeler": "alice"}), 409)
    assert "b2" in message
    assert len(db.current_answers("alice")) == 1  # nothing was withdrawn
    assert client_for(db, batch=None).post("/api/undo", json={"labeler": "alice"}).json()["undone"] == "j0"


def test_a_server_without_a_batch_serves_every_item(db):
    client = client_for(db, batch=None)
    assert client.get("/api/progress", params={"labeler": "alice"}).json() == {"done": 0, "total": 7}
    assert answer(client, "j1", "alice")["progress"]["done"] == 1


# -- blindness ------------------------------------------------------------------------------
def test_one_labelers_answers_do_not_move_another_labelers_page(client):
    answer(client, "i0", "alice", ["celebrity_hype"])
    answer(client, "i1", "alice", ["disinformation"])
    view = client.get("/api/next", params={"labeler": "bob"}).json()
    assert view["item"]["item_id"] == "i0" and view["item"]["labels"] == []
    assert view["progress"] == {"done": 0, "total": 5}
    assert client.get("/api/progress", params={"labeler": "bob"}).json() == {"done": 0, "total": 5}


def test_a_labelers_responses_never_carry_another_labelers_answers(client):
    answer(client, "i0", "bob", ["superstition"])
    answer(client, "i1", "bob", ["wealth_flaunting"])
    seen = [
        client.get("/api/next", params={"labeler": "alice"}),
        client.post("/api/answer", json={"item_id": "i0", "labeler": "alice", "labels": ["trivial"]}),
        client.get("/api/progress", params={"labeler": "alice"}),
        client.post("/api/undo", json={"labeler": "alice"}),
        client.post("/api/answer", json={"item_id": "i0", "labeler": "alice", "labels": []}),
        client.post("/api/answer", json={"item_id": "i1", "labeler": "alice", "labels": []}),
        client.get("/api/config"),
    ]
    for r in seen:
        assert r.status_code == 200
        assert "bob" not in r.text
        assert not labels_in(r.json()) & {"superstition", "wealth_flaunting"}


def labels_in(body) -> set[str]:
    """Every category named under a `labels` key anywhere in a response."""
    if isinstance(body, list):
        return set().union(*map(labels_in, body)) if body else set()
    if not isinstance(body, dict):
        return set()
    found = set(body.get("labels") or [])
    return found.union(*(labels_in(v) for v in body.values()))


# -- fixed labeler, adjudication --------------------------------------------------------------
def test_a_fixed_labeler_server_refuses_other_names(db):
    client = client_for(db, labeler="alice")
    assert client.get("/api/next", params={"labeler": "alice"}).status_code == 200
    message = error_of(client.get("/api/next", params={"labeler": "bob"}), 403)
    assert "alice" in message and "bob" in message
    error_of(client.get("/api/progress", params={"labeler": "bob"}), 403)
    error_of(client.post("/api/answer", json={"item_id": "i0", "labeler": "bob", "labels": []}), 403)
    error_of(client.post("/api/undo", json={"labeler": "bob"}), 403)
    assert db.current_answers().empty


def test_a_fixed_labeler_server_without_an_adjudicator_does_not_adjudicate(db):
    client = client_for(db, labeler="alice")
    message = error_of(client.get("/api/disagreements", params={"adjudicator": "alice"}), 403)
    assert "--adjudicator" in message
    error_of(client.post("/api/adjudicate", json={"item_id": "i0", "labels": [], "adjudicator": "carol"}), 403)
    assert db.adjudications().empty


def test_disagreements_list_items_whose_labelers_differ_with_each_ones_labels(client, db):
    answer(client, "i0", "alice", ["celebrity_hype"])
    answer(client, "i0", "bob", ["celebrity_hype", "trivial"])
    answer(client, "i1", "alice", ["trivial"])  # agreed
    answer(client, "i1", "bob", ["trivial"])
    answer(client, "i2", "alice", ["disinformation"])  # bob skipped: no disagreement
    answer(client, "i2", "bob", skipped=True)
    answer(client, "i3", "alice", ["trivial"])  # one labeler only
    client_for(db, batch="b2").post("/api/answer", json={"item_id": "j0", "labeler": "alice", "labels": ["vulgar"]})
    client_for(db, batch="b2").post("/api/answer", json={"item_id": "j0", "labeler": "bob", "labels": []})
    items = client.get("/api/disagreements", params={"adjudicator": "carol"}).json()["items"]
    assert [i["item_id"] for i in items] == ["i0"]  # j0 is another batch's
    assert items[0]["text"] == TITLES[0] and items[0]["adjudication"] is None
    assert items[0]["answers"] == [
        {"labeler": "alice", "labels": ["celebrity_hype"]},
        {"labeler": "bob", "labels": ["celebrity_hype", "trivial"]},
    ]
    settled = client.post(
        "/api/adjudicate", json={"item_id": "i0", "labels": ["trivial", "celebrity_hype"], "adjudicator": "carol"}
    )
    assert settled.json() == {"item_id": "i0", "labels": ["celebrity_hype", "trivial"], "adjudicator": "carol"}
    items = client.get("/api/disagreements", params={"adjudicator": "carol"}).json()["items"]
    assert items[0]["adjudication"] == {"labels": ["celebrity_hype", "trivial"], "adjudicator": "carol"}
    assert db.adjudications().set_index("item_id").loc["i0", "labels"] == ("celebrity_hype", "trivial")


def test_a_named_adjudicator_is_the_only_one_who_may_adjudicate(db):
    client = client_for(db, labeler="alice", adjudicator="carol")
    assert client.get("/api/disagreements", params={"adjudicator": "carol"}).status_code == 200
    message = error_of(client.get("/api/disagreements", params={"adjudicator": "alice"}), 403)
    assert "alice" in message
    error_of(client.post("/api/adjudicate", json={"item_id": "i0", "labels": [], "adjudicator": "dave"}), 403)
    assert (
        client.post("/api/adjudicate", json={"item_id": "i0", "labels": [], "adjudicator": "carol"}).status_code == 200
    )
    assert db.adjudications()["adjudicator"].tolist() == ["carol"]


# -- bad input --------------------------------------------------------------------------------
HUGE = "长" * 100_000
LONG = "长" * 1_000  # a URL has room for less
JSON_TYPE = {"content-type": "application/json"}
BAD_ANSWERS = [
    ({"item_id": "i0", "labeler": "alice", "labels": ["not_a_category"]}, 422, "not_a_category"),
    ({"item_id": "nope", "labeler": "alice", "labels": []}, 404, "nope"),
    ({"item_id": "j0", "labeler": "alice", "labels": []}, 404, "not in batch"),
    ({"item_id": "i0", "labeler": "", "labels": []}, 422, "labeler"),
    ({"item_id": "i0", "labeler": "   ", "labels": []}, 422, "labeler"),
    ({"item_id": "i0", "labeler": "a\nb", "labels": []}, 422, "one line"),
    ({"item_id": "i0", "labeler": "\ud800", "labels": []}, 422, "labeler"),
    ({"item_id": "i0", "labeler": HUGE, "labels": []}, 422, "labeler"),
    ({"item_id": HUGE, "labeler": "alice", "labels": []}, 422, "item_id"),
    ({"item_id": "i0", "labeler": "alice", "labels": [HUGE]}, 422, "labels"),
    ({"item_id": "i0", "labeler": "alice", "labels": ["vulgar"] * 13}, 422, "at most 12"),
    ({"item_id": "i0", "labeler": "alice", "labels": ["vulgar"], "skipped": True}, 422, "skipped"),
    ({"item_id": "i0", "labeler": "alice", "labels": "vulgar"}, 422, "labels"),
    ({"item_id": 5, "labeler": "alice"}, 422, "item_id"),
    ({"labeler": "alice"}, 422, "item_id"),
    ({"item_id": "i0", "labeler": "alice", "label": ["vulgar"]}, 422, "label"),
    ([1, 2], 422, "body"),
]


@pytest.mark.parametrize("body, status, mentions", BAD_ANSWERS)
def test_a_bad_answer_is_a_4xx_with_a_message_and_stores_nothing(client, db, body, status, mentions):
    message = error_of(
        client.post("/api/answer", content=json.dumps(body).encode(), headers=JSON_TYPE), status
    )  # escapes \ud800
    assert mentions in message
    assert db.current_answers().empty


@pytest.mark.parametrize(
    "path, params, status",
    [
        ("/api/next", {}, 422),
        ("/api/next", {"labeler": ""}, 422),
        ("/api/next", {"labeler": " "}, 400),
        ("/api/next", {"labeler": LONG}, 422),
        ("/api/progress", {"labeler": "a\tb"}, 422),
        ("/api/disagreements", {}, 422),
        ("/api/disagreements", {"adjudicator": LONG}, 422),
    ],
)
def test_bad_queries_are_4xx_with_a_message(client, path, params, status):
    error_of(client.get(path, params=params), status)


@pytest.mark.parametrize(
    "content",
    [b"", b"{", b"\xff\xfe", b'"just a string"', b"null"],
)
def test_unreadable_bodies_are_4xx(client, content):
    r = client.post("/api/answer", content=content, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500 and isinstance(r.json()["error"], str)


def test_bad_adjudications_are_4xx_with_a_message(client, db):
    assert "bogus" in error_of(
        client.post("/api/adjudicate", json={"item_id": "i0", "labels": ["bogus"], "adjudicator": "carol"}), 422
    )
    error_of(client.post("/api/adjudicate", json={"item_id": "zz", "labels": [], "adjudicator": "carol"}), 404)
    error_of(client.post("/api/adjudicate", json={"item_id": "i0", "labels": [], "adjudicator": ""}), 422)
    error_of(client.post("/api/adjudicate", json={"item_id": "i4", "labels": ["trivial"], "adjudicator": "c"}), 422)
    assert db.adjudications().empty


def test_a_body_not_sent_as_json_is_a_415_that_says_so(client):
    body = json.dumps({"item_id": "i0", "labeler": "alice", "labels": []}).encode()
    for headers in ({}, {"content-type": "application/x-www-form-urlencoded"}, {"content-type": "text/plain"}):
        assert "application/json" in error_of(client.post("/api/answer", content=body, headers=headers), 415)


def test_unknown_routes_and_methods_are_json_errors(client):
    error_of(client.get("/api/nothing"), 404)
    error_of(client.get("/api/answer"), 405)


def test_an_unexpected_failure_is_a_logged_json_500_and_the_server_keeps_serving(client, monkeypatch):
    state = client.app.state.labeling
    monkeypatch.setattr(state.store, "next_item", lambda *a, **k: 1 / 0)
    assert "internal error" in error_of(client.get("/api/next", params={"labeler": "alice"}), 500)
    assert client.get("/api/progress", params={"labeler": "alice"}).status_code == 200


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["item_id", "labeler", "labels", "skipped", "adjudicator"]), inner, max_size=5
        )
    ),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory, taxonomy):
    store = LabelStore(tmp_path_factory.mktemp("fuzz") / "labels.db", taxonomy)
    store.add_batch(pd.DataFrame({"item_id": ["i0", "i1"], "text": ["一", "二"], "kind": ["title", "comment"]}), "b")
    return TestClient(
        create_label_app(LabelServerSettings(db=store.path, taxonomy=taxonomy)), raise_server_exceptions=False
    )


@given(path=st.sampled_from(["/api/answer", "/api/undo", "/api/adjudicate"]), body=JSON)
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_body_makes_a_500(fuzz_client, path, body):
    r = fuzz_client.post(path, content=json.dumps(body).encode(), headers=JSON_TYPE)
    assert r.status_code < 500, r.text
    assert r.status_code == 200 or isinstance(r.json()["error"], str)


@given(path=st.sampled_from(["/api/next", "/api/progress", "/api/disagreements"]), name=st.text(max_size=80))
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_name_makes_a_500(fuzz_client, path, name):
    r = fuzz_client.get(path, params={"labeler": name, "adjudicator": name})
    assert r.status_code < 500, r.text


# -- building the app ---------------------------------------------------------------------------
def test_an_unusable_database_batch_or_name_fails_when_the_app_is_built(tmp_path, db, taxonomy):
    with pytest.raises(LabelStoreError, match="not found"):
        create_label_app(LabelServerSettings(db=tmp_path / "missing.db", taxonomy=taxonomy))
    with pytest.raises(LabelStoreError, match="no batch named 'b9'"):
        create_label_app(LabelServerSettings(db=db.path, taxonomy=taxonomy, batch="b9"))
    with pytest.raises(LabelStoreError, match="labeler name"):
        create_label_app(LabelServerSettings(db=db.path, taxonomy=taxonomy, labeler=""))
