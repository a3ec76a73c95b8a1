"""The export's 'done when': a training script using only httpx and Polars pulls a snapshot from
a live server, verifies its hash and loads it (``scripts/train_example.py``, run as a process)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from app.db.engine import make_engine
from app.domain.demo import DEMO_SLUG, load_demo
from app.domain.people import get_user_by_email
from app.domain.projects import add_member, get_project
from app.domain.tokens import create_token

if TYPE_CHECKING:
    from tests.browser.conftest import LiveServer

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_example.py"


def test_a_training_script_pulls_verifies_and_loads_a_snapshot(live_server: LiveServer) -> None:
    # Given the demo and a lead's token limited to exporting this project
    live_server.create_user(email="lee@example.org", password="correct horse", role="lead")
    engine = make_engine(live_server.settings.database_url)
    try:
        with Session(engine) as s:
            load_demo(s)
            lead = get_user_by_email(s, "lee@example.org")
            add_member(s, get_project(s, DEMO_SLUG), lead, actor_id=None)
            _, token = create_token(
                s,
                lead,
                name="trainer",
                project_slugs=[DEMO_SLUG],
                scopes=["export:read", "jobs:read"],
                actor_id=None,
            )
            s.commit()
    finally:
        engine.dispose()
    # When the script runs against the live server
    done = subprocess.run(
        [sys.executable, str(SCRIPT), live_server.url, token, DEMO_SLUG],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    # Then it verified the hash and loaded the rows
    assert done.returncode == 0, done.stderr
    assert "verified" in done.stdout
    assert any(line.strip().startswith("negative:") for line in done.stdout.splitlines())
