import pytest
import yaml

from qinglang.data.errors import DataError
from qinglang.data.taxonomy import Taxonomy, load_taxonomy


def test_default_taxonomy_has_the_twelve_guideline_categories(taxonomy):
    assert taxonomy.keys == [
        "celebrity_hype",
        "trivial",
        "vulgar",
        "pornography",
        "violence",
        "superstition",
        "self_harm",
        "minors_harm",
        "wealth_flaunting",
        "extreme_emotion",
        "online_violence",
        "disinformation",
    ]
    assert {c.group for c in taxonomy.categories} == {"low-value", "harmful"}
    assert taxonomy["celebrity_hype"].name_zh == "明星炒作"
    assert all(c.definition for c in taxonomy.categories)


def test_sources_speak_only_for_declared_categories(taxonomy):
    assert set(taxonomy.speaks_for("cold")) == {"online_violence"}
    assert set(taxonomy.speaks_for("ced")) == {"disinformation"}
    assert taxonomy.speaks_for("sos4k")["self_harm"] >= {"risk_4", "risk_10"}
    assert "risk_3" not in taxonomy.speaks_for("sos4k")["self_harm"]
    assert taxonomy.speaks_for("nobody") == {}


def test_round_trip_through_dict(taxonomy):
    assert Taxonomy.from_dict(taxonomy.to_dict()) == taxonomy


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["categories"].append(dict(d["categories"][0])), "duplicate key"),
        (lambda d: d["categories"][0].update(group="bad"), "group 'bad'"),
        (lambda d: d["categories"][0].pop("definition"), "missing field 'definition'"),
        (lambda d: d["categories"][0].update(key="Bad Key"), "lower-case identifier"),
        (lambda d: d.update(categories=[]), "no categories"),
    ],
)
def test_invalid_taxonomy_is_refused_with_reason(tmp_path, taxonomy, mutate, message):
    raw = taxonomy.to_dict()
    mutate(raw)
    path = tmp_path / "tax.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    with pytest.raises(DataError, match=message):
        load_taxonomy(path)


def test_unknown_category_lookup_names_the_choices(taxonomy):
    with pytest.raises(KeyError, match="celebrity_hype"):
        taxonomy["gambling"]
