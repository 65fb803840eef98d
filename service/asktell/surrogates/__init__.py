"""Surrogate models that strategies fit to the trials: each is a BoTorch `Model`."""
