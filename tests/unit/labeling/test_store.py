"""The label database: answers saved at once, undo, resume, blind double annotation,
adjudication, and clear errors for bad batches and another taxonomy version."""

from __future__ import annotations

import dataclasses
import sqlite3

import pandas as pd
import pytest

from qinglang.labeling.store import Answer, LabelStore, LabelStoreError, item_id_of

TEXTS = ["某明星官宣恋情", "今天北京下雪了", "星座运势决定你的命运", "为什么猫咪喜欢纸箱"]


@pytest.fixture()
def store(tmp_path, taxonomy):
    s = LabelStore(tmp_path / "labels.sqlite", taxonomy)
    s.add_batch(pd.DataFrame({"text": TEXTS}), "b1")
    return s


def test_items_keep_batch_order_and_stable_ids(store):
    items = store.items()
    assert items["text"].tolist() == TEXTS
    assert items["item_id"].tolist() == [item_id_of(t) for t in TEXTS]
    assert store.add_batch(pd.DataFrame({"text": TEXTS[:2] + ["新的一条"]}), "b2") == 1  # known items stay


def test_answer_is_committed_at_once_and_visible_to_a_new_connection(store, taxonomy):
    first = store.next_item("amy")
    store.answer(Answer(first["item_id"], "amy", ("celebrity_hype",)))
    with sqlite3.connect(store.path) as db:  # another process's view of the file
        assert db.execute("SELECT labels FROM answers").fetchall() == [('["celebrity_hype"]',)]
    reopened = LabelStore(store.path, taxonomy, create=False)
    assert reopened.next_item("amy")["text"] == TEXTS[1]
    assert reopened.progress("amy") == {"done": 1, "total": 4}


def test_undo_brings_the_item_back_and_keeps_the_history(store):
    first = store.next_item("amy")
    store.answer(Answer(first["item_id"], "amy", ("trivial",)))
    store.answer(Answer(store.next_item("amy")["item_id"], "amy", skipped=True))
    assert store.undo("amy") == item_id_of(TEXTS[1])
    assert store.next_item("amy")["text"] == TEXTS[1]
    assert store.undo("amy") == first["item_id"]
    assert store.undo("amy") is None
    assert store.current_answers().empty
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT COUNT(*), SUM(undone) FROM answers").fetchone() == (2, 2)


def test_labels_are_stored_in_taxonomy_order_without_repeats(store, taxonomy):
    item = store.next_item("amy")["item_id"]
    store.answer(Answer(item, "amy", ("trivial", "celebrity_hype", "trivial")))
    assert store.current_answers()["labels"].tolist() == [("celebrity_hype", "trivial")]


def test_two_labelers_do_not_see_each_other(store):
    item = store.next_item("amy")["item_id"]
    store.answer(Answer(item, "amy", ("celebrity_hype",)))
    assert store.next_item("bob")["item_id"] == item  # bob still gets the first item
    assert store.progress("bob") == {"done": 0, "total": 4}
    assert store.current_answers("bob").empty
    store.answer(Answer(item, "bob", ()))
    assert sorted(store.current_answers()["labeler"]) == ["amy", "bob"]
    assert store.labelers() == ["amy", "bob"]


def test_adjudication_keeps_the_latest(store):
    item = store.next_item("amy")["item_id"]
    store.adjudicate(item, ["trivial"], "lead")
    store.adjudicate(item, ["celebrity_hype"], "lead")
    adj = store.adjudications()
    assert adj["labels"].tolist() == [("celebrity_hype",)] and adj["adjudicator"].tolist() == ["lead"]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (Answer("nope", "amy", ()), "unknown item"),
        (Answer(item_id_of(TEXTS[0]), "amy", ("celebrity-hype",)), "unknown categories"),
        (Answer(item_id_of(TEXTS[0]), "", ()), "labeler name"),
        (Answer(item_id_of(TEXTS[0]), "a\nb", ()), "labeler name"),
    ],
)
def test_bad_answers_are_refused_with_a_reason(store, answer, message):
    with pytest.raises(LabelStoreError, match=message):
        store.answer(answer)
    assert store.current_answers().empty


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        (pd.DataFrame({"title": ["x"]}), "no 'text' column"),
        (pd.DataFrame({"text": ["ok", " "]}), "row 3: empty or missing text"),
        (pd.DataFrame({"text": ["a", "b"], "item_id": ["1", "1"]}), "names two different texts"),
        (pd.DataFrame({"text": ["a"], "kind": ["tweet"]}), "unknown text kind"),
        (pd.DataFrame({"text": []}), "no rows"),
    ],
)
def test_bad_batches_are_refused_with_a_reason(tmp_path, taxonomy, batch, message):
    store = LabelStore(tmp_path / "l.sqlite", taxonomy)
    with pytest.raises(LabelStoreError, match=message):
        store.add_batch(batch, "bad.csv")
    assert store.items().empty


def test_an_id_reused_for_another_text_is_refused(store):
    with pytest.raises(LabelStoreError, match="different text"):
        store.add_batch(pd.DataFrame({"item_id": [item_id_of(TEXTS[0])], "text": ["别的文本"]}), "b3")


def test_a_database_from_another_taxonomy_version_is_refused(store, taxonomy):
    other = dataclasses.replace(taxonomy, version="9.9")
    with pytest.raises(LabelStoreError, match="taxonomy version '1.1'.*this is version '9.9'"):
        LabelStore(store.path, other)
    fewer = dataclasses.replace(taxonomy, categories=taxonomy.categories[:-1])
    with pytest.raises(LabelStoreError, match="made with taxonomy"):
        LabelStore(store.path, fewer)


def test_missing_or_corrupt_database_is_a_clear_error(tmp_path, taxonomy):
    with pytest.raises(LabelStoreError, match="not found"):
        LabelStore(tmp_path / "missing.sqlite", taxonomy, create=False)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(LabelStoreError, match="not a label database"):
        LabelStore(junk, taxonomy)


def test_a_failed_batch_adds_nothing(store):
    bad = pd.DataFrame({"text": ["新的一条", "别的文本"], "item_id": ["n1", item_id_of(TEXTS[0])]})
    with pytest.raises(LabelStoreError, match="different text"):
        store.add_batch(bad, "b2")
    assert len(store.items()) == len(TEXTS)  # all or nothing: n1 was not added either


def test_a_label_must_apply_to_the_items_kind(tmp_path, taxonomy):
    store = LabelStore(tmp_path / "l.sqlite", taxonomy)
    store.add_batch(pd.DataFrame({"text": ["你真是个废物"], "kind": ["comment"]}), "c")
    item = store.next_item("amy")["item_id"]
    with pytest.raises(LabelStoreError, match="celebrity_hype does not apply to a comment"):
        store.answer(Answer(item, "amy", ("celebrity_hype",)))
    store.answer(Answer(item, "amy", ("online_violence",)))


def test_undo_can_be_limited_to_a_batch(store):
    store.add_batch(pd.DataFrame({"text": ["第二批的标题"]}), "b2")
    store.answer(Answer(item_id_of(TEXTS[0]), "amy", ()))
    store.answer(Answer(item_id_of("第二批的标题"), "amy", ()))
    assert store.undo("amy", batch="b1") == item_id_of(TEXTS[0])
    assert store.current_answers("amy")["item_id"].tolist() == [item_id_of("第二批的标题")]


def test_unknown_batch_and_unprintable_names_are_refused(store):
    with pytest.raises(LabelStoreError, match="no batch 'b9'.*batches: b1"):
        store.check_batch("b9")
    with pytest.raises(LabelStoreError, match="printable"):
        store.next_item("a\x00b")
