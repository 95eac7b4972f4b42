"""Evaluation reports: the markdown report, its plots, and the error analysis."""
