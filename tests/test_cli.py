"""The ``accord`` command as an operator uses it."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner
from litestar.testing import TestClient

from app.cli import main
from app.web import app as web_app


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "ACCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "ACCORD_DATA_DIR": str(tmp_path),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def test_db_upgrade_current_downgrade(env: dict[str, str]) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["db", "current"]).output.startswith("base")
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    assert "(head)" in runner.invoke(main, ["db", "current"]).output
    assert runner.invoke(main, ["db", "downgrade", "base"]).exit_code == 0


def test_users_and_tokens(env: dict[str, str]) -> None:
    runner = CliRunner()
    runner.invoke(main, ["db", "upgrade"])
    created = runner.invoke(
        main,
        ["users", "create", "--email", "lee@example.test", "--role", "lead", "--password-stdin"],
        input="a long enough password\n",
    )
    assert created.exit_code == 0, created.output
    assert "password" not in created.output.split("(lead)")[1]
    generated = runner.invoke(
        main, ["users", "create", "--email", "ann@example.test", "--role", "annotator"]
    )
    assert "password (shown once): " in generated.output
    short = runner.invoke(
        main,
        ["users", "create", "--email", "x@example.test", "--role", "annotator", "--password-stdin"],
        input="short\n",
    )
    assert short.exit_code != 0 and "password: at least 10 characters" in short.output
    dup = runner.invoke(main, ["users", "create", "--email", "LEE@example.test", "--role", "lead"])
    assert dup.exit_code != 0 and "already exists" in dup.output
    token = runner.invoke(
        main,
        [
            "tokens",
            "create",
            "--email",
            "lee@example.test",
            "--name",
            "ci",
            "--scope",
            "export:read",
        ],
    )
    assert token.exit_code == 0, token.output
    assert token.output.strip().splitlines()[-1].startswith("acc_")
    bad_scope = runner.invoke(
        main,
        ["tokens", "create", "--email", "lee@example.test", "--name", "x", "--scope", "everything"],
    )
    assert bad_scope.exit_code != 0 and "unknown scope" in bad_scope.output
    no_project = runner.invoke(
        main,
        ["tokens", "create", "--email", "lee@example.test", "--name", "x", "--project", "nope"],
    )
    assert no_project.exit_code != 0 and "no project 'nope'" in no_project.output


def test_malformed_database_url_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "db", "current"],
        env={"ACCORD_DATABASE_URL": "nonsense", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "ACCORD_DATABASE_URL is not a database URL" in result.stderr


def test_production_without_secret_refuses_to_serve(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "serve"],
        env={
            "ACCORD_ENV": "production",
            "PATH": "/usr/bin:/bin",
            "ACCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ACCORD_SECRET_KEY is required" in result.stderr


def test_admin_manages_people_and_tokens_from_the_cli(env: dict[str, str]) -> None:
    runner = CliRunner()
    runner.invoke(main, ["db", "upgrade"])
    runner.invoke(main, ["users", "create", "--email", "ann@example.test", "--role", "annotator"])
    assert (
        "lead"
        in runner.invoke(
            main, ["users", "set-role", "--email", "ann@example.test", "--role", "lead"]
        ).output
    )
    token = (
        runner.invoke(main, ["tokens", "create", "--email", "ann@example.test", "--name", "ci"])
        .output.strip()
        .splitlines()[-1]
    )
    listing = runner.invoke(main, ["tokens", "list"]).output
    assert token[:10] in listing and token not in listing and "active" in listing
    token_id = listing.split()[0]
    assert runner.invoke(main, ["tokens", "revoke", token_id]).exit_code == 0
    assert "revoked" in runner.invoke(main, ["tokens", "list"]).output
    assert runner.invoke(main, ["users", "disable", "--email", "ann@example.test"]).exit_code == 0
    assert "disabled" in runner.invoke(main, ["users", "list"]).output
    assert runner.invoke(main, ["users", "enable", "--email", "ann@example.test"]).exit_code == 0
    missing = runner.invoke(main, ["users", "disable", "--email", "nobody@example.test"])
    assert missing.exit_code != 0 and "no user with email" in missing.output


def test_demo_loads_once_and_prints_the_logins_once(env: dict[str, str], tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["demo"])
    assert first.exit_code == 0, first.output
    assert "Demo logins (shown once)" in first.output
    assert first.output.count("@demo.accord.test") == 7
    saved = tmp_path / "demo-logins.txt"
    assert saved.stat().st_mode & 0o777 == 0o600
    second = runner.invoke(main, ["demo"])
    assert second.exit_code == 0 and "already loaded" in second.output
    assert "@demo.accord.test" not in second.output


@pytest.mark.parametrize("workers", [1, 2])
def test_served_app_takes_its_start_up_heap_out_of_the_collectors_sight(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """``accord serve`` (one process, or each of ``--workers N``) freezes what is alive once
    it has started, so full collections no longer walk it; an app built for tests does not."""
    monkeypatch.setenv("ACCORD_LOAD_DEMO", "false")
    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **options: served.append(target))
    assert CliRunner().invoke(main, ["serve", "--workers", str(workers)]).exit_code == 0
    (target,) = served
    if workers > 1:
        assert target == "app.web.app:create_served_app"
        target = web_app.create_served_app()
    gc.unfreeze()
    with TestClient(app=web_app.create_app()) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() == 0
    try:
        with TestClient(app=target) as client:
            assert client.get("/healthz").status_code == 200
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
