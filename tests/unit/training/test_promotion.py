import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from qinglang.training.compare import ComparisonSettings, compare_scores
from qinglang.training.promotion import (
    PromotionPolicy,
    PromotionRefused,
    PromotionRequest,
    check_regressions,
    promote,
)

NAME = "qinglang"
CATS = ["a", "b"]
POLICY = PromotionPolicy(metric="average_precision", tolerance=0.01)


def _comparison(candidate_signal_b=2.0, untrained_b=False, n=600):
    """Champion (baseline) separates both categories well; the candidate's category b
    gets `candidate_signal_b` (lower = worse), or is not trained at all."""
    rng = np.random.default_rng(0)
    y = (rng.random((n, 2)) < 0.2).astype(float)
    labels = pd.DataFrame(y, columns=CATS)

    def model(signal_b, seed):
        z = np.array([2.0, signal_b]) * (2 * y - 1) + np.random.default_rng(seed).normal(size=y.shape)
        proba = 1 / (1 + np.exp(-z))
        return proba, (proba >= 0.5).astype(np.int8)

    cand_p, cand_f = model(candidate_signal_b, 2)
    if untrained_b:
        cand_p[:, 1], cand_f[:, 1] = np.nan, 0
    return compare_scores(labels, CATS, model(2.0, 1), (cand_p, cand_f), ComparisonSettings(n_boot=200))


@pytest.fixture()
def client(tracking):
    """A real registry with versions 1 and 2 of NAME, each from a run's logged artifact;
    version 2 holds @candidate."""
    client = MlflowClient(tracking_uri=tracking)
    client.create_registered_model(NAME)
    for i in (1, 2):
        run = client.create_run("0")
        client.log_text(run.info.run_id, f"model {i}", "model/README.txt")
        client.create_model_version(NAME, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    client.set_registered_model_alias(NAME, "candidate", "2")
    return client


def _alias(client, alias):
    return str(client.get_model_version_by_alias(NAME, alias).version)


def _tags(client, version):
    return client.get_model_version(NAME, version).tags


def test_first_promotion_needs_no_champion(client):
    result = promote(client, PromotionRequest(NAME, comparison=None, policy=POLICY, reason="first model", user="alice"))
    assert _alias(client, "champion") == "2" and result.previous_version is None
    assert "nothing to compare" in result.message
    tags = _tags(client, "2")
    assert tags["previous_champion_version"] == "none" and tags["promotion_regressions"] == "not checked"
    assert tags["promoted_by"] == "alice" and tags["promotion_forced"] == "false"


def test_accepted_promotion_moves_alias_and_records_who_when_why(client):
    client.set_registered_model_alias(NAME, "champion", "1")
    result = promote(
        client,
        PromotionRequest(
            NAME, comparison=_comparison(candidate_signal_b=2.5), policy=POLICY, reason="more labels for b"
        ),
    )
    assert _alias(client, "champion") == "2" and _alias(client, "candidate") == "2"
    assert (result.version, result.previous_version, result.forced, result.regressions) == ("2", "1", False, ())
    tags = _tags(client, "2")
    assert tags["promoted_by"] == result.promoted_by and tags["promoted_by"]
    assert datetime.fromisoformat(tags["promoted_at"]).tzinfo == UTC
    assert tags["promotion_reason"] == "more labels for b"
    assert tags["promoted_from_alias"] == "candidate"
    assert tags["previous_champion_version"] == "1"
    assert tags["promotion_forced"] == "false" and tags["promotion_regressions"] == "none"
    assert json.loads(tags["promotion_policy"])["tolerance"] == 0.01


def test_regression_beyond_tolerance_is_refused_and_recorded(client):
    client.set_registered_model_alias(NAME, "champion", "1")
    with pytest.raises(PromotionRefused, match="tolerance 0.01") as refused:
        promote(
            client,
            PromotionRequest(
                NAME, comparison=_comparison(candidate_signal_b=0.3), policy=POLICY, reason="try", user="bob"
            ),
        )
    assert [r.category for r in refused.value.regressions] == ["b"]
    assert "b: average_precision" in str(refused.value) and "whole interval" in str(refused.value)
    assert _alias(client, "champion") == "1"
    tags = _tags(client, "2")
    assert "promoted_by" not in tags
    assert datetime.fromisoformat(tags["last_promotion_refused_at"]).tzinfo == UTC
    assert tags["last_promotion_refused_reason"] == str(refused.value)


def test_forced_promotion_proceeds_and_says_so(client):
    client.set_registered_model_alias(NAME, "champion", "1")
    result = promote(
        client,
        PromotionRequest(
            NAME,
            comparison=_comparison(untrained_b=True),
            policy=POLICY,
            force=True,
            reason="b moves to rules",
            user="carol",
        ),
    )
    assert _alias(client, "champion") == "2" and result.forced and "forced" in result.message
    tags = _tags(client, "2")
    assert tags["promotion_forced"] == "true"
    [regression] = json.loads(tags["promotion_regressions"])
    assert regression["category"] == "b" and regression["candidate"] is None


def test_reason_and_comparison_are_required(client):
    with pytest.raises(ValueError, match="reason"):
        promote(client, PromotionRequest(NAME, comparison=None, policy=POLICY, reason="  "))
    client.set_registered_model_alias(NAME, "champion", "1")
    with pytest.raises(ValueError, match="compare"):
        promote(client, PromotionRequest(NAME, comparison=None, policy=POLICY, reason="no check"))
    assert _alias(client, "champion") == "1" and "promoted_by" not in _tags(client, "2")


def test_check_regressions_policy():
    untrained = _comparison(untrained_b=True)
    [regression] = check_regressions(untrained, POLICY)
    assert regression.category == "b" and np.isnan(regression.candidate) and "not trained" in regression.describe()

    worse = _comparison(candidate_signal_b=1.6)
    drop = -float(worse.set_index("category").loc["b", "delta_average_precision"])
    assert drop > 0.02  # a differs only by noise, well within that
    assert check_regressions(worse, PromotionPolicy(tolerance=drop + 1e-6)) == []
    assert [r.category for r in check_regressions(worse, PromotionPolicy(tolerance=drop - 1e-6))] == ["b"]
    assert check_regressions(worse, PromotionPolicy(tolerance=drop - 1e-6, categories=("a",))) == []
    with pytest.raises(ValueError, match="not in the comparison"):
        check_regressions(worse, PromotionPolicy(categories=("zz",)))
    with pytest.raises(ValueError, match="no 'auc'"):
        check_regressions(worse, PromotionPolicy(metric="auc"))
