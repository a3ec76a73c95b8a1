"""The layers point down only: the domain and analytics know nothing of the web or the jobs."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"
FORBIDDEN = {
    "domain": ("litestar", "dramatiq", "jinja2", "app.web", "app.jobs", "app.cli"),
    "analytics": (
        "litestar",
        "dramatiq",
        "jinja2",
        "sqlalchemy",
        "app.web",
        "app.jobs",
        "app.db",
        "app.domain",
    ),
    "db": ("litestar", "dramatiq", "jinja2", "app.web", "app.jobs", "app.domain"),
}


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_lower_layers_do_not_import_upper_ones() -> None:
    violations = []
    for layer, banned in FORBIDDEN.items():
        for path in (APP / layer).rglob("*.py"):
            for name in imports_of(path):
                if name.startswith(banned):
                    violations.append(f"{path.relative_to(APP)} imports {name}")
    assert violations == []


def test_domain_functions_never_commit() -> None:
    offenders = [
        str(p.relative_to(APP))
        for p in (APP / "domain").rglob("*.py")
        if ".commit()" in p.read_text()
    ]
    assert offenders == []


# Pure data (the demo's review templates and spec text), not logic.
DATA_MODULES = {"domain/demo_texts.py"}


def test_modules_stay_small_and_documented() -> None:
    for path in APP.rglob("*.py"):
        source = path.read_text()
        if str(path.relative_to(APP)) not in DATA_MODULES:
            assert len(source.splitlines()) <= 450, f"{path} is over 450 lines"
        if source.strip():
            assert ast.get_docstring(ast.parse(source)), f"{path} has no module docstring"
