"""Potato as a second reference server of the labeling bench (``bench_labeling.py --potato
PATH``): the same items, annotators, overlap k and next -> submit loop, so the figures come with
ratios measured on the same machine in the same run.

Potato (``potato-annotation`` on PyPI) is not a dependency of Accord: install it into a
virtualenv of its own and pass its ``potato`` executable, e.g.::

    python3 -m venv /tmp/potato && /tmp/potato/bin/pip install potato-annotation
    .venv/bin/python scripts/bench_labeling.py --databases sqlite --potato /tmp/potato/bin/potato

It runs as ``potato start`` runs it (Flask's threaded server) on its own storage: one state
file per annotator under the task directory, next to its own SQLite file; it has no database
to choose, so its runs are compared with Accord's on SQLite, the embedded default of both. The
configuration is its documented single-choice one: a ``radio`` scheme with the bench's labels,
the items in a JSONL data file, passwordless login (Potato registers an annotator on first
login), and ``num_annotators_per_item`` = k with the ``random`` assignment its task-assignment
guide gives for crowdsourcing (its default, ``fixed_order``, hands every annotator the whole
corpus at once, so the cap is relaxed from the second annotator on). Potato has no import API:
it reads the data file when it starts, so there is no import time to compare.

Each annotator logs in (not measured) and then loops as Potato's own simulator
(``potato/simulator/user_simulator.py``) and its labeling page do: ``next`` is
``POST /annotate`` with ``action=next_instance`` (the page's Next button, which assigns and
renders the next item) followed by ``GET /api/current_instance`` (which item that is), timed
together as one step; ``submit`` is ``POST /updateinstance``. Afterwards the annotators' state
files are read to count the items that got more than k labels.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from bench_labeling import (
    LABELS,
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
    log_problems,
    make_items,
    peak_rss_kib,
    record_error,
    run_labeling,
    served,
    stop_server,
)

STORAGE = "files"
"""What the summary shows in the database column for Potato's runs."""
SCHEME = "label"
CONFIG = """\
annotation_task_name: Accord labeling bench, k={k}
task_dir: .
output_annotation_dir: annotation_output/
output_annotation_format: json
data_files:
- data/items.jsonl
item_properties:
  id_key: id
  text_key: text
user_config:
  allow_all_users: true
  users: []
require_password: false
assignment_strategy: random
num_annotators_per_item: {k}
alert_time_each_instance: 10000000
annotation_schemes:
- annotation_type: radio
  name: {scheme}
  description: Which label fits the text?
  labels: [{labels}]
site_dir: default
"""


def _version(executable: Path) -> str:
    python = executable.parent / "python"
    code = "import importlib.metadata as m; print(m.version('potato-annotation'))"
    done = subprocess.run(  # noqa: S603 (the interpreter beside the executable the user named)
        [str(python), "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    return done.stdout.strip() or "unknown version"


class Potato:
    """One Potato installation; every run gets a task directory of its own."""

    def __init__(self, executable: Path) -> None:
        self.executable = executable
        self.version = _version(executable)
        self.last_log_problems: list[str] = []

    @contextmanager
    def server(self, rows: Sequence[dict[str, Any]], overlap: int) -> Iterator[tuple[Server, Path]]:
        """A task directory with the items and the configuration for overlap k, served; the
        directory is kept until the caller is done with it (its state files are read after
        the server stopped)."""
        task_dir = Path(tempfile.mkdtemp(prefix="accord-bench-potato-"))
        try:
            (task_dir / "data").mkdir()
            with (task_dir / "data" / "items.jsonl").open("w") as data:
                for row in rows:
                    data.write(json.dumps({"id": row["external_id"], "text": row["text"]}) + "\n")
            labels = ", ".join(LABELS)
            config = CONFIG.format(k=overlap, scheme=SCHEME, labels=labels)
            (task_dir / "config.yaml").write_text(config)
            log_path = task_dir / "server.log"

            def command(port: int) -> list[str]:
                start = [str(self.executable), "start", "config.yaml", "--host", "127.0.0.1"]
                return [*start, "-p", str(port)]

            try:
                with served(command, log_path, "/", "potato", cwd=task_dir) as server:
                    yield server, task_dir
            finally:
                self.last_log_problems = log_problems(log_path)
        finally:
            shutil.rmtree(task_dir, ignore_errors=True)


def overlap_check(task_dir: Path, overlap: int) -> OverlapCheck:
    """Items over k, from every annotator's state file (one entry per item an annotator
    labeled: nobody can hold two labels of one item there)."""
    labels_per_item: Counter[str] = Counter()
    for state_file in (task_dir / "annotation_output").glob("*/user_state.json"):
        state = json.loads(state_file.read_text())
        labeled = state.get("instance_id_to_label_to_value", {})
        labels_per_item.update(item for item, values in labeled.items() if values)
    return OverlapCheck(
        over_k=sum(1 for count in labels_per_item.values() if count > overlap), twice=0
    )


def _sign_in(client: httpx.Client, username: str) -> None:
    """Passwordless login (Potato registers the annotator on first login)."""
    form = {"action": "login", "email": username, "pass": ""}
    response = client.post("/auth", data=form, follow_redirects=True)
    if response.status_code != 200 or not response.url.path.startswith("/annotate"):
        raise RuntimeError(f"potato login of {username} failed: {response.status_code}")


def _instance_id(response: httpx.Response) -> str | None:
    """The ``instance_id`` of a 200 answer of ``/api/current_instance``, else None."""
    if response.status_code != 200:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    found = body.get("instance_id") if isinstance(body, dict) else None
    return str(found) if found else None


def label_body(instance: str, rng: random.Random) -> dict[str, Any]:
    """What Potato's page sends to ``/updateinstance`` for one label of the radio scheme."""
    return {
        "instance_id": instance,
        "annotations": {f"{SCHEME}:{rng.choice(LABELS)}": "on"},
        "span_annotations": [],
        "client_timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


class PotatoLoop:
    """Potato's labeling page as the loop's two steps; a task is the item's id."""

    def __init__(self) -> None:
        self._labeled: dict[int, str] = {}
        """The item each annotator's client labeled last (each thread writes only its own)."""

    def lease(self, client: httpx.Client, log: ThreadLog) -> TaskId | None:
        """Move on from the item just labeled and read which item is current."""
        labeled = self._labeled.get(id(client))
        started = time.perf_counter()
        try:
            if labeled is not None:
                moved = client.post("/annotate", data={"action": "next_instance"})
                if moved.status_code not in (200, 302):
                    record_error(log, "next", moved, "")
                    return None
            current = client.get("/api/current_instance")
        except httpx.HTTPError as exc:
            record_error(log, "next", None, type(exc).__name__)
            return None
        finally:
            log.latencies_ms["next"].append((time.perf_counter() - started) * 1000)
        instance = _instance_id(current)
        if current.status_code == 404 or (instance and instance == labeled):
            log.empty_queue += 1  # no item left for this annotator: the page stays put
            raise QueueEmpty
        if not instance:
            record_error(log, "next", current, "")
            return None
        return instance

    def submit(
        self, client: httpx.Client, log: ThreadLog, task_id: TaskId, rng: random.Random
    ) -> bool:
        """The page's annotation update: one label of the radio scheme."""
        instance = str(task_id)
        started = time.perf_counter()
        try:
            response = client.post("/updateinstance", json=label_body(instance, rng))
        except httpx.HTTPError as exc:
            record_error(log, "submit", None, type(exc).__name__)
            return False
        finally:
            log.latencies_ms["submit"].append((time.perf_counter() - started) * 1000)
        if response.status_code != 200 or '"success"' not in response.text:
            record_error(log, "submit", response, "")
            return False
        self._labeled[id(client)] = instance
        return True


def potato_run(potato: Potato, overlap: int, options: Options) -> RunResult:
    """Potato on the bench's workload with overlap k."""
    rows = make_items(options.items, random.Random(options.seed))
    usernames = annotator_emails(options.annotators)
    with potato.server(rows, overlap) as (server, task_dir):
        steps = PotatoLoop()
        loop = Loop(server.base_url, "", steps.lease, steps.submit, sign_in=_sign_in)
        labeling = run_labeling(server.process.pid, loop, usernames, options)
        peak = peak_rss_kib(server.process.pid)
        stop_server(server.process)  # its state files are complete once it stopped
        check = overlap_check(task_dir, overlap)
    imported = ImportResult(float("nan"), 0, len(rows))  # read from the data file at start
    return RunResult(
        STORAGE, overlap, imported, labeling, peak, potato.last_log_problems, check, "potato"
    )


def potato_workspace(potato: Potato, n_items: int, queue: int) -> dict[str, list[float]]:
    """One annotator labeling ``n_items`` of ``queue`` items as fast as Potato answers, as its
    page does per item: the page itself (``GET /annotate``, a reload), then the label
    (``POST /updateinstance``) and Next (``POST /annotate``, which renders the next item's
    page), timed together. Round trips in ms, per kind (Potato sends no server timing)."""
    rows = make_items(queue, random.Random(5))
    samples: dict[str, list[float]] = {"page": [], "submit+next": []}
    rng = random.Random(5)
    with (
        potato.server(rows, 1) as (server, _),
        httpx.Client(base_url=server.base_url, timeout=30) as client,
    ):
        _sign_in(client, "bench-annotator@example.org")
        for _ in range(n_items):
            started = time.perf_counter()
            page = client.get("/annotate")
            samples["page"].append((time.perf_counter() - started) * 1000)
            current = client.get("/api/current_instance")  # which item: not timed
            instance = _instance_id(current)
            if page.status_code != 200 or instance is None:
                raise RuntimeError(f"potato's page answered {page.status_code}")
            started = time.perf_counter()
            saved = client.post("/updateinstance", json=label_body(instance, rng))
            moved = client.post("/annotate", data={"action": "next_instance"})
            samples["submit+next"].append((time.perf_counter() - started) * 1000)
            if saved.status_code != 200 or moved.status_code != 200:
                raise RuntimeError(f"potato answered {saved.status_code} / {moved.status_code}")
    return samples
