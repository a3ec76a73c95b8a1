"""The labeling benchmark still drives the app it measures: a small run of
``scripts/bench_labeling.py`` (a real ``accord serve``, annotators working at once over HTTP)
completes on both databases with no failed request and k held, as read from the database.

It asserts no timing: speed is the benchmark's to print, not the suite's to judge.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import POSTGRES_URL, require_service

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@pytest.fixture
def bench_labeling(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(SCRIPTS))
    import bench_labeling

    return bench_labeling


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_labeling_bench_completes_with_k_held(
    database: str, bench_labeling: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    if database == "postgresql":
        require_service("PostgreSQL", POSTGRES_URL)
    admin_url = make_url(POSTGRES_URL).set(drivername="postgresql")  # the bench speaks libpq
    argv = ["--items", "60", "--submissions", "40", "--annotators", "6", "--k", "1,3"]
    argv += ["--databases", database, "--postgres-url", admin_url.render_as_string(False)]

    code = bench_labeling.main(argv)

    out = capsys.readouterr().out
    assert code == 0, out
    for k in (1, 3):
        assert f"0 item(s) labeled more than k={k} times, 0 labeled twice by one annotator" in out
    assert out.count("40 submissions in") == 2, out
    assert out.count("  errors       0 ") == 2, out
