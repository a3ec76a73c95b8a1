"""Server time of the labeling page, on the embedded default with the demo project (a benchmark,
not a test: it asserts nothing).

It migrates a fresh SQLite file, loads the demo project, adds one annotator (with a known
password) and 2,000 more demo-style items so the queue does not run dry, starts ``accord serve``
and logs in through the login form. Then, one annotator working as fast as the server allows, it
repeats what the browser does per item:

- ``GET /projects/{slug}/work/{task}``: the full labeling page (a reload, or arriving from home);
- ``POST .../work/{task}/submit`` as htmx: record the label, lease the next item and render the
  swapped region (the "submit-and-next" swap).

It prints p50/p95/p99 of the server's own time (the ``Server-Timing`` header Accord sends) and of
the client's round trip, for both. Target (issue: the annotator's workspace): server p95 under
15 ms for each. With ``--potato PATH`` the same number of items is then labeled on Potato's
server-rendered page and the round trips compared (``scripts/bench_potato.py``). Run from the
repository root::

    .venv/bin/python scripts/bench_workspace.py [--items 400] [--potato /tmp/potato/bin/potato]
"""

from __future__ import annotations

import argparse
import platform
import random
import re
import secrets
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_labeling import (
    Options,
    cpu_model,
    percentile,
    running_server,
)

from app.db.engine import make_engine, make_session_factory, session_scope
from app.db.migrate import upgrade
from app.domain.demo import DEMO_SLUG, load_demo
from app.domain.item_parsing import parse_item_rows
from app.domain.items import import_items
from app.domain.people import create_user, get_user_by_email
from app.domain.projects import add_member, get_project

EMAIL = "bench-annotator@example.org"
PASSWORD = secrets.token_urlsafe(18)  # set up by prepare(), used to log in once
EXTRA_ITEMS = 2_000
TARGET_MS = 15.0
TEXTS = [
    "Great value, arrived a day early.",
    "Oh wonderful, it broke on the first day.",
    "Not bad at all for the price.",
    "Meh. It works, I guess.",
    "Terrible support, never again.",
]


def prepare(database_url: str) -> None:
    """Demo project, one more annotator on it, and extra items to label."""
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        with session_scope(make_session_factory(engine), immediate=True) as session:
            load_demo(session)
            project = get_project(session, DEMO_SLUG)
            create_user(session, email=EMAIL, role="annotator", password=PASSWORD)
            add_member(session, project, get_user_by_email(session, EMAIL), actor_id=None)
            rng = random.Random(3)
            lines = ["external_id,text,tags"]
            for n in range(EXTRA_ITEMS):
                tag = rng.choice(["", "", "sarcasm", "negation"])
                lines.append(f'bench-{n:05d},"{rng.choice(TEXTS)} (#{n})",{tag}')
            rows = parse_item_rows("\n".join(lines).encode(), "csv")
            import_items(session, project, rows, actor=get_user_by_email(session, EMAIL))
    finally:
        engine.dispose()


def log_in(client: httpx.Client) -> None:
    """The login form, CSRF token and all."""
    client.get("/login")
    token = client.cookies["csrftoken"]
    response = client.post(
        "/login", data={"email": EMAIL, "password": PASSWORD, "_csrf_token": token}
    )
    if response.status_code != 303:
        raise RuntimeError(f"login failed: {response.status_code} {response.text[:200]}")


def server_ms(response: httpx.Response) -> float:
    """The server's own time from its Server-Timing header."""
    match = re.fullmatch(r"app;dur=([0-9.]+)", response.headers.get("server-timing", ""))
    if match is None:
        raise RuntimeError(f"no Server-Timing on {response.request.url}")
    return float(match.group(1))


def task_from(response: httpx.Response) -> int:
    """The task id the region was pushed to (HX-Push-Url ends with it)."""
    pushed = response.headers.get("hx-push-url", "")
    match = re.search(r"/work/(\d+)$", pushed)
    if response.status_code != 200 or match is None:
        raise RuntimeError(f"no next task: {response.status_code} {pushed!r}")
    return int(match.group(1))


def run(base_url: str, n_items: int) -> dict[str, tuple[list[float], list[float]]]:
    """Label ``n_items`` items; per request kind, (server ms, round-trip ms)."""
    samples: dict[str, tuple[list[float], list[float]]] = {
        "page": ([], []),
        "submit+next": ([], []),
    }
    rng = random.Random(5)
    work = f"/projects/{DEMO_SLUG}/work"
    with httpx.Client(base_url=base_url, timeout=30, follow_redirects=False) as client:
        log_in(client)
        csrf = {"x-csrftoken": client.cookies["csrftoken"], "HX-Request": "true"}
        task = task_from(client.post(f"{work}/next", headers=csrf))
        for _ in range(n_items):
            started = time.perf_counter()
            page = client.get(f"{work}/{task}")
            elapsed = (time.perf_counter() - started) * 1000
            if page.status_code != 200 or 'id="label-form"' not in page.text:
                raise RuntimeError(f"page for task {task}: {page.status_code}")
            samples["page"][0].append(server_ms(page))
            samples["page"][1].append(elapsed)
            form = {
                "value": rng.choice(["positive", "negative", "neutral", "mixed"]),
                "duration_ms": str(rng.randint(800, 9000)),
            }
            started = time.perf_counter()
            answer = client.post(f"{work}/{task}/submit", data=form, headers=csrf)
            elapsed = (time.perf_counter() - started) * 1000
            samples["submit+next"][0].append(server_ms(answer))
            samples["submit+next"][1].append(elapsed)
            task = task_from(answer)
    return samples


def stats(values: Sequence[float]) -> str:
    ordered = sorted(values)
    return "/".join(f"{percentile(ordered, p):.1f}" for p in (50, 95, 99))


def main(argv: Sequence[str] | None = None) -> int:
    """Prepare, serve, label, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=400, help="items to label")
    parser.add_argument(
        "--potato",
        type=Path,
        metavar="PATH",
        help="also label as many items on Potato's server-rendered page (its `potato` "
        "executable; see scripts/bench_potato.py) and compare round trips",
    )
    args = parser.parse_args(argv)
    print(f"machine: {cpu_model()}, {platform.python_version()}, SQLite {sqlite3.sqlite_version}")
    with tempfile.TemporaryDirectory(prefix="accord-bench-ws-") as tmp:
        work_dir = Path(tmp)
        database_url = f"sqlite:///{work_dir / 'accord.db'}"
        prepare(database_url)
        options = Options(0, 0, 1, ("sqlite",), (1,), 1, "embedded", "", 0)
        with running_server(database_url, work_dir, options) as server:
            samples = run(server.base_url, args.items)
    print(f"{args.items} items labeled by one annotator, demo project + {EXTRA_ITEMS} items")
    print(
        f"{'request':<13} {'server p50/p95/p99 ms':>22} {'round trip p50/p95/p99 ms':>27}  target"
    )
    for kind, (on_server, trip) in samples.items():
        ok = percentile(sorted(on_server), 95) < TARGET_MS
        verdict = "ok" if ok else "MISSED"
        print(
            f"{kind:<13} {stats(on_server):>22} {stats(trip):>27}  p95 < {TARGET_MS:g}: {verdict}"
        )
    if args.potato is not None:
        compare_with_potato(args.potato, args.items, samples)
    return 0


def compare_with_potato(
    executable: Path, n_items: int, accord: dict[str, tuple[list[float], list[float]]]
) -> None:
    """Potato's labeling page on the same number of items, round trips against Accord's."""
    from bench_potato import Potato, potato_workspace

    potato = Potato(executable)
    theirs = potato_workspace(potato, n_items, EXTRA_ITEMS)
    print(f"\npotato {potato.version}, the same {n_items} items (round trips only)")
    print(f"{'request':<13} {'round trip p50/p95/p99 ms':>27}  Accord's p50 / p95 lower by")
    for kind, trips in theirs.items():
        ours, mine = sorted(accord[kind][1]), sorted(trips)
        ratios = " / ".join(f"x{percentile(mine, p) / percentile(ours, p):.1f}" for p in (50, 95))
        print(f"{kind:<13} {stats(trips):>27}  {ratios}")


if __name__ == "__main__":
    raise SystemExit(main())
