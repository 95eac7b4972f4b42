"""Score a Parquet dataset on Spark with the logged MLflow model (`qinglang score --engine spark`).

The path for a platform that scores every post on its cluster: Spark executors apply the
same pyfunc model that `qinglang serve` and `mlflow models serve` load, as a pandas UDF
(`mlflow.pyfunc.spark_udf`) fed in Arrow batches. The output holds every input column plus
`score_K` / `flag_K` for each category of the model's signature, written by Spark as a
Parquet folder (part files, and `_SUCCESS` once the whole job has committed).

- The model must be an MLflow model (`models:/NAME@ALIAS`, `runs:/ID/model`, a folder with
  an MLmodel file): Spark ships it to the executors. A bare bundle folder is refused.
- `env_manager`: `local` (default) runs the UDF in the executors' own Python, which must
  have `qinglang[spark]` installed; `virtualenv` or `uv` make MLflow build the model's
  logged requirements on each executor instead (see the README's "Spark" section).
- A row with no text fails the run before scoring, with the count: nothing is skipped.

Needs the `spark` extra (pyspark) and Java 17+."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from qinglang.data.errors import DataError
from qinglang.data.taxonomy import KINDS, check_kind
from qinglang.models.registry import ModelLoadError, configure_tracking

SCORES_COLUMN = "__qinglang_scores"


@dataclass(frozen=True)
class SparkScoreSummary:
    rows: int
    seconds: float
    output: str


def result_type(model_uri: str) -> str:
    """The UDF's Spark type from the model signature: `score_K double, flag_K bigint, ...`."""
    import mlflow

    try:
        signature = mlflow.models.get_model_info(model_uri).signature
    except Exception as exc:
        raise ModelLoadError(
            f"cannot read MLflow model {model_uri!r} ({type(exc).__name__}: {exc}); Spark scoring needs an MLflow model: "
            "models:/NAME@ALIAS, runs:/RUN_ID/model or a folder with an MLmodel file"
        ) from exc
    if signature is None or signature.outputs is None:
        raise ModelLoadError(
            f"{model_uri}: the model has no output signature; retrain it with this version of qinglang"
        )
    fields = []
    for name in signature.outputs.input_names():
        if name.startswith("score_"):
            fields.append(f"`{name}` double")
        elif name.startswith("flag_"):
            fields.append(f"`{name}` bigint")
        else:
            raise ModelLoadError(f"{model_uri}: unexpected output column {name!r} (expected score_K / flag_K)")
    return ", ".join(fields)


def spark_session(master: str | None = None, app_name: str = "qinglang-score"):
    """A session for a run started here; executors use this Python unless PYSPARK_PYTHON says otherwise."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

    builder = SparkSession.builder.appName(app_name).config("spark.sql.execution.arrow.pyspark.enabled", "true")
    if master:
        builder = builder.master(master)
    return builder.getOrCreate()


@dataclass(frozen=True)
class SparkScoreRequest:
    """Score `input_path` (a Parquet file or folder, any filesystem Spark reads) with the
    MLflow model `model_uri` into the Parquet folder `output_path` (overwritten if present).
    `profile`: the operating point for the flags (default: the model's); `kind`: what the
    texts are, title, post or comment (default: the model's). `master`: the Spark
    master of a session started here (ignored when a session is given). `env_manager`: how
    the executors get the model's Python environment."""

    model_uri: str
    input_path: str
    output_path: str
    text_column: str = "text"
    profile: str | None = None
    master: str | None = None
    env_manager: str = "local"
    kind: str | None = None


def score_parquet(request: SparkScoreRequest, spark=None) -> SparkScoreSummary:
    """Every input column plus the score and flag columns, on `spark` (default: a session
    started here on `request.master`)."""
    import mlflow.pyfunc
    from pyspark.sql import functions as F

    started = time.perf_counter()
    _refuse_bundle_folder(request.model_uri)
    if request.model_uri.startswith(("models:", "runs:")):
        configure_tracking()  # a registry or run URI needs the store; a model folder does not
    spark = spark or spark_session(request.master)
    frame = spark.read.parquet(str(request.input_path))
    rows = _checked_row_count(frame, request.text_column, str(request.input_path))
    udf = mlflow.pyfunc.spark_udf(
        spark,
        request.model_uri,
        result_type=result_type(request.model_uri),
        env_manager=request.env_manager,
        params=_udf_params(request),
    )
    text = F.struct(F.col(request.text_column).cast("string").alias("text"))
    scored = frame.withColumn(SCORES_COLUMN, udf(text))
    scored = scored.select(*[F.col(f"`{c}`") for c in frame.columns], f"{SCORES_COLUMN}.*")
    scored.write.mode("overwrite").parquet(str(request.output_path))
    return SparkScoreSummary(rows, time.perf_counter() - started, str(request.output_path))


def _udf_params(request: SparkScoreRequest) -> dict | None:
    """The pyfunc params set on the request; an unknown kind fails here, before Spark starts work."""
    params = {"profile": request.profile, "kind": check_kind(request.kind) if request.kind else None}
    return {k: v for k, v in params.items() if v} or None


def _refuse_bundle_folder(model_uri: str) -> None:
    """A local folder must be an MLflow model: Spark ships the logged model, not a bare bundle."""
    local = Path(model_uri)
    if local.exists() and not (local / "MLmodel").is_file():
        raise ModelLoadError(
            f"{model_uri}: not an MLflow model folder (no MLmodel file); Spark scoring needs the logged model, e.g. models:/qinglang@candidate"
        )


def _checked_row_count(frame, text_column: str, origin: str) -> int:
    """The number of rows, once the text column is known to be present and never empty and
    the input to hold no score or flag columns yet; one Spark pass counts both."""
    from pyspark.sql import functions as F

    if text_column not in frame.columns:
        raise DataError(f"no text column {text_column!r}; found {frame.columns} (use --text-column)", file=origin)
    if SCORES_COLUMN in frame.columns or any(c.startswith(("score_", "flag_")) for c in frame.columns):
        raise DataError("the input already has score_ / flag_ columns; score the original data", file=origin)
    totals = frame.agg(
        F.count(F.lit(1)).alias("rows"), F.count_if(F.col(text_column).isNull()).alias("missing")
    ).first()
    rows, missing = int(totals["rows"]), int(totals["missing"])
    if missing:
        raise DataError(f"column {text_column!r} is empty in {missing} row(s); fill or remove them", file=origin)
    return rows


def main(argv: list[str] | None = None) -> None:
    """Entry point for `spark-submit .../qinglang/serve/spark.py --model ... --input ... --output ...`:
    the master and resources come from spark-submit."""
    import argparse

    p = argparse.ArgumentParser(description="Score a Parquet dataset with a qinglang MLflow model on Spark.")
    p.add_argument("--model", required=True, help="models:/NAME@ALIAS, runs:/RUN_ID/model or an MLflow model folder")
    p.add_argument("--input", required=True, help="Parquet file or folder")
    p.add_argument("--output", required=True, help="Parquet folder to write (replaced if present)")
    p.add_argument("--text-column", default="text")
    p.add_argument("--profile", default=None, help="operating point (default: the model's)")
    p.add_argument("--kind", default=None, choices=list(KINDS), help="what the texts are (default: the model's)")
    p.add_argument("--env-manager", default="local", choices=["local", "virtualenv", "uv", "conda"])
    args = p.parse_args(argv)
    try:
        request = SparkScoreRequest(
            args.model,
            args.input,
            args.output,
            args.text_column,
            args.profile,
            env_manager=args.env_manager,
            kind=args.kind,
        )
        summary = score_parquet(request)
    except (DataError, ModelLoadError) as exc:
        sys.exit(f"error: {exc}")
    print(f"scored {summary.rows} rows in {summary.seconds:.1f} s → {summary.output}")


if __name__ == "__main__":
    main()
