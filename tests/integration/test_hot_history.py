"""Weibo's topic tags as weak labels: read from the real file, dated, never a labeled title."""

import numpy as np
import pandas as pd
import pytest

from qinglang.data.errors import DataError
from qinglang.data.loaders.hot_history import read_hot_history
from qinglang.data.taxonomy import load_taxonomy
from qinglang.training.config import TrainConfig, load_config
from qinglang.training.train import assemble_run, weak_rows


def test_the_hot_history_file_reads_with_tags_and_days(data_dir):
    rows = read_hot_history(data_dir)
    assert len(rows) > 90_000 and rows["day"].min() == pd.Timestamp("2024-05-20")
    assert {"明星", "社会", "搞笑"} <= set(rows["tag"].dropna())
    assert not rows["tag"].dropna().str.contains("-").any()  # 明星-内地 counts as 明星
    assert rows["tag"].isin(["暂无", ""]).sum() == 0


def test_a_bad_day_is_an_error_naming_the_row(tmp_path):
    folder = tmp_path / "weibo_hot_history"
    folder.mkdir()
    (folder / "weibo_hot_history_2024.csv").write_text(
        "day,title,category\n2024-05-20,a,社会\nyesterday,b,明星\n", "utf-8"
    )
    with pytest.raises(DataError, match="row 3"):
        read_hot_history(tmp_path)


def default_weak_labels_config() -> TrainConfig:
    """The default config's weak labels on the labeled trending titles alone."""
    spec = load_config().data.weak_labels
    return TrainConfig.model_validate(
        {"data": {"corpora": ["weibo_trending_labeled"], "weak_labels": spec.model_dump(mode="json")}}
    )


def test_weak_rows_respect_the_date_and_leave_labeled_titles_out(data_dir):
    spec = load_config().data.weak_labels
    config = default_weak_labels_config()
    data = assemble_run(config, data_dir)
    evaluated, _ = weak_rows(config, data_dir, data, release=False)
    released, entry = weak_rows(config, data_dir, data, release=True)
    assert 0 < len(evaluated.texts) < len(released.texts)
    assert entry["weak:weibo_hot_history"]["rows"] == len(released.texts)
    assert not set(released.texts) & set(data.dataset.table["text"])
    history = read_hot_history(data_dir)
    first_day = history.groupby("title")["day"].min()
    assert (first_day.loc[evaluated.texts] < pd.Timestamp(spec.before)).all()
    keys = load_taxonomy().keys
    known = ~np.isnan(evaluated.Y)
    configured = {keys.index(k) for k in ("celebrity_hype", "trivial", "superstition")}
    assert set(np.flatnonzero(known.any(axis=0))) == configured
    assert evaluated.weight == 0.3 and evaluated.kind == "title"


def test_horoscope_tags_are_superstition_positives_and_the_rest_negatives(data_dir):
    config = default_weak_labels_config()
    released, _ = weak_rows(config, data_dir, assemble_run(config, data_dir), release=True)
    history = read_hot_history(data_dir).dropna(subset=["tag"])
    tag = history.groupby("title")["tag"].agg(lambda t: t.value_counts().index[0]).loc[released.texts]
    y = released.Y[:, load_taxonomy().keys.index("superstition")]
    assert (y[(tag == "星座").to_numpy()] == 1).all() and (y[(tag != "星座").to_numpy()] == 0).all()
    assert 50 < int((y == 1).sum()) < 200  # a rare tag: a few dozen distinct titles, not a flood
