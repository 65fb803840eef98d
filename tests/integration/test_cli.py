"""The asktell command line on both engines (typer's runner, same process)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from asktell.cli import app

runner = CliRunner()


def run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_db_upgrade_and_current(db_url):
    run("db", "upgrade", "--database-url", db_url)
    from asktell.db.migrate import head_revision

    out = run("db", "current", "--database-url", db_url).replace("\n", " ")
    assert f"current {head_revision()}" in out


def test_token_lifecycle(db_url):
    secret = (
        run("token", "create", "--project", "team", "--name", "ci", "--database-url", db_url)
        .strip()
        .splitlines()[-1]
    )
    assert secret.startswith("at_")
    listing = run("token", "list", "--database-url", db_url)
    assert "ci" in listing and "team" in listing and secret not in listing
    assert "revoked 1" in run("token", "revoke", "ci", "--database-url", db_url)
    again = runner.invoke(app, ["token", "revoke", "ci", "--database-url", db_url])
    assert again.exit_code == 1


def test_studies_export_import_show_list(db_url, tmp_path):
    from asktell.db import repository as repo
    from asktell.db.session import Database
    from asktell_client.types import StudyCreate

    db = Database(db_url)
    with db.write() as session:
        pid = repo.get_or_create_project(session)
        study = repo.create_study(
            session,
            project_id=pid,
            spec=StudyCreate(
                name="cli",
                strategy={"name": "random"},
                space=[{"name": "x", "type": "float", "low": 0, "high": 1}],
            ),
        )
        from asktell_client.types import TrialState

        repo.add_trial(
            session,
            study=study,
            params={"x": 0.5},
            values={"value": 2.0},
            state=TrialState.completed,
        )
        sid = study.id
    db.dispose()
    out = tmp_path / "s.json"
    run("studies", "export", str(sid), "-o", str(out), "--database-url", db_url)
    exported = json.loads(out.read_text())
    assert exported["trials"][0]["values"] == {"value": 2.0}
    exported["study"]["name"] = "cli-copy"
    out.write_text(json.dumps(exported))
    assert "with 1 trials" in run("studies", "import", str(out), "--database-url", db_url)
    listing = run("studies", "list", "--database-url", db_url)
    assert "cli-copy" in listing and "cli" in listing
    shown = json.loads(run("studies", "show", str(sid), "--database-url", db_url))
    assert shown["trial_counts"] == {"completed": 1} and shown["best_values"] == {"value": 2.0}
    bad = tmp_path / "bad.json"
    bad.write_text('{"study": {"name": "x"}}')
    result = runner.invoke(app, ["studies", "import", str(bad), "--database-url", db_url])
    assert result.exit_code == 2


def test_strategies_listing():
    out = run("strategies")
    assert "random" in out and "sobol" in out


def test_worker_rejects_bad_device(db_url):
    result = runner.invoke(app, ["worker", "--database-url", db_url, "--device", "tpu"])
    assert result.exit_code == 2 and "--device" in result.output
