"""The share backtest's full recipe on the real corpora: period models read the other
corpora's fit rows (never a labeled trending title) and only weak rows dated before the
period."""

import pandas as pd

from qinglang.data.schema import dedup_key
from qinglang.data.taxonomy import load_taxonomy
from qinglang.training.config import load_config
from qinglang.trending.backtest import full_fit, load_labeled_titles, period_weak_rows, split_period


def test_full_fit_reads_the_other_corpora_fit_rows_and_earlier_weak_rows(data_dir):
    taxonomy = load_taxonomy()
    config = load_config()
    small = config.model_copy(update={"data": config.data.model_copy(update={"max_rows_per_source": 300})})
    labeled = load_labeled_titles(data_dir, taxonomy)
    full = full_fit(data_dir, taxonomy, labeled, small)
    others = full.others
    assert len(others) > 1000 and {"post", "comment"} <= set(others["kind"])
    assert not set(others["text"].map(dedup_key)) & set(labeled["text"].map(dedup_key))
    assert others["online_violence"].notna().any() and others["celebrity_hype"].isna().all()

    hot = pd.read_csv(data_dir / "weibo_hot_history" / "weibo_hot_history_2024.csv", dtype=str)
    before = split_period(labeled, "2024H2", "2024-07-01", "2025-01-01")
    weak = period_weak_rows(full, taxonomy, before, ["celebrity_hype", "trivial"])
    assert len(weak.texts) > 1000 and weak.Y.shape == (len(weak.texts), 2)
    first_day = hot.groupby(hot["title"].str.strip())["day"].min()
    assert (pd.to_datetime(first_day.loc[weak.texts]) < before.start).all()  # every weak row has a day before
    assert not set(weak.texts) & set(labeled["text"])
    earlier = split_period(labeled, "2024H1", "2024-01-01", "2024-07-01")
    assert period_weak_rows(full, taxonomy, earlier, ["celebrity_hype", "trivial"]) is None  # no tags before 2024-05
