"""Agreement, disagreements, the exported table (read back by the training loader with no
conversion) and Label Studio round trips."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from qinglang.data.errors import DataError
from qinglang.data.loaders.tabular import read_labeled_file
from qinglang.labeling.agree import agreement, disagreements, export_table
from qinglang.labeling.labelstudio import import_export, label_config, tasks_of, write_tasks
from qinglang.labeling.store import Answer, LabelStore, item_id_of

TEXTS = [
    "明星甲官宣恋情",
    "明星乙机场私服",
    "为什么猫咪喜欢纸箱",
    "今日星座运势",
    "某地暴雨红色预警",
    "网友晒出天价包包",
]
AMY = [("celebrity_hype",), ("celebrity_hype",), ("trivial",), ("superstition",), (), ("wealth_flaunting",)]
BOB = [("celebrity_hype",), (), ("trivial",), ("superstition", "trivial"), (), ("wealth_flaunting",)]


@pytest.fixture()
def store(tmp_path, taxonomy):
    s = LabelStore(tmp_path / "labels.sqlite", taxonomy)
    s.add_batch(pd.DataFrame({"text": TEXTS}), "b1")
    for text, a, b in zip(TEXTS, AMY, BOB, strict=True):
        s.answer(Answer(item_id_of(text), "amy", a))
        s.answer(Answer(item_id_of(text), "bob", b))
    return s


def test_kappa_is_scikit_learns_per_category(store):
    kappas = agreement(store).set_index("category")
    hype_a = [int("celebrity_hype" in a) for a in AMY]
    hype_b = [int("celebrity_hype" in b) for b in BOB]
    assert kappas.at["celebrity_hype", "kappa"] == pytest.approx(cohen_kappa_score(hype_a, hype_b))
    assert kappas.at["celebrity_hype", "items"] == 6 and kappas.at["celebrity_hype", "agreed"] == 5
    assert kappas.at["superstition", "kappa"] == pytest.approx(1.0)
    assert np.isnan(kappas.at["violence", "kappa"])  # never marked by either: undefined, not 1


def test_disagreements_name_the_item_category_and_labelers(store):
    found = disagreements(store)
    assert sorted(zip(found["text"], found["category"], found["marked_by"], strict=True)) == [
        ("今日星座运势", "trivial", "bob"),
        ("明星乙机场私服", "celebrity_hype", "amy"),
    ]
    assert not found["settled"].any()


def test_export_blanks_unsettled_disagreements_and_uses_adjudications(store, tmp_path, taxonomy):
    store.adjudicate(item_id_of("明星乙机场私服"), ["celebrity_hype"], "lead")
    table = export_table(store, source="reviewed").set_index("text")
    assert table.at["明星乙机场私服", "celebrity_hype"] == 1 and table.at["明星乙机场私服", "adjudicated"] == 1
    assert pd.isna(table.at["今日星座运势", "trivial"])  # unsettled: unknown, never negative
    assert table.at["今日星座运势", "superstition"] == 1 and table.at["今日星座运势", "violence"] == 0
    assert table.at["网友晒出天价包包", "wealth_flaunting"] == 1
    assert (table["labelers"] == 2).all()
    path = tmp_path / "export.csv"
    table.reset_index().to_csv(path, index=False)
    frame, dropped = read_labeled_file(path, taxonomy)  # what `qinglang train` reads via data.files
    assert len(frame) == len(TEXTS) and not dropped
    assert frame["source"].unique().tolist() == ["reviewed"]
    assert int(frame["wealth_flaunting"].sum()) == 1


def test_skipped_items_are_not_exported(tmp_path, taxonomy):
    store = LabelStore(tmp_path / "l.sqlite", taxonomy)
    store.add_batch(pd.DataFrame({"text": ["甲", "乙"]}), "b")
    store.answer(Answer(item_id_of("甲"), "amy", skipped=True))
    store.answer(Answer(item_id_of("乙"), "amy", ()))
    assert export_table(store)["text"].tolist() == ["乙"]


def test_label_studio_tasks_and_interface(taxonomy, tmp_path):
    batch = pd.DataFrame({"text": TEXTS[:2], "item_id": ["x1", "x2"], "kind": ["title", "post"]})
    tasks = tasks_of(batch, taxonomy)
    assert tasks[1]["data"] == {"text": TEXTS[1], "item_id": "x2", "kind": "post", "taxonomy_version": "1.1"}
    xml = label_config(taxonomy)
    assert xml.count("<Choice ") == len(taxonomy.keys) and 'choice="multiple"' in xml and "明星炒作" in xml
    out, config = write_tasks(batch, taxonomy, tmp_path / "tasks.json")
    assert json.loads(out.read_text("utf-8")) == tasks and config.read_text("utf-8") == xml


def _ls_export(tasks: list[dict], answers: dict[str, list]) -> list[dict]:
    """What Label Studio's JSON export looks like for these tasks and annotations."""
    out = []
    for i, task in enumerate(tasks):
        annotations = []
        for j, (who, choices, cancelled) in enumerate(answers.get(task["data"]["item_id"], [])):
            result = (
                []
                if choices is None
                else [{"from_name": "categories", "to_name": "text", "type": "choices", "value": {"choices": choices}}]
            )
            annotations.append({"id": 100 * i + j, "completed_by": who, "result": result, "was_cancelled": cancelled})
        out.append({"id": i + 1, "data": task["data"], "annotations": annotations})
    return out


def test_label_studio_export_imports_into_the_database(taxonomy, tmp_path):
    batch = pd.DataFrame({"text": TEXTS[:3], "item_id": ["x1", "x2", "x3"]})
    export = _ls_export(
        tasks_of(batch, taxonomy),
        {
            "x1": [(1, ["celebrity_hype"], False), ({"id": 2, "email": "bob@example.com"}, [], False)],
            "x2": [(1, None, True)],
            "x3": [(1, ["trivial"], False)],
        },
    )
    path = tmp_path / "ls.json"
    path.write_text(json.dumps(export, ensure_ascii=False), "utf-8")
    store = LabelStore(tmp_path / "l.sqlite", taxonomy)
    assert import_export(path, store, "ls") == {"tasks": 3, "new_items": 3, "answers": 4}
    answers = store.current_answers().set_index(["item_id", "labeler"])
    assert answers.at[("x1", "labelstudio:1"), "labels"] == ("celebrity_hype",)
    assert answers.at[("x1", "labelstudio:bob@example.com"), "labels"] == ()
    assert answers.at[("x2", "labelstudio:1"), "skipped"]
    assert export_table(store).set_index("id").at["x3", "trivial"] == 1


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e[0]["annotations"][0]["result"][0]["value"].update(choices=["gossip"]), "unknown categories"),
        (lambda e: e[0]["data"].update(text=""), "task 1: no text"),
        (lambda e: e[0]["data"].update(taxonomy_version="0.9"), "taxonomy version '0.9'"),
        (lambda e: e.__setitem__(0, "not a task"), "not a Label Studio task"),
    ],
)
def test_bad_label_studio_exports_are_clear_errors(taxonomy, tmp_path, mutate, message):
    export = _ls_export(
        tasks_of(pd.DataFrame({"text": ["甲"], "item_id": ["x1"]}), taxonomy), {"x1": [(1, ["trivial"], False)]}
    )
    mutate(export)
    path = tmp_path / "ls.json"
    path.write_text(json.dumps(export, ensure_ascii=False), "utf-8")
    store = LabelStore(tmp_path / "l.sqlite", taxonomy)
    with pytest.raises(DataError, match=message):
        import_export(path, store, "ls")
    assert store.items().empty and store.current_answers().empty


def test_a_file_that_is_not_json_is_a_clear_error(taxonomy, tmp_path):
    path = tmp_path / "ls.json"
    path.write_text("{not json", "utf-8")
    with pytest.raises(DataError, match="cannot read a Label Studio JSON export"):
        import_export(path, LabelStore(tmp_path / "l.sqlite", taxonomy), "ls")
