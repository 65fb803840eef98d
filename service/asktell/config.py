"""One settings object, read from ASKTELL_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DB_PATH = Path.home() / ".asktell" / "asktell.db"


class Settings(BaseSettings):
    """Server and worker configuration."""

    model_config = SettingsConfigDict(env_prefix="ASKTELL_", extra="ignore")

    database_url: str = f"sqlite:///{DEFAULT_DB_PATH}"
    host: str = "127.0.0.1"
    port: int = 8420
    require_token: bool = False
    token_cache_seconds: float = 2.0
    embedded_worker: bool = True
    lease_seconds: float = 30.0
    poll_interval: float = 0.02
    max_body_bytes: int = 64 * 1024 * 1024
    artifact_max_bytes: int = 16 * 1024 * 1024  # one uploaded file; max_body_bytes bounds it too
    log_level: str = "info"

    @field_validator("database_url")
    @classmethod
    def _normalize_driver(cls, url: str) -> str:
        """Use psycopg 3 for PostgreSQL whatever scheme the user wrote."""
        for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
