"""The strategy contract every algorithm implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from asktell.core.snapshots import StudySnapshot
from asktell.core.space import SearchSpace
from asktell_client.types import ParamValue

__all__ = ["Proposal", "Strategy", "StrategyConfig"]


class StrategyConfig(BaseModel):
    """Base of every strategy's options; unknown options are an error."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Proposal:
    """What a strategy returns: `n` points and, for stateful ones, its new state.

    `strategies` names, per point, the strategy that really produced it (a
    composite such as `auto` delegates); `None` means this strategy.
    """

    points: list[dict[str, ParamValue]]
    state: dict[str, Any] | None = None
    strategies: list[str] | None = None
    info: dict[str, Any] = field(default_factory=dict)


class Strategy(ABC):
    """Turns a read-only study snapshot into suggestions.

    A strategy never touches the database or HTTP. `suggest` gets the snapshot,
    how many points to return and the state it returned last time (`None` at
    first), and returns a `Proposal`. Stateful strategies put everything they
    need to continue into `Proposal.state` (a JSON document with a `version`),
    so any worker can resume them after a crash.

    `inline = True` means the strategy answers within milliseconds on a CPU and
    may run in the API process; `needs_history = False` means it ignores the
    trials, so the server need not load them; `stateful = False` means it
    never returns a state.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    inline: ClassVar[bool] = False
    needs_history: ClassVar[bool] = True
    stateful: ClassVar[bool] = True
    Config: ClassVar[type[StrategyConfig]] = StrategyConfig

    def __init__(self, options: dict[str, Any] | None = None, device: str = "cpu"):
        self.config = self.Config(**(options or {}))
        self.device = device

    @abstractmethod
    def suggest(self, snapshot: StudySnapshot, n: int, state: dict[str, Any] | None) -> Proposal:
        """Return `n` points for `snapshot`."""

    def history_floor(self, state: dict[str, Any] | None, space: SearchSpace) -> int | None:
        """Finished trials with ids up to this one no longer matter to `suggest` given
        `state`, so the server may leave them out of the snapshot; None: load them all."""
        return None

    def check(self, snapshot: StudySnapshot) -> None:
        """Raise ValueError when this strategy cannot serve the study (its space, objectives
        or constraints); called when a study is created or switches strategy."""
        return None  # every study is fine unless a strategy says otherwise
