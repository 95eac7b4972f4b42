"""Re-rank policies: validation that names the field, each rule and cap, determinism."""

import json
import random
import re

import numpy as np
import pytest

from qinglang.data.errors import DataError
from qinglang.trending.rerank import DEFAULT_POLICY, Entry, PolicyError, Reranker, entries_from_records, parse_policy

POLICY = """
version: 1
name: test
rules:
  - {name: remove-porn, action: remove, when: {categories: [pornography], min_score: 0.9}}
  - {name: review-harmful, action: review, when: {groups: [harmful], min_score: 0.5}}
  - {name: demote-trivial, action: demote, when: {categories: [trivial], min_score: 0.5}}
caps:
  - {name: hype-cap, categories: [celebrity_hype], min_score: 0.5, top: 4, max: 1}
"""


def make(bundle, text: str = POLICY) -> Reranker:
    return Reranker(parse_policy(text), bundle)


def scores(bundle, rows: dict[str, dict[str, float]], ids: list[str]) -> np.ndarray:
    """Probabilities in input order: 0.01 everywhere except the given (category: score)."""
    proba = np.full((len(ids), len(bundle.categories)), 0.01)
    for i, ident in enumerate(ids):
        for key, value in rows.get(ident, {}).items():
            proba[i, bundle.categories.index(key)] = value
    return proba


def entries(n: int) -> list[Entry]:
    return [Entry(f"e{r:02d}", f"标题{r}", r) for r in range(1, n + 1)]


def test_the_shipped_policy_is_valid_for_a_trained_model(demo_bundle):
    reranker = Reranker.from_file(DEFAULT_POLICY, demo_bundle)
    assert reranker.policy.name == "trending-default" and len(reranker.digest) == 64


@pytest.mark.parametrize(
    "text, field",
    [
        (
            "name: x\nrules: [{name: a, action: delete, when: {categories: [trivial], min_score: 0.5}}]",
            "rules[0].action",
        ),
        ("name: x\nrules: [{name: a, action: remove, when: {categories: [trivial]}}]", "rules[0].when"),
        (
            "name: x\nrules: [{name: a, action: remove, when: {categories: [trivial], min_score: 1.5}}]",
            "rules[0].when.min_score",
        ),
        ("name: x\ncaps: [{name: c, categories: [trivial], min_score: 0.5, top: 0, max: 1}]", "caps[0].top"),
        ("name: x\nrule: []", "rule"),
        ("rules: []", "name"),
        ("name: x\nversion: 2", "version"),
        ("name: x\ndemote_by: 0", "demote_by"),
    ],
)
def test_an_invalid_policy_names_the_field(text, field):
    with pytest.raises(PolicyError, match=rf"^policy p\.yaml: field `{re.escape(field)}`"):
        parse_policy(text, "p.yaml")


@pytest.mark.parametrize(
    "text, field, word",
    [
        (
            "name: x\nrules: [{name: a, action: remove, when: {categories: [trivia], min_score: 0.5}}]",
            "rules[0].when.categories[0]",
            "trivia",
        ),
        (
            "name: x\nrules: [{name: a, action: remove, when: {groups: [evil], min_score: 0.5}}]",
            "rules[0].when.groups[0]",
            "evil",
        ),
        (
            "name: x\ncaps: [{name: c, categories: [trivial], profile: strict, top: 3, max: 1}]",
            "caps[0].profile",
            "strict",
        ),
    ],
)
def test_names_the_model_does_not_know_fail_at_load(demo_bundle, text, field, word):
    with pytest.raises(PolicyError, match=rf"^policy <policy>: field `{re.escape(field)}`: unknown .*'{word}'"):
        make(demo_bundle, text)


def test_unreadable_files_and_non_mappings_are_clear(tmp_path, demo_bundle):
    with pytest.raises(PolicyError, match="not valid YAML"):
        parse_policy("name: [unclosed", "p.yaml")
    with pytest.raises(PolicyError, match="expected a mapping"):
        parse_policy("- a\n- b", "p.yaml")
    with pytest.raises(PolicyError, match="cannot be read"):
        Reranker.from_file(tmp_path / "missing.yaml", demo_bundle)
    with pytest.raises(PolicyError, match="repeated: a"):
        parse_policy(
            "name: x\nrules:\n- {name: a, action: remove, when: {categories: [trivial], min_score: 0.5}}\n"
            "- {name: a, action: review, when: {categories: [trivial], min_score: 0.5}}"
        )


def test_rules_remove_review_and_demote_with_their_reasons(demo_bundle):
    reranker = make(demo_bundle, POLICY.replace("top: 4, max: 1", "top: 4, max: 4"))
    items = entries(6)
    ids = [e.id for e in items]
    proba = scores(
        demo_bundle, {"e01": {"trivial": 0.7}, "e02": {"pornography": 0.95}, "e03": {"online_violence": 0.6}}, ids
    )
    out = reranker.rerank(items, proba)
    assert [d.entry.id for d in out] == ["e03", "e04", "e05", "e06", "e01", "e02"]
    by_id = {d.entry.id: d for d in out}
    assert by_id["e02"].action == "remove" and by_id["e02"].position is None
    assert [(r.rule, r.category) for r in by_id["e02"].reasons][:1] == [("remove-porn", "pornography")]
    assert {r.rule for r in by_id["e02"].reasons} == {"remove-porn", "review-harmful"}  # every match is kept
    assert by_id["e03"].action == "review" and by_id["e03"].position == 1  # stays in place, marked
    assert by_id["e01"].action == "demote" and by_id["e01"].position == 5  # to the bottom
    assert by_id["e01"].reasons[0].score == pytest.approx(0.7)
    assert all(by_id[i].action == "keep" and not by_id[i].reasons for i in ("e04", "e05", "e06"))


def test_demote_by_moves_an_entry_that_many_places(demo_bundle):
    reranker = make(demo_bundle, POLICY + "demote_by: 2\n")
    items = entries(6)
    proba = scores(demo_bundle, {"e01": {"trivial": 0.7}}, [e.id for e in items])
    assert [d.entry.id for d in reranker.rerank(items, proba)] == ["e02", "e03", "e01", "e04", "e05", "e06"]


def test_review_entries_leave_the_list_when_the_policy_hides_them(demo_bundle):
    reranker = make(demo_bundle, POLICY + "show_review: false\n")
    items = entries(3)
    out = reranker.rerank(items, scores(demo_bundle, {"e01": {"online_violence": 0.6}}, [e.id for e in items]))
    assert [(d.entry.id, d.position) for d in out] == [("e02", 1), ("e03", 2), ("e01", None)]


def test_a_cap_keeps_at_most_max_matches_in_the_top_and_moves_the_rest_just_below(demo_bundle):
    reranker = make(demo_bundle)
    items = entries(8)
    hype = {f"e0{i}": {"celebrity_hype": 0.8} for i in (1, 2, 3, 5)}
    out = reranker.rerank(items, scores(demo_bundle, hype, [e.id for e in items]))
    order = [d.entry.id for d in out]
    assert order == ["e01", "e04", "e06", "e07", "e02", "e03", "e05", "e08"]
    top = {d.entry.id for d in out if d.position <= 4}
    assert len(top & set(hype)) == 1
    moved = [d for d in out if d.entry.id in ("e02", "e03", "e05")]
    assert all(d.action == "demote" and d.reasons[0].rule == "hype-cap" for d in moved)


def test_the_same_list_in_any_input_order_gives_the_same_result(demo_bundle):
    reranker = Reranker.from_file(DEFAULT_POLICY, demo_bundle)
    titles = [
        "顶流小A机场私服又火了",
        "明天全国大部分地区有雨",
        "这个星座下周有大财运",
        "男子为何总爱吃夜宵",
        "某地通报一起交通事故",
        "你这个傻逼滚出去",
        "小B新剧路透",
        "央行发布最新数据",
    ] * 3
    items = [Entry(f"id{i}", t, 1 + i // 2) for i, t in enumerate(titles)]  # tied ranks broken by id
    first = reranker.rerank(items)
    shuffled = items[:]
    random.Random(0).shuffle(shuffled)
    again = reranker.rerank(shuffled)
    assert [(d.entry.id, d.action, d.position, d.reasons) for d in first] == [
        (d.entry.id, d.action, d.position, d.reasons) for d in again
    ]


def test_repeated_ids_are_refused(demo_bundle):
    with pytest.raises(ValueError, match="repeated: a"):
        make(demo_bundle).rerank([Entry("a", "x", 1), Entry("a", "y", 2)])


def test_entries_from_records_names_the_row_and_field():
    assert entries_from_records({"entries": [{"id": 7, "title": "t", "rank": 2.0, "heat": 5}]}) == [
        Entry("7", "t", 2, 5.0)
    ]
    for record, word in (
        ({"id": "a", "title": "", "rank": 1}, "title"),
        ({"id": "a", "title": "t", "rank": 0}, "rank"),
        ({"id": "a", "title": "t", "rank": "1"}, "rank"),
        ({"id": "a", "title": "t", "rank": 1, "heat": "hot"}, "heat"),
        ({"id": "", "title": "t", "rank": 1}, "id"),
        ({"id": "a", "title": "t", "rank": 1, "url": "u"}, "url"),
    ):
        with pytest.raises(DataError, match=rf"row 2: .*{word}"):
            entries_from_records([{"id": "ok", "title": "t", "rank": 1}, record], "list.json")
    with pytest.raises(DataError, match="expected a list"):
        entries_from_records("nope", "list.json")


def test_cli_reads_a_table_and_names_bad_rows_and_policy_fields(demo_bundle, tmp_path):
    from typer.testing import CliRunner

    from qinglang.cli.app import app

    model = tmp_path / "model"
    demo_bundle.save(model)
    runner = CliRunner()
    table = tmp_path / "list.csv"
    table.write_text("id,title,rank,heat\n1,顶流小A机场私服又火了,2,\n2,明天全国大部分地区有雨,1,35.5\n", "utf-8")
    r = runner.invoke(
        app, ["rerank", "--model", str(model), "--input", str(table), "--output", str(tmp_path / "out.json")]
    )
    assert r.exit_code == 0, r.output
    out = json.loads((tmp_path / "out.json").read_text("utf-8"))
    assert {e["id"]: e["heat"] for e in out["entries"]} == {"1": None, "2": 35.5}
    assert out["policy"]["name"] == "trending-default"
    r = runner.invoke(app, ["rerank", "--model", str(model), "--input", str(table)])
    assert r.exit_code == 0 and "明天全国大部分地区有雨" in r.output

    table.write_text("id,title,rank\n1,a,1\n2,b,first\n", "utf-8")
    r = runner.invoke(app, ["rerank", "--model", str(model), "--input", str(table)])
    assert r.exit_code == 2 and "row 2" in r.output and "rank" in r.output
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "name: p\nrules: [{name: a, action: hide, when: {categories: [trivial], profile: auto}}]\n", "utf-8"
    )
    r = runner.invoke(app, ["rerank", "--model", str(model), "--input", str(table), "--policy", str(policy)])
    assert r.exit_code == 2 and "field `rules[0].action`" in r.output


def test_a_run_of_demoted_entries_moves_down_as_a_block(demo_bundle):
    reranker = make(demo_bundle, POLICY + "demote_by: 1\n")
    items = entries(5)
    proba = scores(demo_bundle, {"e01": {"trivial": 0.7}, "e02": {"trivial": 0.8}}, [e.id for e in items])
    out = reranker.rerank(items, proba)
    assert [d.entry.id for d in out] == ["e03", "e01", "e02", "e04", "e05"]
    assert all(d.position > 1 for d in out if d.action == "demote")


def test_every_cap_holds_when_several_apply(demo_bundle):
    policy = """
name: two-caps
caps:
  - {name: hype, categories: [celebrity_hype], min_score: 0.5, top: 3, max: 1}
  - {name: no-trivial-on-top, categories: [trivial], min_score: 0.5, top: 3, max: 0}
"""
    reranker = make(demo_bundle, policy)
    ids = ["triv", "c1", "k1", "c2", "c3", "k2"]
    items = [Entry(i, i, r) for r, i in enumerate(ids, start=1)]
    proba = scores(
        demo_bundle,
        {
            "triv": {"trivial": 0.9},
            "c1": {"celebrity_hype": 0.9},
            "c2": {"celebrity_hype": 0.9},
            "c3": {"celebrity_hype": 0.9},
        },
        ids,
    )
    out = reranker.rerank(items, proba)
    assert [d.entry.id for d in out] == ["c1", "k1", "k2", "triv", "c2", "c3"]
    assert [d.reasons[0].rule for d in out if d.action == "demote"] == ["no-trivial-on-top", "hype", "hype"]
