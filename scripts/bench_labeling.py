"""Benchmark of Accord's labeling loop over HTTP (a benchmark, not a test: it asserts nothing).

For every database (SQLite, then PostgreSQL) and every overlap k (1, then 3) it:

1. makes a fresh database (a SQLite file in a temporary directory, or a PostgreSQL database
   ``accord_bench_<pid>_<n>`` that is dropped afterwards) and starts ``accord serve`` on a free
   port as a subprocess (embedded job worker, no demo), waiting for ``/healthz``;
2. creates one lead and the annotators, each with an API token, directly through the domain
   functions (setup, not measured); the lead creates a ``single_choice`` project with overlap k
   and adds the annotators;
3. imports the items through ``POST /api/v1/projects/{slug}/items`` in as few requests as the
   import limits allow, and times the whole import;
4. runs the simulated annotators, one thread and one ``httpx.Client`` each, all looping
   ``POST .../tasks/next`` -> ``POST /tasks/{id}/submit`` until the shared number of
   submissions is reached (or the queue answers 204), timing every request; with ``--rate``
   each annotator waits for its turn, so that all together aim at that many submissions per
   second (latency below saturation);
5. prints the import time, p50/p95/p99 latency of ``next`` and ``submit``, submissions per
   second over the labeling phase's wall time, the errors (any answer other than 2xx; 204 from
   ``next`` is counted separately), the CPU time the server, the client and (on PostgreSQL)
   the database server's processes spent per submission, the server's peak RSS (``VmHWM``),
   and, read from the database, how many items were labeled more than k times or twice by one
   annotator (both must be 0), then stops the server.

With ``--label-studio PATH`` and ``--potato PATH`` the same workload also runs against Label
Studio and Potato, the reference annotation servers, and the figures come with ratios
(``scripts/bench_reference.py`` and ``scripts/bench_potato.py`` say how to install them and how
they are run).

The client threads share the machine with the server, so the latencies include the client's own
time (on a 2-core machine that is noticeable), and anything else running on the machine shows in
every figure; the server's CPU time per submission is the one least disturbed by such noise.

Targets on a 2-core machine, for SQLite: p95 of ``next`` and ``submit`` under 25 ms, at least 300
submissions/s, 10,000 items imported in under 2 s; they are shown next to the figures of every
run (of PostgreSQL's too, for comparison).

Run it from the repository root (no test database or server needs to be running; PostgreSQL is
skipped with a message when it cannot be reached)::

    .venv/bin/python scripts/bench_labeling.py
    .venv/bin/python scripts/bench_labeling.py --items 500 --submissions 200 --databases sqlite
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from app.db.engine import make_engine, make_session_factory, session_scope
from app.domain.item_parsing import MAX_ROWS_PER_REQUEST
from app.domain.people import create_user
from app.domain.tokens import create_token
from app.settings import Settings

DATABASES = ("sqlite", "postgresql")
LABELS = ("positive", "negative", "neutral")
RULE_TAG = "sarcasm"
TARGET_P95_MS = 25.0
TARGET_SUBMISSIONS_PER_S = 300.0
TARGET_IMPORT_S_PER_10K = 2.0
HEALTH_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0
REQUEST_TIMEOUT_S = 60.0
ACCORD = Path(sys.executable).parent / "accord"
SENTENCES = (
    "the delivery was late again and nobody answered my emails about the refund",
    "great product works exactly as described would buy again from this seller",
    "battery life is shorter than advertised but the screen is bright and sharp",
    "customer service kept me on hold for an hour then hung up on me",
    "not sure how I feel about the new update some things are better others worse",
    "oh wonderful another password reset email just what I needed today",
)
WORDS = tuple(word for sentence in SENTENCES for word in sentence.split())


@dataclass(frozen=True)
class Options:
    """The command-line options."""

    items: int
    submissions: int
    annotators: int
    databases: tuple[str, ...]
    overlaps: tuple[int, ...]
    workers: int
    broker_url: str
    postgres_url: str
    seed: int
    label_studio: Path | None = None
    potato: Path | None = None
    reference_submissions: int = 300
    rate: float | None = None


@dataclass(frozen=True)
class Server:
    """A running ``accord serve`` subprocess."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path


@dataclass(frozen=True)
class People:
    """The lead's token and one token per annotator."""

    lead_token: str
    annotator_emails: tuple[str, ...]
    annotator_tokens: tuple[str, ...]


@dataclass(frozen=True)
class ImportResult:
    """How long importing the items took, in how many requests (NaN seconds: a server that
    reads its items from a file at start, with no import to time)."""

    seconds: float
    requests: int
    created: int


@dataclass(frozen=True)
class Prepared:
    """A project ready for labeling: who works on it, its slug, how its import went."""

    people: People
    slug: str
    imported: ImportResult


@dataclass
class ThreadLog:
    """One annotator thread's measurements (merged after the run; no locking needed)."""

    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: {"next": [], "submit": []})
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: dict[str, str] = field(default_factory=dict)
    empty_queue: int = 0
    submitted: int = 0


@dataclass(frozen=True)
class Clocks:
    """Wall time, the server's CPU time, PostgreSQL's and this process's, at one moment."""

    wall: float
    server_cpu: float
    client_cpu: float
    database_cpu: float

    @classmethod
    def read(cls, server_pid: int) -> Clocks:
        """The clocks now."""
        return cls(
            time.perf_counter(), cpu_seconds(server_pid), time.process_time(), postgres_cpu()
        )


@dataclass(frozen=True)
class LabelingResult:
    """What the labeling phase measured, merged over all threads."""

    wall_seconds: float
    server_cpu_s: float
    client_cpu_s: float
    database_cpu_s: float
    submitted: int
    latencies_ms: dict[str, list[float]]
    errors: Counter[str]
    error_samples: dict[str, str]
    empty_queue: int


@dataclass(frozen=True)
class RunResult:
    """One database and overlap: import, labeling and memory."""

    database: str
    overlap: int
    imported: ImportResult
    labeling: LabelingResult
    peak_rss_kib: int
    log_problems: list[str]
    overlap_check: OverlapCheck
    server: str = "accord"


@dataclass(frozen=True)
class OverlapCheck:
    """Read from the server's database after the run: items labeled more than k times in one
    round, and items one annotator labeled twice in one round (both must be 0)."""

    over_k: int
    twice: int

    @classmethod
    def count(
        cls, scalar: Callable[[str], int], k: int, labels: str, item: str, user: str, live: str
    ) -> OverlapCheck:
        """Count both in the table of labels ``labels`` (``item`` may list the round too).
        The names are this script's own constants, never input."""
        grouped = f"SELECT 1 FROM {labels} WHERE {live} GROUP BY {item}"  # noqa: S608
        over_k = f"SELECT count(*) FROM ({grouped} HAVING count(*) > {int(k)}) AS o"  # noqa: S608
        twice = f"SELECT count(*) FROM ({grouped}, {user} HAVING count(*) > 1) AS t"  # noqa: S608
        return cls(over_k=scalar(over_k), twice=scalar(twice))


def accord_overlap_check(database_url: str, k: int) -> OverlapCheck:
    """The live annotations of Accord's database, per item and labeling round."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:

            def scalar(query: str) -> int:
                return int(connection.execute(text(query)).scalar_one())

            live = "retracted_at IS NULL"
            return OverlapCheck.count(
                scalar, k, "annotations", "item_id, label_round", "user_id", live
            )
    finally:
        engine.dispose()


class Tickets:
    """The shared submission budget: a thread takes a ticket before each next -> submit and
    gives it back when that attempt failed; too many failures stop the run."""

    def __init__(self, total: int, max_failures: int) -> None:
        self._left = total
        self._failures = 0
        self._max_failures = max_failures
        self._lock = threading.Lock()
        self.stop = threading.Event()

    def take(self) -> bool:
        """True if a submission is still wanted (and reserve it)."""
        with self._lock:
            if self.stop.is_set() or self._left <= 0:
                return False
            self._left -= 1
            return True

    def give_back(self, *, failed: bool) -> None:
        """Return an unused ticket; a failure counts towards the run's failure limit."""
        with self._lock:
            self._left += 1
            if failed:
                self._failures += 1
                if self._failures > self._max_failures:
                    self.stop.set()


# --- options and machine ----------------------------------------------------------------------


def parse_options(argv: Sequence[str] | None = None) -> Options:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10_000, help="items to import per run")
    parser.add_argument("--submissions", type=int, default=3_000, help="submissions per run")
    parser.add_argument("--annotators", type=int, default=20, help="concurrent annotators")
    parser.add_argument(
        "--databases", default=",".join(DATABASES), help="comma-separated: sqlite,postgresql"
    )
    parser.add_argument("--k", default="1,3", help="comma-separated overlaps to run")
    parser.add_argument("--workers", type=int, default=1, help="`accord serve --workers`")
    parser.add_argument(
        "--broker-url",
        default="embedded",
        help="ACCORD_BROKER_URL for the server (embedded: every web process runs jobs too)",
    )
    parser.add_argument(
        "--postgres-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="admin connection used to create and drop the benchmark databases",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed for item texts and labels")
    parser.add_argument(
        "--label-studio",
        type=Path,
        metavar="PATH",
        help="also run Label Studio (its `label-studio` executable) on the same databases as "
        "the reference server; see scripts/bench_reference.py",
    )
    parser.add_argument(
        "--potato",
        type=Path,
        metavar="PATH",
        help="also run Potato (its `potato` executable) on its own storage, compared with "
        "Accord on SQLite; see scripts/bench_potato.py",
    )
    parser.add_argument(
        "--reference-submissions",
        type=int,
        default=300,
        help="submissions per Label Studio or Potato run (they are much slower; the rates "
        "compare anyway)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        help="pace the annotators to about this many submissions/s in all (each waits for its "
        "turn before taking the next task), to see latency below saturation; default: as fast "
        "as the server answers",
    )
    args = parser.parse_args(argv)
    databases = tuple(d.strip() for d in args.databases.split(",") if d.strip())
    unknown = sorted(set(databases) - set(DATABASES))
    if unknown:
        parser.error(f"unknown database(s) {', '.join(unknown)}; choose from {DATABASES}")
    try:
        overlaps = tuple(int(k) for k in args.k.split(",") if k.strip())
    except ValueError:
        parser.error(f"--k must be whole numbers separated by commas, got {args.k!r}")
    counts = (args.items, args.submissions, args.annotators, args.workers, *overlaps)
    if min(*counts, args.reference_submissions) < 1:
        parser.error(
            "--items, --submissions, --annotators, --workers, --k and "
            "--reference-submissions must be >= 1"
        )
    if args.rate is not None and not args.rate > 0:
        parser.error(f"--rate must be a positive number of submissions per second, got {args.rate}")
    if args.workers < 1:
        parser.error(f"--workers must be 1 or more, got {args.workers}")
    for option, path in (("--label-studio", args.label_studio), ("--potato", args.potato)):
        if path is not None and not os.access(path, os.X_OK):
            parser.error(f"{option} {path} is not an executable")
    if max(overlaps) > args.annotators:
        parser.error("k cannot exceed --annotators (an item needs k different annotators)")
    return Options(
        items=args.items,
        submissions=args.submissions,
        annotators=args.annotators,
        databases=databases,
        overlaps=overlaps,
        workers=args.workers,
        broker_url=args.broker_url,
        postgres_url=args.postgres_url,
        seed=args.seed,
        label_studio=args.label_studio,
        potato=args.potato,
        reference_submissions=args.reference_submissions,
        rate=args.rate,
    )


def cpu_model() -> str:
    """The CPU model named in /proc/cpuinfo."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory_total() -> str:
    """Installed memory from /proc/meminfo."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def postgres_version(admin_url: str) -> str | None:
    """The PostgreSQL server's version, or None if it cannot be reached."""
    try:
        with psycopg.connect(admin_url, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
    except psycopg.Error:
        return None
    return str(row[0]) if row else None


def print_machine(pg_version: str | None) -> None:
    """Describe what the figures were measured on."""
    print("machine")
    print(f"  cpu          {cpu_model()}")
    print(f"  cores        {os.cpu_count()} ({len(os.sched_getaffinity(0))} usable)")
    print(f"  memory       {memory_total()}")
    print(f"  os           {platform.platform()}")
    print(f"  python       {platform.python_version()} ({platform.python_implementation()})")
    print(f"  sqlite       {sqlite3.sqlite_version}")
    print(f"  postgresql   {pg_version or 'unreachable'}")
    print(f"  httpx        {httpx.__version__}")
    print(
        f"  speed        {interpreter_speed():.0f} ns per loop step (pure Python; higher is slower)"
    )


def interpreter_speed(steps: int = 5_000_000, repeats: int = 3) -> float:
    """Nanoseconds per step of a fixed pure-Python loop, best of ``repeats``: the same shared
    host ran this project's benchmarks at a third of their speed on some days, and this figure
    tells such a day from a change in the code."""
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        total = 0
        for step in range(steps):
            total += step
        best = min(best, time.perf_counter() - started)
    return best / steps * 1e9


# --- databases and the server -----------------------------------------------------------------


@contextmanager
def fresh_database(database: str, work_dir: Path, admin_url: str, run: int) -> Iterator[str]:
    """Yield the Accord database URL of an empty database, removed afterwards."""
    if database == "sqlite":
        yield f"sqlite:///{work_dir / 'accord.db'}"
        return
    name = f"accord_bench_{os.getpid()}_{run}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = make_url(admin_url).set(drivername="postgresql+psycopg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(database_url: str, data_dir: Path, broker_url: str) -> dict[str, str]:
    """The environment for ``accord serve``: this database, no demo, quiet logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    env.update(
        ACCORD_ENV="test",
        ACCORD_DATABASE_URL=database_url,
        ACCORD_BROKER_URL=broker_url,
        ACCORD_LOAD_DEMO="false",
        ACCORD_DATA_DIR=str(data_dir),
        ACCORD_SECRET_KEY=secrets.token_urlsafe(48),
        ACCORD_LOG_LEVEL="WARNING",
    )
    return env


def wait_until_healthy(server: Server, health: str, name: str) -> None:
    """Poll the server's ``health`` path until it answers 200; raise (with the log) if the
    server dies or hangs."""
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{name} exited early:\n{log_tail(server.log_path)}")
        try:
            if httpx.get(f"{server.base_url}{health}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{name} was not healthy after {HEALTH_TIMEOUT_S:.0f} s")


def log_tail(path: Path, lines: int = 30) -> str:
    """The end of the server's log."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def log_problems(path: Path) -> list[str]:
    """Lines of the server's log that report an error or a traceback."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    markers = ("Traceback", "ERROR", "CRITICAL", "Exception")
    return [line for line in lines if any(marker in line for marker in markers)]


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM and wait; SIGKILL if it will not stop."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        print(f"  (server {process.pid} ignored SIGTERM for {STOP_TIMEOUT_S:.0f} s; killing it)")
        process.kill()
        process.wait()


@contextmanager
def served(
    command: Callable[[int], list[str]],
    log_path: Path,
    health: str,
    name: str,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[Server]:
    """Start a server, ``command(port)`` on a free port with its output in ``log_path``; yield
    it once ``health`` answers 200, and stop it afterwards. (Accord's and the reference
    servers' alike: the commands are this script's own or name the executable the user gave.)
    """
    port = free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 (see above)
            command(port), env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT
        )
    server = Server(process, f"http://127.0.0.1:{port}", log_path)
    try:
        wait_until_healthy(server, health, name)
        yield server
    finally:
        stop_server(process)


def running_server(
    database_url: str, work_dir: Path, options: Options
) -> AbstractContextManager[Server]:
    """Start ``accord serve`` (it migrates the database first) and stop it afterwards."""

    def command(port: int) -> list[str]:
        serve = [str(ACCORD), "serve", "--host", "127.0.0.1", "--port", str(port)]
        return [*serve, "--workers", str(options.workers)]

    env = server_env(database_url, work_dir / "data", options.broker_url)
    return served(command, work_dir / "server.log", "/healthz", "accord serve", env=env)


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants (uvicorn's worker processes with --workers > 1)."""
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                queue += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    return pids


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time used so far by the server's process tree."""
    ticks = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def postgres_cpu() -> float:
    """CPU time used so far by this machine's PostgreSQL: every ``postgres`` process's user and
    system time plus that of its children that ended (a backend's time passes to the server
    process when it exits). 0 where PostgreSQL does not run or ``/proc`` hides it."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, rest = stat.read_text().split("(", 1)[1].rsplit(")", 1)
        except (OSError, ValueError):
            continue
        if name == "postgres":
            fields = rest.split()
            ticks += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def peak_rss_kib(pid: int) -> int:
    """Sum of ``VmHWM`` (peak resident set) over the server's process tree, in KiB."""
    total = 0
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total


# --- setup through the domain and the API -----------------------------------------------------


def annotator_emails(count: int) -> tuple[str, ...]:
    """The simulated annotators' emails, the same on every server."""
    return tuple(f"annotator{n:02d}@bench.example" for n in range(1, count + 1))


def create_people(database_url: str, annotators: int) -> People:
    """A lead and the annotators with one API token each (argon2 makes this take a moment)."""
    engine = make_engine(database_url)
    password = secrets.token_urlsafe(18)
    emails = annotator_emails(annotators)
    try:
        with session_scope(make_session_factory(engine), immediate=True) as session:
            lead, _ = create_user(
                session, email="lead@bench.example", role="lead", password=password
            )
            _, lead_token = create_token(session, lead, name="bench", actor_id=None)
            tokens = []
            for email in emails:
                user, _ = create_user(session, email=email, role="annotator", password=password)
                tokens.append(create_token(session, user, name="bench", actor_id=None)[1])
    finally:
        engine.dispose()
    return People(lead_token, emails, tuple(tokens))


def expect(response: httpx.Response, *statuses: int) -> httpx.Response:
    """The response if its status is one of ``statuses``; otherwise raise with the body."""
    if response.status_code not in statuses:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:500]}"
        )
    return response


def create_project(lead: httpx.Client, slug: str, overlap: int, emails: Sequence[str]) -> None:
    """A single-choice project with one rule, and the annotators as members."""
    body = {
        "slug": slug,
        "name": f"Benchmark k={overlap}",
        "kind": "single_choice",
        "overlap": overlap,
        "labels": [{"key": key, "name": key.title()} for key in LABELS],
        "rules": [{"tag": RULE_TAG, "text": "Label the literal meaning, not the irony."}],
    }
    expect(lead.post("/api/v1/projects/", json=body), 201)
    for email in emails:
        expect(lead.post(f"/api/v1/projects/{slug}/members", json={"email": email}), 201)


def make_items(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Item rows of 12 to 40 words; every tenth carries the rule's tag, every fifth is eval."""
    rows = []
    for n in range(count):
        row: dict[str, Any] = {
            "external_id": f"item-{n:06d}",
            "text": " ".join(rng.choices(WORDS, k=rng.randint(12, 40))),
            "split": "eval" if n % 5 == 4 else "train",
        }
        if n % 10 == 9:
            row["tags"] = [RULE_TAG]
        rows.append(row)
    return rows


def import_bodies(rows: Sequence[dict[str, Any]], max_rows: int, max_bytes: int) -> list[bytes]:
    """The rows as JSON array bodies, as few as the row and body-size limits allow."""
    bodies: list[bytes] = []
    chunk: list[bytes] = []
    size = 2  # the brackets
    for row in rows:
        encoded = json.dumps(row, separators=(",", ":")).encode()
        if chunk and (len(chunk) >= max_rows or size + len(encoded) + 1 > max_bytes):
            bodies.append(b"[" + b",".join(chunk) + b"]")
            chunk, size = [], 2
        chunk.append(encoded)
        size += len(encoded) + 1
    if chunk:
        bodies.append(b"[" + b",".join(chunk) + b"]")
    return bodies


def import_items(lead: httpx.Client, slug: str, rows: Sequence[dict[str, Any]]) -> ImportResult:
    """Import the rows (bodies are encoded before the clock starts) and time every request."""
    bodies = import_bodies(rows, MAX_ROWS_PER_REQUEST, Settings().max_body_bytes)
    headers = {"Content-Type": "application/json"}
    created = 0
    started = time.perf_counter()
    for body in bodies:
        response = lead.post(f"/api/v1/projects/{slug}/items", content=body, headers=headers)
        created += expect(response, 201).json()["created"]
    return ImportResult(time.perf_counter() - started, len(bodies), created)


# --- the simulated annotators -----------------------------------------------------------------


def error_code(response: httpx.Response) -> str:
    """The ``code`` of Accord's JSON error body (``{"error": {"code": ...}}``), or ""."""
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("code", "")) if isinstance(error, dict) else ""


def record_error(log: ThreadLog, kind: str, response: httpx.Response | None, detail: str) -> None:
    """Count a failed request by type, status and error code, keeping one sample answer."""
    if response is None:
        key, sample = f"{kind} {detail}", detail
    else:
        key = f"{kind} {response.status_code} {error_code(response)}".rstrip()
        sample = " ".join(response.text.split())[:300]
    log.errors[key] += 1
    log.error_samples.setdefault(key, sample)


def timed_request(
    client: httpx.Client,
    log: ThreadLog,
    kind: str,
    url: str,
    body: dict[str, Any] | None = None,
    *,
    method: str = "POST",
) -> httpx.Response | None:
    """Send one request and record its latency under ``kind``; None (and an error) on a
    transport failure."""
    started = time.perf_counter()
    try:
        response = client.request(method, url, json=body)
    except httpx.HTTPError as exc:
        log.latencies_ms[kind].append((time.perf_counter() - started) * 1000)
        record_error(log, kind, None, type(exc).__name__)
        return None
    log.latencies_ms[kind].append((time.perf_counter() - started) * 1000)
    return response


class QueueEmpty(Exception):
    """``next`` answered 204: nothing is left for this annotator."""


def lease(client: httpx.Client, log: ThreadLog, slug: str) -> int | None:
    """``next``: the task id, None on an error; raises QueueEmpty on 204."""
    response = timed_request(client, log, "next", f"/api/v1/projects/{slug}/tasks/next")
    if response is None:
        return None
    if response.status_code == 204:
        log.empty_queue += 1
        raise QueueEmpty
    if response.status_code != 200:
        record_error(log, "next", response, "")
        return None
    return int(response.json()["task"]["id"])


def submit(client: httpx.Client, log: ThreadLog, task_id: TaskId, rng: random.Random) -> bool:
    """``submit`` a random label; True if it was recorded."""
    body = {"value": rng.choice(LABELS), "duration_ms": rng.randint(800, 9000)}
    response = timed_request(client, log, "submit", f"/api/v1/tasks/{task_id}/submit", body)
    if response is None:
        return False
    if response.status_code != 200:
        record_error(log, "submit", response, "")
        return False
    return True


TaskId = int | str
"""A leased task as its server names it (Accord's and Label Studio's ids, Potato's item ids)."""


@dataclass(frozen=True)
class Loop:
    """What the simulated annotators work against: a server, how a token is sent, and the two
    calls of the loop (Accord's task API; the reference servers' in ``bench_reference.py`` and
    ``bench_potato.py``). ``lease`` returns a task id (None on an error, QueueEmpty when
    nothing is left), ``submit`` whether the label was recorded. With ``sign_in`` the token is
    not sent as a header: ``sign_in(client, token)`` logs the client in before the clocks start
    (a server with browser sessions only)."""

    base_url: str
    auth_scheme: str
    lease: Callable[[httpx.Client, ThreadLog], TaskId | None]
    submit: Callable[[httpx.Client, ThreadLog, TaskId, random.Random], bool]
    sign_in: Callable[[httpx.Client, str], None] | None = None


def accord_loop(server: Server, prepared: Prepared) -> Loop:
    """Accord's task API: ``tasks/next`` -> ``submit``."""
    return Loop(server.base_url, "Bearer", partial(lease, slug=prepared.slug), submit)


def annotate(
    loop: Loop,
    token: str,
    tickets: Tickets,
    start: threading.Barrier,
    log: ThreadLog,
    seed: int,
    interval: float | None = None,
) -> None:
    """One simulated annotator: next -> submit while submissions are still wanted; with an
    ``interval``, each next -> submit starts that many seconds after the one before (or at
    once, if that one took longer), the first at a random moment within the first interval."""
    rng = random.Random(seed)
    headers = {} if loop.sign_in else {"Authorization": f"{loop.auth_scheme} {token}"}
    with httpx.Client(base_url=loop.base_url, headers=headers, timeout=REQUEST_TIMEOUT_S) as client:
        signed_in = True
        if loop.sign_in is not None:
            try:
                loop.sign_in(client, token)
            except (RuntimeError, httpx.HTTPError) as exc:
                record_error(log, "sign-in", None, str(exc)[:200])
                signed_in = False
        start.wait()  # one that could not sign in still releases the others, then stops
        if not signed_in:
            return
        turn = time.perf_counter() + (rng.uniform(0, interval) if interval else 0.0)
        while tickets.take():
            if interval:
                time.sleep(max(turn - time.perf_counter(), 0.0))
                turn = max(turn + interval, time.perf_counter())
            try:
                task_id = loop.lease(client, log)
            except QueueEmpty:
                tickets.give_back(failed=False)
                return
            if task_id is None:
                tickets.give_back(failed=True)
                continue
            if loop.submit(client, log, task_id, rng):
                log.submitted += 1
            else:
                tickets.give_back(failed=True)


def run_labeling(
    server_pid: int, loop: Loop, tokens: Sequence[str], options: Options
) -> LabelingResult:
    """Run one annotator thread per token until enough submissions are recorded; merge their
    logs. The clocks start once every thread has its client, when all are released at once."""
    tickets = Tickets(options.submissions, max_failures=max(100, options.submissions // 10))
    interval = len(tokens) / options.rate if options.rate else None
    start = threading.Barrier(len(tokens) + 1)
    logs = [ThreadLog() for _ in tokens]
    threads = [
        threading.Thread(
            target=annotate,
            args=(loop, token, tickets, start, log, options.seed + n, interval),
            name=f"annotator-{n}",
        )
        for n, (token, log) in enumerate(zip(tokens, logs, strict=True))
    ]
    for thread in threads:
        thread.start()
    start.wait()
    started = Clocks.read(server_pid)
    for thread in threads:
        thread.join()
    return merge_logs(logs, started, Clocks.read(server_pid))


def merge_logs(logs: Sequence[ThreadLog], started: Clocks, ended: Clocks) -> LabelingResult:
    """Put the threads' measurements together."""
    latencies: dict[str, list[float]] = {"next": [], "submit": []}
    errors: Counter[str] = Counter()
    samples: dict[str, str] = {}
    for log in logs:
        for kind, values in log.latencies_ms.items():
            latencies[kind].extend(values)
        errors.update(log.errors)
        for key, sample in log.error_samples.items():
            samples.setdefault(key, sample)
    return LabelingResult(
        wall_seconds=ended.wall - started.wall,
        server_cpu_s=ended.server_cpu - started.server_cpu,
        client_cpu_s=ended.client_cpu - started.client_cpu,
        database_cpu_s=ended.database_cpu - started.database_cpu,
        submitted=sum(log.submitted for log in logs),
        latencies_ms=latencies,
        errors=errors,
        error_samples=samples,
        empty_queue=sum(log.empty_queue for log in logs),
    )


# --- one run and the report -------------------------------------------------------------------


def prepare(server: Server, database_url: str, overlap: int, options: Options) -> Prepared:
    """People, the project and its items (the import is timed)."""
    people = create_people(database_url, options.annotators)
    slug = f"bench-k{overlap}"
    headers = {"Authorization": f"Bearer {people.lead_token}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=REQUEST_TIMEOUT_S) as lead:
        create_project(lead, slug, overlap, people.annotator_emails)
        imported = import_items(lead, slug, make_items(options.items, random.Random(options.seed)))
    return Prepared(people, slug, imported)


@contextmanager
def fresh_accord(
    database: str, options: Options, run: int, name: str
) -> Iterator[tuple[str, Server]]:
    """A fresh database and ``accord serve`` on it (database URL, server), in a temporary
    directory removed afterwards."""
    work_dir = Path(tempfile.mkdtemp(prefix=f"accord-bench-{name}-"))
    try:
        with (
            fresh_database(database, work_dir, options.postgres_url, run) as database_url,
            running_server(database_url, work_dir, options) as server,
        ):
            yield database_url, server
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def bench_run(database: str, overlap: int, run: int, options: Options) -> RunResult:
    """Fresh database and server, setup, import, labeling; the server stops at the end."""
    with fresh_accord(database, options, run, f"{database}-k{overlap}") as (database_url, server):
        prepared = prepare(server, database_url, overlap, options)
        loop = accord_loop(server, prepared)
        tokens = prepared.people.annotator_tokens
        labeling = run_labeling(server.process.pid, loop, tokens, options)
        peak = peak_rss_kib(server.process.pid)
        if server.process.poll() is not None:
            print(f"  server died during the run:\n{log_tail(server.log_path)}")
        problems = log_problems(server.log_path)
        check = accord_overlap_check(database_url, overlap)
    return RunResult(database, overlap, prepared.imported, labeling, peak, problems, check)


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values (NaN when there are none)."""
    if not sorted_values:
        return float("nan")
    rank = min(max(1, math.ceil(pct / 100 * len(sorted_values))), len(sorted_values))
    return sorted_values[rank - 1]


def verdict(ok: bool) -> str:
    """How a target check reads."""
    return "ok" if ok else "MISSED"


def rate(labeling: LabelingResult) -> float:
    """Submissions per second over the labeling phase's wall time."""
    return labeling.submitted / labeling.wall_seconds if labeling.wall_seconds else 0.0


def per_submission_ms(seconds: float, labeling: LabelingResult) -> float:
    """A total in seconds spread over the recorded submissions, in milliseconds."""
    return 1000 * seconds / labeling.submitted if labeling.submitted else float("nan")


def latency_line(kind: str, values_ms: Sequence[float]) -> str:
    """Count, percentiles and maximum of one request type, with the p95 target."""
    values = sorted(values_ms)
    p50, p95, p99 = (percentile(values, p) for p in (50, 95, 99))
    top = values[-1] if values else float("nan")
    return (
        f"  {kind:<12} n={len(values):<6} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  "
        f"p99 {p99:6.1f} ms  max {top:7.1f} ms  "
        f"[target p95 < {TARGET_P95_MS:.0f} ms: {verdict(p95 < TARGET_P95_MS)}]"
    )


def print_errors(labeling: LabelingResult) -> None:
    """Every kind of failed request with its count and one sample answer."""
    print(
        f"  errors       {sum(labeling.errors.values())} "
        f"(204 'nothing left' answers, not errors: {labeling.empty_queue})"
    )
    for key, count in labeling.errors.most_common():
        print(f"    {count:>6} x {key}: {labeling.error_samples.get(key, '')}")


def print_run(result: RunResult, options: Options) -> None:
    """The figures of one run, with the targets beside them."""
    imported, labeling = result.imported, result.labeling
    import_target = TARGET_IMPORT_S_PER_10K * options.items / 10_000
    if math.isnan(imported.seconds):
        print(f"  import       {imported.created} items read from a data file at start (not timed)")
    else:
        print(
            f"  import       {imported.created} items in {imported.requests} request(s): "
            f"{imported.seconds:.2f} s  "
            f"[target < {import_target:.1f} s: {verdict(imported.seconds < import_target)}]"
        )
    for kind in ("next", "submit"):
        print(latency_line(kind, labeling.latencies_ms[kind]))
    print(
        f"  throughput   {labeling.submitted} submissions in {labeling.wall_seconds:.2f} s = "
        f"{rate(labeling):.1f} submissions/s  "
        f"[target >= {TARGET_SUBMISSIONS_PER_S:.0f}/s: "
        f"{verdict(rate(labeling) >= TARGET_SUBMISSIONS_PER_S)}]"
    )
    print_errors(labeling)
    plural = "es" if options.workers > 1 else ""
    database = ""
    if result.database == "postgresql":
        database = f"PostgreSQL {per_submission_ms(labeling.database_cpu_s, labeling):.1f} ms, "
    print(
        f"  cpu          server {per_submission_ms(labeling.server_cpu_s, labeling):.1f} "
        f"ms/submission (the server's process{plural}), {database}"
        f"client {per_submission_ms(labeling.client_cpu_s, labeling):.1f} ms/submission"
    )
    check = result.overlap_check
    print(
        f"  overlap      {check.over_k} item(s) labeled more than k={result.overlap} times, "
        f"{check.twice} labeled twice by one annotator"
    )
    print(f"  server log   {len(result.log_problems)} error line(s)")
    for line in result.log_problems[:5]:
        print(f"    {line[:200]}")
    print(
        f"  peak RSS     {result.peak_rss_kib / 1024:.1f} MiB (VmHWM of the server process{plural})"
    )


def print_summary(results: Sequence[RunResult]) -> None:
    """One line per run, for pasting into the README."""
    print("\nsummary")
    print(
        f"  {'server':<13}{'database':<11}{'k':>2}{'import s':>10}{'next p50/p95/p99 ms':>23}"
        f"{'submit p50/p95/p99 ms':>25}{'subm/s':>9}{'errors':>8}{'cpu ms/subm':>13}"
        f"{'RSS MiB':>9}"
    )
    for r in results:
        cells = []
        for kind in ("next", "submit"):
            values = sorted(r.labeling.latencies_ms[kind])
            cells.append("/".join(f"{percentile(values, p):.1f}" for p in (50, 95, 99)))
        print(
            f"  {r.server:<13}{r.database:<11}{r.overlap:>2}{r.imported.seconds:>10.2f}"
            f"{cells[0]:>23}"
            f"{cells[1]:>25}{rate(r.labeling):>9.1f}{sum(r.labeling.errors.values()):>8}"
            f"{per_submission_ms(r.labeling.server_cpu_s, r.labeling):>13.1f}"
            f"{r.peak_rss_kib / 1024:>9.1f}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run every database and overlap asked for; 1 if a run could not complete."""
    options = parse_options(argv)
    pg_version = postgres_version(options.postgres_url)
    print_machine(pg_version)
    print(
        f"\nworkload: {options.items} items, {options.submissions} submissions by "
        f"{options.annotators} concurrent annotators (next -> submit over HTTP), "
        f"{options.workers} server worker(s), broker {options.broker_url}"
        + (f", paced at {options.rate:g} submissions/s" if options.rate else "")
    )
    print(
        f"targets (2-core machine, SQLite): p95 next and submit < {TARGET_P95_MS:.0f} ms, "
        f">= {TARGET_SUBMISSIONS_PER_S:.0f} submissions/s, "
        f"10,000 items imported in < {TARGET_IMPORT_S_PER_10K:.0f} s"
    )
    results: list[RunResult] = []
    failed = False
    runs = 0
    for database in options.databases:
        if database == "postgresql" and pg_version is None:
            print(f"\n== postgresql: skipped, no server answers at {options.postgres_url} ==")
            continue
        for overlap in options.overlaps:
            print(f"\n== {database}, k={overlap} ==", flush=True)
            try:
                runs += 1
                result = bench_run(database, overlap, runs, options)
            except (RuntimeError, OSError, httpx.HTTPError, psycopg.Error, SQLAlchemyError) as exc:
                print(f"  run failed: {exc}")
                failed = True
                continue
            print_run(result, options)
            results.append(result)
    if options.label_studio is not None or options.potato is not None:
        sys.modules.setdefault("bench_labeling", sys.modules[__name__])  # one copy of this module
    if options.label_studio is not None:
        failed |= run_reference(options, results)
    if options.potato is not None:
        failed |= run_potato(options, results)
    if results:
        print_summary(results)
        print_ratios(results)
    return 1 if failed else 0


def run_reference(options: Options, results: list[RunResult]) -> bool:
    """Label Studio on the same workload for every database and k (appended to ``results``);
    True if a run failed."""
    from bench_reference import LabelStudio, reference_run

    assert options.label_studio is not None
    wanted = replace(options, submissions=options.reference_submissions)
    failed = False
    runs = 0
    for database in options.databases:
        label_studio = LabelStudio(options.label_studio, database, options.postgres_url)
        name = f"label-studio {label_studio.version}, {database}"
        try:
            print(f"\n== {name}: initializing (not measured) ==", flush=True)
            label_studio.initialize()
            for overlap in options.overlaps:
                print(f"\n== {name}, k={overlap} ==", flush=True)
                runs += 1
                try:
                    result = reference_run(label_studio, overlap, runs, wanted)
                except (
                    RuntimeError,
                    OSError,
                    httpx.HTTPError,
                    subprocess.SubprocessError,
                    psycopg.Error,
                ) as exc:
                    print(f"  run failed: {exc}")
                    failed = True
                    continue
                print_run(result, wanted)
                results.append(result)
        except (RuntimeError, OSError, subprocess.SubprocessError, psycopg.Error) as exc:
            print(f"  label-studio could not be set up: {exc}")
            failed = True
        finally:
            label_studio.close()
    return failed


def run_potato(options: Options, results: list[RunResult]) -> bool:
    """Potato on the same workload for every k, on its own storage (appended to
    ``results``); True if a run failed."""
    from bench_potato import Potato, potato_run

    assert options.potato is not None
    wanted = replace(options, submissions=options.reference_submissions)
    potato = Potato(options.potato)
    failed = False
    for overlap in options.overlaps:
        print(f"\n== potato {potato.version}, its own files, k={overlap} ==", flush=True)
        try:
            result = potato_run(potato, overlap, wanted)
        except (RuntimeError, OSError, ValueError, httpx.HTTPError) as exc:
            print(f"  run failed: {exc}")
            failed = True
            continue
        print_run(result, wanted)
        results.append(result)
    return failed


COMPARED_WITH = {"files": "sqlite"}
"""A reference server's storage that is not one of Accord's databases, and the database whose
Accord runs it is compared with (Potato's own files: Accord's embedded default)."""


def print_ratios(results: Sequence[RunResult]) -> None:
    """Accord against each reference server on the same database (or against Accord's
    embedded default) and workload, per k."""
    accord = {(r.database, r.overlap): r for r in results if r.server == "accord"}
    pairs = []
    for r in results:
        counterpart = accord.get((COMPARED_WITH.get(r.database, r.database), r.overlap))
        if r.server != "accord" and counterpart is not None:
            pairs.append((counterpart, r))
    if not pairs:
        return
    print("\nAccord against the reference servers, same workload (x: times better)")

    def p95(run: RunResult, kind: str) -> float:
        return percentile(sorted(run.labeling.latencies_ms[kind]), 95)

    def cpu(run: RunResult) -> float:
        return per_submission_ms(run.labeling.server_cpu_s, run.labeling)

    def with_database(run: RunResult) -> float:
        return per_submission_ms(
            run.labeling.server_cpu_s + run.labeling.database_cpu_s, run.labeling
        )

    for a, r in pairs:
        imported = r.imported.seconds / a.imported.seconds
        database = ""
        if r.database == "postgresql":
            database = f"with PostgreSQL's x{with_database(r) / with_database(a):.1f}, "
        print(
            f"  {r.server} ({r.database}) against accord ({a.database}), k={a.overlap}: "
            f"submissions/s x{rate(a.labeling) / rate(r.labeling):.1f}, "
            f"p95 next x{p95(r, 'next') / p95(a, 'next'):.1f}, "
            f"p95 submit x{p95(r, 'submit') / p95(a, 'submit'):.1f}, "
            f"server CPU per submission x{cpu(r) / cpu(a):.1f}, {database}"
            f"import {'n/a' if math.isnan(imported) else f'x{imported:.1f}'}, "
            f"peak RSS x{r.peak_rss_kib / a.peak_rss_kib:.1f}"
        )


if __name__ == "__main__":
    sys.exit(main())
