"""Name → strategy class, filled by decorators and the `asktell.strategies` entry points."""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from pydantic import ValidationError

from asktell.core.errors import InvalidInput
from asktell.strategies.base import Strategy

__all__ = ["available_strategies", "get_strategy", "register_strategy", "validate_strategy"]

_REGISTRY: dict[str, type[Strategy]] = {}
_BUILTIN_MODULES = (
    "random",
    "sobol",
    "gp",
    "auto",
    "zeroth_order",
    "zo_model",
    "cmaes",
    "direct_search",
    "cbo",
    "bnn",
    "pfn",
)
_loaded = False


def register_strategy(name: str):
    """Class decorator: make a strategy available under `name` (kebab-case)."""

    def wrap(cls: type[Strategy]) -> type[Strategy]:
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN_MODULES:
        try:
            import_module(f"asktell.strategies.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"asktell.strategies.{module}":
                raise
    for ep in entry_points(group="asktell.strategies"):
        ep.load()


def available_strategies() -> dict[str, type[Strategy]]:
    _load()
    return dict(sorted(_REGISTRY.items()))


def get_strategy(name: str, field: str = "strategy.name") -> type[Strategy]:
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise InvalidInput(f"unknown strategy {name!r}; known: {known}", field=field) from None


def validate_strategy(
    name: str, options: dict[str, Any], field: str = "strategy", name_field: str | None = None
) -> Strategy:
    """Build a strategy, turning bad options into an error that names the option."""
    cls = get_strategy(name, field=name_field or f"{field}.name")
    try:
        return cls(options)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise InvalidInput(err["msg"], field=f"{field}.options.{loc}") from None
