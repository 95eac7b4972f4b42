"""Taxonomy, corpus loaders and the canonical labeled table that every later stage reads."""
