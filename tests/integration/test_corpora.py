"""Every corpus reader on the real files: counts, splits, declared categories, drops."""

import json
import shutil

import pandas as pd
import pytest

from qinglang.data.dataset import Sampling, build_dataset, to_canonical
from qinglang.data.errors import DataError
from qinglang.data.loaders import REGISTRY, load_trending_archive, read_native

pytestmark = pytest.mark.corpora

# rows in the upstream files (see ../shared/datasets/README.md) = kept + counted drops
EXPECTED_ROWS = {
    "cold": 37480,
    "toxicn": 12011,
    "ced": 3387,
    "weibo21": 9592,
    "chineseharm": 3002,
    "sos4k": 4208,
    "cyberbullying_roles": 11977,
    "thucnews_titles": 20000,
    "weibo_trending_labeled": 2150,
}


@pytest.mark.parametrize("name", sorted(EXPECTED_ROWS))
def test_reader_accounts_for_every_row(data_dir, taxonomy, name):
    rows = read_native(name, data_dir)
    assert len(rows.frame) + sum(rows.dropped.values()) == EXPECTED_ROWS[name]
    assert rows.frame["text"].str.strip().ne("").all()
    canon = to_canonical(rows, taxonomy)
    speaks = set(taxonomy.speaks_for(name))
    for key in taxonomy.keys:
        if key in speaks:
            assert canon[key].notna().all(), f"{name} speaks for {key}: every row must be 0/1"
        else:
            assert canon[key].isna().all(), f"{name} does not annotate {key}: it must stay unknown"


def test_official_splits_are_kept(data_dir):
    cold = read_native("cold", data_dir).frame
    assert cold["split"].value_counts().to_dict() == {"train": 25726, "dev": 6431, "test": 5323}
    sos = read_native("sos4k", data_dir).frame
    assert set(sos["split"]) == {"train", "dev", "test"}
    assert read_native("toxicn", data_dir).frame["split"].isna().all()


def test_label_mapping_matches_native_labels(data_dir, taxonomy):
    cold = read_native("cold", data_dir)
    canon = to_canonical(cold, taxonomy)
    assert int(canon["online_violence"].sum()) == 12723 + 3211 + 2107
    sos = to_canonical(read_native("sos4k", data_dir), taxonomy)
    levels = read_native("sos4k", data_dir).frame["native"].map(lambda n: int(n[0].split("_")[1]))
    assert (sos["self_harm"].astype(int) == (levels >= 4).astype(int)).all()
    harm = to_canonical(read_native("chineseharm", data_dir), taxonomy)
    assert int(harm["vulgar"].sum()) == 510 and int(harm["online_violence"].sum()) == 516


def test_cyberbullying_is_read_as_gb18030_and_empty_texts_are_counted(data_dir):
    rows = read_native("cyberbullying_roles", data_dir)
    assert rows.notes == ["read as GB18030"]
    assert rows.dropped["empty text"] == 32
    assert "施暴者" in {n[0] for n in rows.frame["native"]}


def test_assembled_slice_keeps_each_text_on_one_side(data_dir, taxonomy):
    ds = build_dataset(taxonomy, data_dir=data_dir, corpora=list(REGISTRY), sampling=Sampling(max_rows_per_source=600))
    from qinglang.data.schema import dedup_key

    keys = ds.table["text"].map(dedup_key)
    assert not keys.duplicated().any()
    cov = ds.coverage(taxonomy.keys)
    assert (cov.positive + cov.negative + cov.unknown).gt(0).all()
    fp = ds.fingerprint(taxonomy.keys)
    assert fp["__all__"]["rows"] == len(ds.table)
    assert set(fp) - {"__all__"} == set(REGISTRY)


def test_new_category_from_chineseharm_needs_only_a_taxonomy_entry(data_dir, taxonomy, tmp_path):
    import yaml

    from qinglang.data.taxonomy import load_taxonomy

    raw = taxonomy.to_dict()
    raw["categories"].append(
        {
            "key": "gambling",
            "name_zh": "赌博",
            "group": "harmful",
            "definition": "gambling promotion",
            "sources": {"chineseharm": ["博彩"]},
        }
    )
    path = tmp_path / "taxonomy.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    extended = load_taxonomy(path)
    ds = build_dataset(extended, data_dir=data_dir, corpora=["chineseharm", "cold"])
    harm = ds.table[ds.table["source"] == "chineseharm"]
    assert int(harm["gambling"].sum()) >= 470
    assert ds.table.loc[ds.table["source"] == "cold", "gambling"].isna().all()


def test_missing_and_malformed_corpus_files_are_reported(data_dir, tmp_path):
    with pytest.raises(DataError, match="folder not found"):
        read_native("cold", tmp_path)
    (tmp_path / "cold").mkdir()
    shutil.copy(data_dir / "cold" / "train.csv", tmp_path / "cold" / "train.csv")
    with pytest.raises(DataError, match="dev.csv: file not found"):
        read_native("cold", tmp_path)
    (tmp_path / "chineseharm").mkdir()
    (tmp_path / "chineseharm" / "train.json").write_text('[{"文本": "x"}]', "utf-8")
    with pytest.raises(DataError, match=r"train.json, row 1: expected an object with '文本' and '标签'"):
        read_native("chineseharm", tmp_path)
    with pytest.raises(DataError, match="unknown source"):
        read_native("nope", tmp_path)


def test_trending_archive_distinct_titles_and_a_bad_day(data_dir, tmp_path):
    raw = data_dir / "weibo_trending" / "raw"
    for day in ("2024-06-01.json", "2024-06-02.json"):
        shutil.copy(raw / day, tmp_path / day)
    (tmp_path / "2024-06-03.json").write_text("{broken", "utf-8")
    (tmp_path / "2024-06-04.json").write_text("[]", "utf-8")
    archive = load_trending_archive(tmp_path)
    assert len(archive.problems) == 2 and "2024-06-03.json" in archive.problems[0]
    days = [json.loads((tmp_path / d).read_text("utf-8")) for d in ("2024-06-01.json", "2024-06-02.json")]
    assert len(archive.entries) + sum(archive.dropped.values()) == sum(len(d) for d in days)
    titles = archive.titles
    assert titles["title"].is_unique
    assert len(titles) == len({r["title"].strip() for d in days for r in d if r.get("title", "").strip()})
    assert titles["best_rank"].notna().any() and (titles["best_rank"].dropna() >= 1).all()
    both = titles[titles["days"] == 2]
    assert (both["first_seen"] == pd.Timestamp("2024-06-01")).all() and (
        both["last_seen"] == pd.Timestamp("2024-06-02")
    ).all()
