"""ORM rows. Tables are plural snake_case; constraint names come from the naming convention."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Id = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every engine (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


AUTOINCREMENT = {"sqlite_autoincrement": True}  # ids are never reused after a delete


class ProjectRow(Base):
    __tablename__ = "projects"
    __table_args__ = (AUTOINCREMENT,)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TokenRow(Base):
    __tablename__ = "tokens"
    __table_args__ = (AUTOINCREMENT,)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    can_write: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class StudyRow(Base):
    __tablename__ = "studies"
    __table_args__ = (UniqueConstraint("project_id", "name"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    spec: Mapped[dict[str, Any]] = mapped_column(Json)
    strategy: Mapped[dict[str, Any]] = mapped_column(Json)
    settings: Mapped[dict[str, Any]] = mapped_column(Json)
    meta: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="running")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


OPEN_STATES_SQL = "state IN ('pending', 'running')"


class TrialRow(Base):
    __tablename__ = "trials"
    __table_args__ = (
        Index("ix_trials_study_id_state", "study_id", "state"),
        Index(
            "uq_trials_open_point",
            "study_id",
            "point_key",
            unique=True,
            sqlite_where=text(OPEN_STATES_SQL),
            postgresql_where=text(OPEN_STATES_SQL),
        ),
        Index("ix_trials_operation_id", "operation_id"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(Json)
    values: Mapped[dict[str, float] | None] = mapped_column(Json, nullable=True)
    point_key: Mapped[str | None] = mapped_column(String(40), nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    evaluator: Mapped[str | None] = mapped_column(String(128), nullable=True)
    strategy: Mapped[str | None] = mapped_column(String(64), nullable=True)
    operation_id: Mapped[int | None] = mapped_column(Id, nullable=True)
    reoffered: Mapped[bool] = mapped_column(Boolean, default=False)
    prefetched: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class IntermediateRow(Base):
    __tablename__ = "trial_intermediates"

    trial_id: Mapped[int] = mapped_column(
        ForeignKey("trials.id", ondelete="CASCADE"), primary_key=True
    )
    step: Mapped[int] = mapped_column(Integer, primary_key=True)
    values: Mapped[dict[str, float]] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OperationRow(Base):
    """An ask waiting for a worker; its trials point back to it."""

    __tablename__ = "operations"
    __table_args__ = (
        UniqueConstraint("study_id", "request_id"),
        Index("ix_operations_study_id_state", "study_id", "state"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    count: Mapped[int] = mapped_column(Integer)
    evaluator: Mapped[str] = mapped_column(String(128))
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="waiting")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


QUEUED_SQL = "state = 'queued'"


class JobRow(Base):
    """A job for the workers: `kind` "suggest" (points for asks) or "surrogate" (a model
    slice for the dashboard, with its request in `params` and its answer in `result`).
    At most one queued job per study and kind, so concurrent requests merge."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index(
            "uq_jobs_queued_study",
            "study_id",
            "kind",
            unique=True,
            sqlite_where=text(QUEUED_SQL),
            postgresql_where=text(QUEUED_SQL),
        ),
        Index("ix_jobs_state_id", "state", "id"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32), default="suggest")
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    leased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    compute_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    strategy: Mapped[str | None] = mapped_column(String(64), nullable=True)
    params: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)


class StrategyStateRow(Base):
    """A stateful strategy's JSON document, updated by compare-and-swap on `version`."""

    __tablename__ = "strategy_states"

    study_id: Mapped[int] = mapped_column(
        ForeignKey("studies.id", ondelete="CASCADE"), primary_key=True
    )
    strategy: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[dict[str, Any]] = mapped_column(Json)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WorkerRow(Base):
    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    device: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdempotencyRow(Base):
    """The stored answer to a non-idempotent request, replayed when it is retried."""

    __tablename__ = "idempotency_keys"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    route: Mapped[str] = mapped_column(String(128))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


STUDY_NOTE_SQL = "trial_id IS NULL"
TRIAL_NOTE_SQL = "trial_id IS NOT NULL"


class NoteRow(Base):
    """Free text about a study (`trial_id` NULL) or one of its trials; saved by
    compare-and-swap on `version` so a stale editor gets a conflict, not a lost update."""

    __tablename__ = "notes"
    __table_args__ = (
        Index(
            "uq_notes_study_note",
            "study_id",
            unique=True,
            sqlite_where=text(STUDY_NOTE_SQL),
            postgresql_where=text(STUDY_NOTE_SQL),
        ),
        Index(
            "uq_notes_trial_note",
            "trial_id",
            unique=True,
            sqlite_where=text(TRIAL_NOTE_SQL),
            postgresql_where=text(TRIAL_NOTE_SQL),
        ),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    trial_id: Mapped[int | None] = mapped_column(
        ForeignKey("trials.id", ondelete="CASCADE"), nullable=True
    )
    body: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ArtifactRow(Base):
    """A file attached to a study (`trial_id` NULL) or a trial, stored in the database so
    that replicas need no shared disk. `data` loads only when asked for."""

    __tablename__ = "artifacts"
    __table_args__ = (
        Index("ix_artifacts_study_id_trial_id", "study_id", "trial_id"),
        Index("ix_artifacts_trial_id", "trial_id"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    trial_id: Mapped[int | None] = mapped_column(
        ForeignKey("trials.id", ondelete="CASCADE"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
