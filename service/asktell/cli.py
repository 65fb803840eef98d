"""asktell serve | worker | db | token | studies | strategies."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from asktell.config import Settings
from asktell.surrogates.pfn.cli import pfn_app

app = typer.Typer(
    help="asktell: black-box and Bayesian optimization as a service.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (one project each).", no_args_is_help=True)
studies_app = typer.Typer(help="Studies, read straight from the database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
app.add_typer(studies_app, name="studies")
app.add_typer(pfn_app, name="pfn")
console = Console()

DbUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="ASKTELL_DATABASE_URL",
        help="SQLAlchemy URL (default: ~/.asktell/asktell.db)",
    ),
]


def _settings(database_url: str | None, **extra) -> Settings:
    values = {k: v for k, v in extra.items() if v is not None}
    if database_url:
        values["database_url"] = database_url
    return Settings(**values)


def _database(database_url: str | None):
    from asktell.db.migrate import upgrade
    from asktell.db.session import Database

    settings = _settings(database_url)
    if settings.is_sqlite:
        upgrade(settings.database_url)
    return Database(settings.database_url)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8420,
    database_url: DbUrl = None,
    worker: Annotated[bool, typer.Option(help="Run a strategy worker in the process")] = True,
    require_token: Annotated[bool, typer.Option(help="Refuse requests without a token")] = False,
    log_level: Annotated[str, typer.Option(help="Log level")] = "info",
    workers: Annotated[int, typer.Option(help="API processes sharing the port")] = 1,
) -> None:
    """Start the API (and dashboard) with an in-process strategy worker."""
    import uvicorn

    from asktell.api.app import create_app, is_loopback

    settings = _settings(
        database_url, host=host, port=port, require_token=require_token, embedded_worker=worker
    )
    if not is_loopback(host) and not require_token:
        console.print(
            f"[yellow]binding {host}: every request needs a token "
            "(create one with `asktell token create`)[/]"
        )
        settings.require_token = True
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)  # /readyz checks the revision
    console.print(f"asktell on http://{host}:{port}  (database {settings.database_url})")
    if workers > 1:
        # Each process builds its app from the environment (uvicorn's factory mode).
        for name, value in settings.model_dump().items():
            os.environ[f"ASKTELL_{name.upper()}"] = str(value)
        if settings.is_sqlite:
            from asktell.db.migrate import upgrade

            upgrade(settings.database_url)
        uvicorn.run(
            "asktell.api.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        return
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
    )


@app.command("worker")
def run_worker(
    database_url: DbUrl = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:<i>")] = "auto",
    lease_seconds: Annotated[float, typer.Option(help="Job lease length")] = 30.0,
    poll_interval: Annotated[float, typer.Option(help="Seconds between queue polls")] = 0.5,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads (default: all)")] = None,
) -> None:
    """Lease suggestion jobs from the database and compute them."""
    from asktell.core.errors import InvalidInput
    from asktell.db.notify import Hub
    from asktell.worker.device import limit_threads, resolve_device
    from asktell.worker.loop import Worker

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        resolved = resolve_device(device)
    except InvalidInput as exc:
        console.print(f"[red]--device: {exc.message}[/]")
        raise typer.Exit(2) from None
    limit_threads(threads)
    db = _database(database_url)
    hub = Hub()
    if not db.is_sqlite:
        hub.start_pg_listener(db.url)
    worker = Worker(
        db, hub, device=resolved, lease_seconds=lease_seconds, poll_interval=poll_interval
    )

    def _stop(*_):
        worker.stop.set()
        hub.wake_jobs()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    console.print(f"worker {worker.id} on {resolved}")
    worker.run()


@db_app.command("upgrade")
def db_upgrade(database_url: DbUrl = None, revision: str = "head") -> None:
    """Apply migrations up to `revision`."""
    from asktell.db.migrate import upgrade

    settings = _settings(database_url)
    upgrade(settings.database_url, revision)
    console.print(f"database at {revision}")


@db_app.command("current")
def db_current(database_url: DbUrl = None) -> None:
    """Print the database's migration revision."""
    from sqlalchemy import create_engine

    from asktell.db.migrate import current_revision, head_revision

    engine = create_engine(_settings(database_url).database_url)
    console.print(f"current {current_revision(engine)}  head {head_revision()}")


@token_app.command("create")
def token_create(
    project: Annotated[str, typer.Option(help="Project the token acts for")] = "default",
    name: Annotated[str, typer.Option(help="A name to find the token by")] = "token",
    read_only: Annotated[bool, typer.Option(help="Only GET requests")] = False,
    database_url: DbUrl = None,
) -> None:
    """Create a token; the secret is printed once and stored only hashed."""
    from asktell.db.repository import create_token

    with _database(database_url).write() as session:
        secret = create_token(session, project=project, name=name, can_write=not read_only)
    print(secret)


@token_app.command("revoke")
def token_revoke(name_or_prefix: str, database_url: DbUrl = None) -> None:
    """Revoke tokens by name or by the secret's first 10 characters."""
    from asktell.db.repository import revoke_token

    with _database(database_url).write() as session:
        n = revoke_token(session, prefix_or_name=name_or_prefix)
    console.print(f"revoked {n} token(s)")
    if n == 0:
        raise typer.Exit(1)


@token_app.command("list")
def token_list(database_url: DbUrl = None) -> None:
    """List tokens (never their secrets)."""
    from asktell.db.repository import list_tokens

    table = Table("name", "project", "prefix", "write", "created", "revoked")
    with _database(database_url).read() as session:
        for t, project in list_tokens(session):
            table.add_row(
                t.name,
                project,
                t.prefix,
                str(t.can_write),
                str(t.created_at),
                str(t.revoked_at or ""),
            )
    console.print(table)


def _project_id(session, project: str) -> int:
    from asktell.db.repository import get_or_create_project

    return get_or_create_project(session, name=project)


@studies_app.command("list")
def studies_list(project: str = "default", database_url: DbUrl = None) -> None:
    """List studies with trial counts and best values."""
    from asktell.db import repository as repo

    table = Table("id", "name", "state", "strategy", "trials", "completed", "best")
    with _database(database_url).write() as session:
        pid = _project_id(session, project)
        rows = repo.list_studies(session, project_id=pid, cursor=None, limit=10_000)
        counts = repo.trial_counts(session, study_ids=[r.id for r in rows])
        for r in rows:
            c = counts.get(r.id, {})
            table.add_row(
                str(r.id),
                r.name,
                r.state,
                r.strategy["name"],
                str(sum(c.values())),
                str(c.get("completed", 0)),
                json.dumps(repo.best_values(session, study=r)),
            )
    console.print(table)


@studies_app.command("show")
def studies_show(study_id: int, project: str = "default", database_url: DbUrl = None) -> None:
    """Print one study as JSON."""
    from asktell.db import repository as repo
    from asktell.db.convert import study_to_wire

    with _database(database_url).write() as session:
        row = repo.get_study(session, project_id=_project_id(session, project), study_id=study_id)
        counts = repo.trial_counts(session, study_ids=[row.id]).get(row.id, {})
        wire = study_to_wire(row, counts, repo.best_values(session, study=row))
    print(wire.model_dump_json(indent=2))


@studies_app.command("export")
def studies_export(
    study_id: int,
    output: Annotated[Path | None, typer.Option("-o", help="File (default: stdout)")] = None,
    project: str = "default",
    database_url: DbUrl = None,
) -> None:
    """Write a study and all its trials as JSON."""
    from asktell.db import repository as repo

    with _database(database_url).write() as session:
        row = repo.get_study(session, project_id=_project_id(session, project), study_id=study_id)
        text = repo.export_study(session, row=row).model_dump_json(indent=1)
    if output is None:
        print(text)
    else:
        output.write_text(text)


@studies_app.command("import")
def studies_import(file: Path, project: str = "default", database_url: DbUrl = None) -> None:
    """Create a study from an export file."""
    from pydantic import ValidationError

    from asktell.core.errors import AsktellError
    from asktell.db import repository as repo
    from asktell_client.types import StudyExport

    try:
        export = StudyExport.model_validate_json(file.read_text())
        with _database(database_url).write() as session:
            row = repo.import_study(
                session, project_id=_project_id(session, project), export=export
            )
            console.print(f"imported study {row.id} ({row.name}) with {len(export.trials)} trials")
    except (ValidationError, AsktellError) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None


@app.command("strategies")
def strategies() -> None:
    """List the registered strategies."""
    from asktell.strategies.registry import available_strategies

    table = Table("name", "inline", "description")
    for name, cls in available_strategies().items():
        table.add_row(name, "yes" if cls.inline else "", cls.description)
    console.print(table)


def main() -> None:  # pragma: no cover
    sys.exit(app())
