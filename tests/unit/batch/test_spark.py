"""Spark scoring's request: the pyfunc params it sends (the e2e test runs Spark itself)."""

import pytest

from qinglang.batch.spark import SparkScoreRequest, _udf_params


def test_profile_and_kind_travel_as_pyfunc_params_and_a_bad_kind_fails_first():
    assert _udf_params(SparkScoreRequest("m", "in", "out")) is None
    assert _udf_params(SparkScoreRequest("m", "in", "out", profile="auto", kind="comment")) == {
        "profile": "auto",
        "kind": "comment",
    }
    with pytest.raises(ValueError, match="unknown text kind 'tweet'"):
        _udf_params(SparkScoreRequest("m", "in", "out", kind="tweet"))
