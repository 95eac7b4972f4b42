"""Estimators and decision thresholds; depends on the data and features layers only."""
