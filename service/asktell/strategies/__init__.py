"""Strategies: pure objects that turn a study snapshot into new points."""
