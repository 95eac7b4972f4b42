"""The command line without a model: listing sources, refusing bad arguments."""

from typer.testing import CliRunner

from qinglang.cli.app import app


def test_sources_command_lists_what_each_corpus_speaks_for():
    out = CliRunner().invoke(app, ["sources"])
    assert out.exit_code == 0
    assert "cold" in out.stdout and "online_violence (offensive)" in out.stdout
    assert "self_harm (all negative)" in out.stdout


def test_train_with_a_missing_data_dir_fails_cleanly(tmp_path):
    out = CliRunner().invoke(app, ["train", "--data-dir", str(tmp_path / "nope")])
    assert out.exit_code == 2
    assert "data directory not found" in out.output


def test_train_with_a_bad_config_names_the_field(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {C: 0}", "utf-8")
    out = CliRunner().invoke(app, ["train", "--config", str(cfg)])
    assert out.exit_code == 2
    assert "model.C" in out.output


def test_a_run_without_held_out_rows_is_refused_before_fitting(tmp_path, monkeypatch):
    data = tmp_path / "only_train.csv"
    data.write_text("text,split,vulgar\n" + "".join(f"文本{i},train,{i % 2}\n" for i in range(40)), "utf-8")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data: {{files: [{{path: '{data}'}}]}}", "utf-8")
    monkeypatch.delenv("QINGLANG_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(app, ["train", "--config", str(cfg)])
    assert out.exit_code == 2
    assert "0 in evaluation splits" in out.output


def test_score_with_an_unknown_engine_fails_cleanly(tmp_path):
    out = CliRunner().invoke(
        app, ["score", "--engine", "dask", "--model", "m", "--input", "in.parquet", "--output", str(tmp_path / "o")]
    )
    assert out.exit_code == 2 and "--engine must be local or spark" in out.output


def test_spark_scoring_refuses_a_bare_bundle_folder_before_starting_spark(tmp_path):
    (tmp_path / "qinglang-model.pkl.gz").write_bytes(b"")
    out = CliRunner().invoke(
        app,
        [
            "score",
            "--engine",
            "spark",
            "--model",
            str(tmp_path),
            "--input",
            "in.parquet",
            "--output",
            str(tmp_path / "o"),
        ],
    )
    assert out.exit_code == 2 and "not an MLflow model folder" in out.output


def test_score_with_an_unknown_kind_fails_cleanly(tmp_path):
    out = CliRunner().invoke(
        app, ["score", "--kind", "tweet", "--model", "m", "--input", "in.csv", "--output", str(tmp_path / "o.csv")]
    )
    assert out.exit_code == 2 and "--kind must be one of title, post, comment" in out.output
