"""Merging sources: unknown stays unknown, conflicts are counted, a text keeps one split."""

import pandas as pd
import pytest

from qinglang.data.dataset import FileSource, build_dataset
from qinglang.data.errors import DataError
from qinglang.data.schema import dedup_key, hash_split


def test_dedup_key_ignores_punctuation_width_and_case():
    assert dedup_key("你好，世界！") == dedup_key("你好 世界") == dedup_key("你好世界")
    assert dedup_key("ＳＢ") == dedup_key("sb")
    assert dedup_key("！！") == "!!"  # a text of only punctuation keeps an identity


def test_hash_split_is_deterministic_and_proportional():
    keys = [f"text{i}" for i in range(20_000)]
    splits = pd.Series([hash_split(k, 0.1, 0.2) for k in keys])
    assert splits.tolist() == [hash_split(k, 0.1, 0.2) for k in keys]
    shares = splits.value_counts(normalize=True)
    assert abs(shares["test"] - 0.2) < 0.02 and abs(shares["dev"] - 0.1) < 0.02


def test_merge_keeps_unknowns_counts_conflicts_and_keeps_one_split(tmp_path, taxonomy):
    a = tmp_path / "a.csv"
    b = tmp_path / "b.csv"
    a.write_text("text,split,online_violence\n你是傻子,train,1\n共同文本,train,1\n只在a,train,0\n", "utf-8")
    b.write_text("text,split,online_violence,disinformation\n你是傻子！,test,1,0\n共同文本,train,0,1\n", "utf-8")
    ds = build_dataset(taxonomy, data_dir=None, corpora=[], files=[FileSource(a, "a"), FileSource(b, "b")])
    t = ds.table.set_index("text")
    assert len(t) == 3
    assert t.loc["你是傻子", "split"] == "test"  # the most held-out copy decides
    assert t.loc["你是傻子", "disinformation"] == 0  # known from b, merged in
    assert pd.isna(t.loc["共同文本", "online_violence"])  # conflict → unknown
    assert t.loc["共同文本", "disinformation"] == 1
    assert pd.isna(t.loc["只在a", "disinformation"])  # a never spoke for it
    assert ds.conflicts["online_violence"] == 1
    assert ds.sources["b"].merged_into_other_rows == 2
    assert ds.sources["a"].rows_kept + ds.sources["b"].rows_kept == 3


def test_rows_without_split_are_hash_split(tmp_path, taxonomy):
    f = tmp_path / "f.csv"
    f.write_text("text,vulgar\n" + "".join(f"文本{i},0\n" for i in range(200)), "utf-8")
    ds = build_dataset(taxonomy, data_dir=None, corpora=[], files=[FileSource(f)])
    assert set(ds.table["split"]) == {"train", "dev", "test"}
    again = build_dataset(taxonomy, data_dir=None, corpora=[], files=[FileSource(f)])
    assert ds.table["split"].tolist() == again.table["split"].tolist()
    assert ds.fingerprint(taxonomy.keys) == again.fingerprint(taxonomy.keys)


def test_corpora_without_data_dir_is_an_error(taxonomy):
    with pytest.raises(DataError, match="no data directory"):
        build_dataset(taxonomy, data_dir=None, corpora=["cold"])


def test_a_taxonomy_mapping_a_label_its_source_never_has_is_refused():
    """Issue 19: `cold: [ofensive]` used to make every COLD row a negative, silently."""
    import dataclasses

    from qinglang.data.dataset import to_canonical
    from qinglang.data.errors import DataError
    from qinglang.data.loaders.base import NativeRows
    from qinglang.data.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    cats = tuple(
        dataclasses.replace(c, sources={**c.sources, "cold": ("ofensive",)}) if c.key == "online_violence" else c
        for c in taxonomy.categories
    )
    typo = dataclasses.replace(taxonomy, categories=cats)
    rows = NativeRows("cold", pd.DataFrame({"text": ["你好"], "split": ["train"], "native": [("offensive",)]}), [])
    with pytest.raises(DataError, match=r"'online_violence' maps cold labels \['ofensive'\].*offensive, safe"):
        to_canonical(rows, typo)
    assert to_canonical(rows, taxonomy)["online_violence"].tolist() == [1]
