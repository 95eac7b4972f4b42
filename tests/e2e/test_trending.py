"""train → register → audit real day files, re-rank a real day's list from the command line
and over HTTP with a policy file, through the registry alias."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request

import pandas as pd
import pytest

from qinglang.data.loaders.archive import band_rank

pytestmark = [pytest.mark.corpora, pytest.mark.slow]

MODEL = "models:/qinglang@candidate"
POLICY = """
version: 1
name: e2e
rules:
  - {name: review-harmful, action: review, when: {groups: [harmful], profile: balanced}}
  - {name: demote-trivial, action: demote, when: {categories: [trivial], profile: balanced}}
caps:
  - {name: hype-cap, categories: [celebrity_hype], profile: balanced, top: 10, max: 2}
demote_by: null
"""


@pytest.fixture(scope="module")
def env(trained):
    result, uri, work = trained
    return {**os.environ, "MLFLOW_TRACKING_URI": uri}, work


@pytest.fixture(scope="module")
def day_list(tmp_path_factory, data_dir):
    """The first 50 distinct titles of a real archive day, as a re-rank input file."""
    records = json.loads((data_dir / "weibo_trending" / "raw" / "2024-08-01.json").read_text("utf-8"))
    entries, seen = [], set()
    for i, rec in enumerate(records, start=1):
        if rec["title"] not in seen:
            seen.add(rec["title"])
            entries.append({"id": f"t{i}", "title": rec["title"], "rank": band_rank(rec["url"]) or i})
    path = tmp_path_factory.mktemp("list") / "list.json"
    path.write_text(json.dumps(entries[:50], ensure_ascii=False), "utf-8")
    return path


def test_audit_of_real_days_with_the_registered_model(env, cli, data_dir, tmp_path):
    env, work = env
    archive = tmp_path / "raw"
    archive.mkdir()
    for day in ("2024-07-30", "2024-07-31", "2024-08-01"):
        shutil.copy(data_dir / "weibo_trending" / "raw" / f"{day}.json", archive)
    (archive / "2024-08-02.json").write_text("not json", "utf-8")
    out = tmp_path / "audit"
    proc = subprocess.run(
        cli(
            "audit",
            "--archive",
            str(archive),
            "--model",
            MODEL,
            "--out",
            str(out),
            "--data-dir",
            str(data_dir),
            "--n-boot",
            "50",
        ),
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "audited 3 days" in proc.stdout and "1 day file(s) skipped" in proc.stdout
    assert "celebrity_hype    labeled  25.5%" in proc.stdout  # the dev split's uniform rows, from the file
    days = pd.read_parquet(out / "days.parquet")
    assert set(days["scope"]) == {"all", "top10", "top50"} and days["day"].nunique() == 3
    report = (out / "report.md").read_text("utf-8")
    assert "## Checked against people's labels" in report and "2024-08-02.json" in report
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["unit"] == "slots" and summary["estimator"] == "pcc"  # the default unit and estimator
    assert "Unit: **slots**" in report and "Share estimator: **pcc**" in report
    check = pd.read_csv(out / "label_check.csv").set_index("category")
    for name in ("cc", "pcc", "acc", "pacc", "emq", "hdy"):  # quantifiers fitted on the model's title validation
        assert 0 <= check.at["celebrity_hype", name] <= 1

    titles = tmp_path / "audit-titles"
    proc = subprocess.run(
        cli("audit", "--archive", str(archive), "--model", MODEL, "--out", str(titles), "--unit", "titles",
            "--estimator", "mean_probability", "--n-boot", "0"),
        capture_output=True, text=True, env=env, cwd=work, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    by_title = pd.read_parquet(titles / "days.parquet")
    assert (by_title["titles"] <= by_title["entries"]).all()
    month = pd.read_csv(titles / "months.csv").query("scope == 'all' and month == '2024-07'")
    assert (month["titles"] < month["entries"]).all()  # a title on the list on both July days counts once
    assert json.loads((titles / "summary.json").read_text("utf-8"))["unit"] == "titles"


def test_rerank_from_the_command_line_is_deterministic_and_matches_http(env, cli, day_list, port, running, tmp_path):
    env, work = env
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY, "utf-8")
    outputs = []
    for name in ("a.json", "b.json"):
        proc = subprocess.run(
            cli(
                "rerank",
                "--model",
                MODEL,
                "--policy",
                str(policy),
                "--input",
                str(day_list),
                "--output",
                str(tmp_path / name),
            ),
            capture_output=True,
            text=True,
            env=env,
            cwd=work,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        outputs.append((tmp_path / name).read_bytes())
    assert outputs[0] == outputs[1]
    decided = json.loads(outputs[0])
    assert decided["policy"]["name"] == "e2e" and len(decided["entries"]) == 50
    shown = [e for e in decided["entries"] if e["position"] is not None]
    assert [e["position"] for e in shown] == list(range(1, len(shown) + 1))
    top10 = [e for e in shown if e["position"] <= 10]
    assert (
        sum(any(r["category"] == "celebrity_hype" for r in e["reasons"]) and e["action"] != "demote" for e in top10)
        <= 2
    )

    url = f"http://127.0.0.1:{port}"
    with running(
        cli("serve", "--model", MODEL, "--port", str(port), "--policy", str(policy)),
        f"{url}/readyz",
        tmp_path / "serve.log",
        env=env,
        cwd=work,
    ):
        body = json.dumps({"entries": json.loads(day_list.read_text("utf-8"))}, ensure_ascii=False).encode()
        request = urllib.request.Request(
            f"{url}/v1/trending/rerank", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            served = json.loads(response.read())
    assert served["entries"] == decided["entries"]
    assert served["policy"]["sha256"] == decided["policy"]["sha256"]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_refuses_an_invalid_policy_before_binding(env, cli, port, tmp_path, workers):
    env, work = env
    policy = tmp_path / "bad.yaml"
    policy.write_text(
        "name: bad\ncaps: [{name: c, categories: [celebrity_hype], profile: balanced, top: 10}]\n", "utf-8"
    )
    proc = subprocess.run(
        cli("serve", "--model", MODEL, "--port", str(port), "--policy", str(policy), "--workers", workers),
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
        timeout=300,
    )
    assert proc.returncode == 2 and "field `caps[0].max`" in proc.stderr
