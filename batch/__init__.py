"""Scoring out of process: whole files in forked workers, and Parquet on Spark."""

# Rows read, scored and written at a time by `qinglang score` and `score_texts`. 2,000 rather
# than 5,000 (issue 19): the whole archive scores as fast with 2 jobs and about 15 MB lighter
# per process with 1. Here, not in scoring.py, so the CLI reads it without importing pandas.
CHUNK_ROWS = 2000
