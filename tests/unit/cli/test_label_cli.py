"""`qinglang label ...` from the command line: the loop select → answers → agree → export
on a real (demo-trained) model, and a clear one-line error for each kind of bad input."""

from __future__ import annotations

import json
from importlib import resources

import pandas as pd
import pytest
from typer.testing import CliRunner

from qinglang.cli.app import app
from qinglang.data.loaders.tabular import read_labeled_file
from qinglang.labeling.store import Answer, LabelStore

POOL = [
    "明星甲官宣恋情",
    "明星乙机场私服曝光",
    "为什么猫咪喜欢纸箱",
    "今日星座运势大揭秘",
    "某地暴雨红色预警",
    "网友晒出天价包包",
    "国产大飞机首飞成功",
    "塔罗牌告诉你下周运势",
    "高考成绩今日公布",
    "某综艺嘉宾吵架上热搜",
]


def run(*args: str):
    return CliRunner().invoke(app, ["label", *args])


@pytest.fixture()
def model_dir(tmp_path, demo_bundle):
    demo_bundle.save(tmp_path / "model")
    return tmp_path / "model"


@pytest.fixture()
def pool(tmp_path):
    path = tmp_path / "pool.csv"
    pd.DataFrame({"text": POOL}).to_csv(path, index=False)
    return path


def test_select_agree_export_round_trip(tmp_path, model_dir, pool, taxonomy, monkeypatch):
    monkeypatch.delenv("QINGLANG_DATA_DIR", raising=False)
    batch = tmp_path / "batch.csv"
    out = run(
        "select",
        "--pool",
        str(pool),
        "--model",
        str(model_dir),
        "--n",
        "6",
        "--out",
        str(batch),
        "--strategy",
        "likely-positive",
        "--category",
        "celebrity_hype",
        "--random-share",
        "0.34",
    )
    assert out.exit_code == 0, out.output
    assert "6 rows" in out.output and "likely-positive 4, random 2" in out.output
    rows = pd.read_csv(batch)
    db = tmp_path / "labels.sqlite"
    store = LabelStore(db, taxonomy)
    store.add_batch(rows, "batch")
    for i, item in enumerate(rows["item_id"]):
        store.answer(Answer(item, "amy", ("celebrity_hype",) if i % 2 else ()))
        store.answer(Answer(item, "bob", ("celebrity_hype",) if i % 3 else ()))
    out = run("agree", "--db", str(db))
    assert out.exit_code == 0 and "celebrity_hype" in out.output and "disagreements on" in out.output
    export = tmp_path / "labels.csv"
    out = run("export", "--db", str(db), "--out", str(export), "--source", "reviewed")
    assert out.exit_code == 0, out.output
    frame, _ = read_labeled_file(export, taxonomy)
    assert len(frame) == 6 and frame["celebrity_hype"].notna().sum() == 3  # 3 disagreements left blank
    again = run(
        "select",
        "--pool",
        str(pool),
        "--model",
        str(model_dir),
        "--n",
        "10",
        "--out",
        str(batch),
        "--strategy",
        "random",
        "--db",
        str(db),
    )
    assert again.exit_code == 0
    assert not set(pd.read_csv(batch)["text"]) & set(rows["text"])  # labeled items are not selected again


def test_label_studio_export_and_import(tmp_path, pool, taxonomy):
    tasks = tmp_path / "tasks.json"
    assert run("ls-export", "--batch", str(pool), "--out", str(tasks)).exit_code == 0
    exported = json.loads(tasks.read_text("utf-8"))
    assert (tmp_path / "tasks.label_config.xml").is_file()
    for task in exported:
        task["annotations"] = [
            {
                "completed_by": 7,
                "result": [
                    {"from_name": "categories", "to_name": "text", "type": "choices", "value": {"choices": ["trivial"]}}
                ],
            }
        ]
    (tmp_path / "ls.json").write_text(json.dumps(exported, ensure_ascii=False), "utf-8")
    out = run("ls-import", "--file", str(tmp_path / "ls.json"), "--db", str(tmp_path / "l.sqlite"))
    assert out.exit_code == 0 and f"{len(POOL)} tasks" in out.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "likely-positive", "--category", "gossip"], "unknown category 'gossip'"),
        (["--strategy", "smart"], "unknown strategy"),
        (["--text-column", "title"], "no 'title' column"),
    ],
)
def test_select_bad_input_is_one_clear_line(tmp_path, model_dir, pool, args, message):
    out = run("select", "--pool", str(pool), "--model", str(model_dir), "--out", str(tmp_path / "b.csv"), *args)
    assert out.exit_code == 2 and message in out.output and "Traceback" not in out.output


def test_select_from_an_empty_pool_fails_cleanly(tmp_path, model_dir):
    empty = tmp_path / "empty.csv"
    empty.write_text("text\n", "utf-8")
    out = run("select", "--pool", str(empty), "--model", str(model_dir), "--out", str(tmp_path / "b.csv"))
    assert out.exit_code == 2 and "the pool has no texts" in out.output


def test_serve_a_batch_without_text_column_fails_before_serving(tmp_path):
    bad = tmp_path / "batch.csv"
    bad.write_text("title\n某标题\n", "utf-8")
    out = run("serve", "--batch", str(bad), "--db", str(tmp_path / "l.sqlite"))
    assert out.exit_code == 2 and "no 'text' column" in out.output


def test_a_database_of_another_taxonomy_version_is_refused(tmp_path, taxonomy):
    import yaml

    raw = yaml.safe_load(resources.files("qinglang.data").joinpath("taxonomy.yaml").read_text("utf-8"))
    raw["version"] = "2.0"
    other = tmp_path / "taxonomy.yaml"
    other.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    db = tmp_path / "l.sqlite"
    LabelStore(db, taxonomy)
    for command in (["agree", "--db", str(db)], ["export", "--db", str(db), "--out", str(tmp_path / "o.csv")]):
        out = run(*command, "--taxonomy", str(other))
        assert out.exit_code == 2 and "taxonomy version '1.1'" in out.output and "'2.0'" in out.output


def test_missing_database_is_a_clear_error(tmp_path):
    out = run("agree", "--db", str(tmp_path / "none.sqlite"))
    assert out.exit_code == 2 and "label database not found" in out.output


def test_issues_needs_exactly_one_data_source(tmp_path):
    out = run("issues", "--category", "trivial", "--out", str(tmp_path / "i.csv"))
    assert out.exit_code == 2 and "exactly one of --data FILE or --source NAME" in out.output


def test_issues_unknown_category(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("text,trivial\n" + "".join(f"文本{i},{i % 2}\n" for i in range(30)), "utf-8")
    out = run("issues", "--category", "gossip", "--data", str(data), "--out", str(tmp_path / "i.csv"))
    assert out.exit_code == 2 and "unknown category 'gossip'" in out.output
