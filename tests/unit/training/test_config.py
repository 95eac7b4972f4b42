import pytest

from qinglang.data.errors import DataError
from qinglang.data.loaders import REGISTRY
from qinglang.training.config import load_config


def test_default_config_reads_every_corpus_and_holds_out_dev_and_test():
    cfg = load_config()
    assert cfg.data.corpora == list(REGISTRY) or set(cfg.data.corpora) == set(REGISTRY)
    assert cfg.data.fit_splits == ["train"] and cfg.data.eval_splits == ["dev", "test"]
    assert cfg.flat()["model.C"] == "4.0"


@pytest.mark.parametrize(
    "content, message",
    [
        ("model: {C: -1}", "model.C: Input should be greater than 0"),
        ("model: {typo: 1}", "model.typo: Extra inputs are not permitted"),
        ("data: {corpora: [nope]}", "unknown corpora"),
        ("data: {fit_splits: [train, test]}", "overlap"),
        ("thresholds: {profiles: {x: {strategy: best}}}", "thresholds.profiles.x.strategy"),
        ("thresholds: {default: strict}", "default profile 'strict' is not among"),
        ("model: [1, 2", "not valid YAML"),
        ("thresholds: {profiles: {x: {strategy: macro_f1, target: 2}}}", "thresholds.profiles.x.target"),
        (
            "model: {categories: {trivial: {self_training: {weight: 0}}}}",
            "model.categories.trivial.self_training.weight",
        ),
        ("model: {categories: {trivial: {fit_sources: []}}}", "model.categories.trivial.fit_sources"),
        ("model: {categories: {trivial: {topics: {components: 1}}}}", "model.categories.trivial.topics.components"),
        ("model: {categories: {trivial: {topics: {weight: 0}}}}", "model.categories.trivial.topics.weight"),
        ("data: {unlabeled_archive: {before: yesterday}}", "data.unlabeled_archive.before"),
        ("features: {archive_words: {min_count: 1}}", "features.archive_words.min_count"),
    ],
)
def test_config_errors_name_the_field(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content, "utf-8")
    with pytest.raises(DataError, match=message):
        load_config(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(DataError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_precision_or_recall_threshold_needs_a_target(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("thresholds: {profiles: {auto: {strategy: precision}}}", "utf-8")
    with pytest.raises(DataError, match="needs a target"):
        load_config(path)


def test_default_config_has_review_and_auto_operating_points():
    rules = load_config().thresholds.rules()
    assert rules["review"].strategy == "recall" and rules["review"].target == 0.9
    assert rules["auto"].strategy == "precision" and rules["auto"].unreachable == "never"


def test_shipped_yaml_and_in_code_defaults_agree_on_the_operating_points(tmp_path):
    """Defaults are defined once (models/thresholds.py): an empty config, the shipped YAML
    and an estimator built without rules all get the same operating points."""
    import inspect

    from qinglang.models.multilabel import MultiCategoryClassifier
    from qinglang.models.thresholds import DEFAULT_PROFILE, DEFAULT_PROFILES

    empty = tmp_path / "empty.yaml"
    empty.write_text("", "utf-8")
    from_empty, shipped = load_config(empty), load_config()
    assert from_empty.thresholds == shipped.thresholds
    assert from_empty.thresholds.rules() == DEFAULT_PROFILES
    assert from_empty.thresholds.default == DEFAULT_PROFILE
    assert inspect.signature(MultiCategoryClassifier).parameters["default_profile"].default == DEFAULT_PROFILE


def test_shipped_yaml_and_in_code_defaults_agree_where_the_yaml_does_not_choose_otherwise(tmp_path):
    """Sections the shipped YAML only restates must equal the code's defaults; the ones it
    deliberately sets (data sources, per-category model settings, phonetic map...) are
    listed here so that a new disagreement has to be named to pass."""
    empty = tmp_path / "empty.yaml"
    empty.write_text("", "utf-8")
    from_empty, shipped = load_config(empty).flat(), load_config().flat()
    chosen_in_yaml = ("seed", "data.", "features.", "model.categories.")
    keys = {k for k in set(from_empty) | set(shipped) if not k.startswith(chosen_in_yaml)}
    differ = {k for k in keys if from_empty.get(k) != shipped.get(k)}
    assert differ == set(), {k: (from_empty.get(k), shipped.get(k)) for k in differ}


def test_release_splits_must_cover_the_fit_splits(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data: {fit_splits: [train], release_splits: [dev]}", "utf-8")
    with pytest.raises(DataError, match="release_splits"):
        load_config(cfg)
    cfg.write_text("data: {release_splits: [train, test]}", "utf-8")
    with pytest.raises(DataError, match="release_splits"):
        load_config(cfg)


def test_the_target_domain_config_is_the_default_plus_source_weights():
    from pathlib import Path

    import qinglang.training

    configs = Path(qinglang.training.__file__).parent / "configs"
    target, default = load_config(configs / "chineseharm_target.yaml"), load_config()
    assert target.data.source_weights == {"chineseharm": 5.0}
    assert target.model_dump(exclude={"data": {"source_weights"}}) == default.model_dump(
        exclude={"data": {"source_weights"}}
    )
