"""Label Studio as the reference server of the labeling bench (``bench_labeling.py
--label-studio PATH``): the same items, annotators, overlap k and next -> submit loop, run
against Label Studio on the same databases, so the figures come with ratios measured on the
same machine in the same run.

Label Studio is not a dependency of Accord: install it into a virtualenv of its own and pass
its ``label-studio`` executable, e.g.::

    python3 -m venv /tmp/label-studio && /tmp/label-studio/bin/pip install label-studio
    .venv/bin/python scripts/bench_labeling.py --label-studio /tmp/label-studio/bin/label-studio

It runs as ``label-studio start`` runs it (Django's threaded server), with its request log at
WARNING as Accord's is, on an SQLite file (its default) and on PostgreSQL (what its guide
advises for concurrent users, through its documented ``DJANGO_DB``/``POSTGRE_*`` settings).
Setup, not measured: one ``label-studio init`` per database (the lead, a legacy API token),
copied for every run, the annotators and their tokens created through Label Studio's own
models, and a project with one choice per label and ``maximum_annotations`` = k. Measured like
Accord: the import of the items in one request, then each annotator looping
``GET /api/projects/{id}/next/`` (the labeling stream's next task, locked to them) ->
``POST /api/tasks/{id}/annotations/``; afterwards its database is asked how many tasks got more
than k annotations.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg
from bench_labeling import (
    LABELS,
    REQUEST_TIMEOUT_S,
    ImportResult,
    Loop,
    Options,
    OverlapCheck,
    QueueEmpty,
    RunResult,
    Server,
    TaskId,
    ThreadLog,
    annotator_emails,
    expect,
    log_problems,
    make_items,
    peak_rss_kib,
    record_error,
    run_labeling,
    served,
    timed_request,
)
from psycopg import sql
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

LEAD_EMAIL = "lead@bench.example"
SETUP_TIMEOUT_S = 600.0
PEOPLE = """
import json, os, sys
import label_studio
sys.path.insert(0, os.path.dirname(label_studio.__file__))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "label_studio.core.settings.label_studio")
import django
django.setup()
from organizations.models import Organization
from rest_framework.authtoken.models import Token
from users.models import User
organization = Organization.objects.first()
tokens = []
for email in json.loads(sys.argv[1]):
    user = User.objects.create_user(email=email, password=sys.argv[2])
    organization.add_user(user)
    user.active_organization = organization
    user.save(update_fields=["active_organization"])
    tokens.append(Token.objects.get_or_create(user=user)[0].key)
print(json.dumps(tokens))
"""
"""Run by Label Studio's own interpreter with the annotators' emails (a JSON list) and their
password: the annotators, members of its one organization, with a token each (printed as a JSON
list)."""


def _run(command: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(  # noqa: S603 (the executable the user named, fixed arguments)
        command, env=env, capture_output=True, text=True, timeout=SETUP_TIMEOUT_S, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout


@dataclass(frozen=True)
class Running:
    """A Label Studio server of one run, its annotators' tokens and its database."""

    server: Server
    tokens: list[str]
    data_dir: Path
    database_name: str


class LabelStudio:
    """One Label Studio installation on SQLite or PostgreSQL; :meth:`initialize` runs its
    migrations once, and every run gets a copy of that database."""

    def __init__(self, executable: Path, database: str, admin_url: str) -> None:
        self.executable = executable
        self.python = executable.parent / "python"
        self.database = database
        self.admin_url = admin_url
        self.template = Path(tempfile.mkdtemp(prefix="accord-bench-label-studio-"))
        self.template_name = f"label_studio_bench_{os.getpid()}_template"
        self.created: list[str] = []  # PostgreSQL databases to drop
        self.password = secrets.token_urlsafe(12)
        self.lead_token = secrets.token_hex(20)  # a legacy API token, set by `init`
        self.last_log_problems: list[str] = []
        version = "import label_studio; print(label_studio.__version__)"
        self.version = _run([str(self.python), "-c", version], dict(os.environ)).strip()

    def _env(self, data_dir: Path, database_name: str) -> dict[str, str]:
        env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir)}
        if self.database == "postgresql":  # Label Studio's documented settings
            url = make_url(self.admin_url)
            env |= {
                "DJANGO_DB": "default",
                "POSTGRE_NAME": database_name,
                "POSTGRE_USER": url.username or "postgres",
                "POSTGRE_PASSWORD": url.password or "",
                "POSTGRE_HOST": url.host or "127.0.0.1",
                "POSTGRE_PORT": str(url.port or 5432),
            }
        return env

    def _create_database(self, name: str, template: str | None = None) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template is not None:
                create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            conn.execute(create)
        self.created.append(name)

    def initialize(self) -> None:
        """The database with its migrations, the organization and the lead (about a minute)."""
        if self.database == "postgresql":
            self._create_database(self.template_name)
        command = [str(self.executable), "init", "--username", LEAD_EMAIL]
        command += ["--password", self.password, "--user-token", self.lead_token]
        _run([*command, "--enable-legacy-api-token"], self._env(self.template, self.template_name))

    def close(self) -> None:
        """Remove the template and every database made."""
        shutil.rmtree(self.template, ignore_errors=True)
        if self.created:
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                for name in reversed(self.created):
                    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                    conn.execute(drop.format(sql.Identifier(name)))

    @contextmanager
    def server(self, annotators: int, run: int) -> Iterator[Running]:
        """A copy of the template with the annotators added, served."""
        work_dir = Path(tempfile.mkdtemp(prefix="accord-bench-label-studio-run-"))
        data_dir = work_dir / "data"
        shutil.copytree(self.template, data_dir)
        name = f"label_studio_bench_{os.getpid()}_{run}"
        if self.database == "postgresql":
            self._create_database(name, template=self.template_name)
        env = self._env(data_dir, name)
        emails = json.dumps(annotator_emails(annotators))
        log_path = work_dir / "server.log"

        def command(port: int) -> list[str]:
            start = [str(self.executable), "start", "--no-browser", "--host", "127.0.0.1"]
            return [*start, "--port", str(port), "--log-level", "WARNING"]

        try:
            out = _run([str(self.python), "-c", PEOPLE, emails, self.password], env)
            tokens = json.loads(out.strip().splitlines()[-1])
            try:
                with served(command, log_path, "/health", "label-studio", env=env) as server:
                    yield Running(server, tokens, data_dir, name)
            finally:
                self.last_log_problems = log_problems(log_path)
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)

    def overlap_check(self, running: Running, overlap: int) -> OverlapCheck:
        """Items over k and items one annotator labeled twice, in the run's database."""
        labels = ("task_completion", "task_id", "completed_by_id", "NOT was_cancelled")
        if self.database == "postgresql":
            conninfo = make_conninfo(self.admin_url, dbname=running.database_name)
            with psycopg.connect(conninfo) as pg:
                return OverlapCheck.count(lambda q: _one(pg.execute(q)), overlap, *labels)
        with closing(sqlite3.connect(running.data_dir / "label_studio.sqlite3")) as lite:
            return OverlapCheck.count(lambda q: _one(lite.execute(q)), overlap, *labels)


def _one(cursor: Any) -> int:
    """The one number a counting query's cursor holds."""
    return int(cursor.fetchone()[0])


def _label_config() -> str:
    choices = "".join(f'<Choice value="{label}"/>' for label in LABELS)
    return (
        '<View><Text name="text" value="$text"/>'
        f'<Choices name="label" toName="text" choice="single">{choices}</Choices></View>'
    )


def create_reference_project(lead: httpx.Client, overlap: int) -> int:
    body = {
        "title": f"Benchmark k={overlap}",
        "label_config": _label_config(),
        "maximum_annotations": overlap,
    }
    return int(expect(lead.post("/api/projects/", json=body), 201).json()["id"])


def _import(lead: httpx.Client, project_id: int, rows: list[dict[str, Any]]) -> ImportResult:
    """The items as Label Studio tasks (``data.text``), in one request, timed."""
    body = json.dumps(
        [{"text": row["text"], "external_id": row["external_id"]} for row in rows]
    ).encode()
    headers = {"Content-Type": "application/json"}
    started = time.perf_counter()
    response = lead.post(f"/api/projects/{project_id}/import", content=body, headers=headers)
    created = int(expect(response, 201).json()["task_count"])
    return ImportResult(time.perf_counter() - started, 1, created)


def _lease(client: httpx.Client, log: ThreadLog, project_id: int) -> int | None:
    response = timed_request(client, log, "next", f"/api/projects/{project_id}/next/", method="GET")
    if response is None:
        return None
    # 404 is also how Label Studio says the tasks left are locked by others: an error, retried.
    if response.status_code == 404 and "locked" not in response.text:
        log.empty_queue += 1
        raise QueueEmpty
    if response.status_code != 200:
        record_error(log, "next", response, "")
        return None
    return int(response.json()["id"])


def _submit(
    client: httpx.Client, log: ThreadLog, task_id: TaskId, rng: random.Random, project_id: int
) -> bool:
    choice = {"choices": [rng.choice(LABELS)]}
    result = [{"from_name": "label", "to_name": "text", "type": "choices", "value": choice}]
    body = {"result": result, "lead_time": rng.randint(800, 9000) / 1000}
    url = f"/api/tasks/{task_id}/annotations/?project={project_id}"
    response = timed_request(client, log, "submit", url, body)
    if response is None:
        return False
    if response.status_code != 201:
        record_error(log, "submit", response, "")
        return False
    return True


def reference_run(label_studio: LabelStudio, overlap: int, run: int, options: Options) -> RunResult:
    """Label Studio on the bench's workload with overlap k."""
    with label_studio.server(options.annotators, run) as running:
        headers = {"Authorization": f"Token {label_studio.lead_token}"}
        with httpx.Client(
            base_url=running.server.base_url, headers=headers, timeout=REQUEST_TIMEOUT_S
        ) as lead:
            project_id = create_reference_project(lead, overlap)
            rows = make_items(options.items, random.Random(options.seed))
            imported = _import(lead, project_id, rows)
        loop = Loop(
            running.server.base_url,
            "Token",
            partial(_lease, project_id=project_id),
            partial(_submit, project_id=project_id),
        )
        labeling = run_labeling(running.server.process.pid, loop, running.tokens, options)
        peak = peak_rss_kib(running.server.process.pid)
        check = label_studio.overlap_check(running, overlap)
    problems = label_studio.last_log_problems
    return RunResult(
        label_studio.database, overlap, imported, labeling, peak, problems, check, "label-studio"
    )
