"""Trending-list health: the per-day audit and its report, share (prevalence) estimation,
and the policy-driven re-ranker with its shipped policy."""
