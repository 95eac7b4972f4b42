"""Scoring out of process: whole files in forked workers, and Parquet on Spark."""
