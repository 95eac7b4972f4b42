"""Out-of-core training end to end on real corpus slices: a labeled file streamed in
chunks, logged to MLflow with its fingerprint, loaded back as a pyfunc in a fresh process,
scoring like the bundle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qinglang.training.config import TrainConfig, load_config
from qinglang.training.train import train

pytestmark = [pytest.mark.corpora, pytest.mark.slow]


def test_streamed_training_logs_loads_and_scores(data_dir, tracking, tmp_path, trained):
    import mlflow

    fit = trained[0].dataset.table
    fit = fit[fit["split"] == "train"].sample(frac=1.0, random_state=0)
    keys = trained[0].bundle.categories
    big = tmp_path / "stream.parquet"
    pd.concat([fit] * 3)[["text", "source", *keys]].assign(split="train").to_parquet(
        big, index=False, row_group_size=2000
    )

    raw = load_config(None).model_dump(mode="json")
    cfg = TrainConfig.model_validate(
        {
            **{k: raw[k] for k in ("seed", "thresholds", "mlflow")},
            "data": {"max_rows_per_source": 300},
            "features": {"deobfuscate": True},
            "model": {"min_positives": 8},
            "streaming": {
                "files": [{"path": str(big), "source": "slices_x3"}],
                "chunk_rows": 1500,
                "n_features": 2**16,
                "epochs": 2,
            },
        }
    )
    result = train(cfg, data_dir, tmp_path / "out", register=False)

    run = mlflow.get_run(result.run_id)
    assert int(run.data.params["data.rows.stream:slices_x3"]) == 3 * len(fit)
    assert "stream:slices_x3" in (tmp_path / "out" / "data_fingerprint.json").read_text()
    assert result.bundle.classifier.trained_[keys.index("online_violence")]
    cold = result.results[
        (result.results["split"] == "test")
        & (result.results["source"] == "cold")
        & (result.results["category"] == "online_violence")
    ].iloc[0]
    # a real model: on held-out COLD rows it never streamed, well above the AP of chance (the positive rate)
    assert cold["average_precision"] > cold["support"] / cold["n"] + 0.1

    texts = ["你这个傻逼滚出去", "今天天气很好"]
    loaded = mlflow.pyfunc.load_model(result.model_uri).predict(pd.DataFrame({"text": texts}))
    local = result.bundle.score_frame(texts)
    np.testing.assert_allclose(loaded["score_online_violence"], local["score_online_violence"], rtol=1e-6)
    assert loaded.loc[0, "score_online_violence"] > loaded.loc[1, "score_online_violence"]


def test_per_category_settings_are_refused_with_streaming(data_dir, tracking, tmp_path):
    from qinglang.data.errors import DataError

    cfg = TrainConfig.model_validate({"model": {"categories": {"trivial": {"C": 2.0}}}, "streaming": {}})
    with pytest.raises(DataError, match="not used by streaming training"):
        train(cfg, data_dir, tmp_path / "out", register=False)
