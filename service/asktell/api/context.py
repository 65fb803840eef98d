"""What every request handler shares: settings, database, wake-up hub."""

from __future__ import annotations

from dataclasses import dataclass, field

from asktell.config import Settings
from asktell.db.notify import Hub
from asktell.db.session import Database


@dataclass
class AppContext:
    settings: Settings
    db: Database
    hub: Hub
    open_mode: bool
    default_project_id: int | None = None
    tokens: dict = field(default_factory=dict)  # token → (Caller, looked up at)
