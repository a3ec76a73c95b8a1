"""The ``accord`` command: serve, worker, db, users, tokens, demo."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.engine import make_engine, make_session_factory, session_scope
from app.db.models import User
from app.domain.errors import DomainError
from app.domain.stats import queue_recount
from app.settings import Settings, SettingsError


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _click_error(exc: DomainError) -> click.ClickException:
    """A CLI error naming every invalid field."""
    fields = getattr(exc, "field_errors", {}) or {}
    extra = "; ".join(f"{name}: {problem}" for name, problem in fields.items())
    return click.ClickException(exc.message + (f" ({extra})" if extra else ""))


def _session_factory(settings: Settings) -> sessionmaker[Session]:
    return make_session_factory(make_engine(settings.database_url))


@click.group()
@click.version_option(package_name="accord")
def main() -> None:
    """Accord: annotation workforce platform."""


@main.command()
@click.option("--host", default=None, help="Interface to bind (default: ACCORD_HOST or 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default: ACCORD_PORT or 8000).")
@click.option(
    "--workers",
    default=1,
    type=click.IntRange(min=1),
    show_default=True,
    help="Web processes. With the embedded broker each one runs jobs too: every process "
    "relays the shared outbox, and a job row's lock lets one run it.",
)
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Migrate the database if needed, load the demo on first start, and serve."""
    import uvicorn

    from app.db.migrate import upgrade

    settings = _settings()
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
    except Exception as exc:
        raise click.ClickException(f"could not migrate the database: {exc}") from exc
    factory = make_session_factory(engine)
    if settings.load_demo:
        with session_scope(factory, immediate=True) as session:
            empty = not session.scalar(select(func.count()).select_from(User))
        if empty:
            _load_demo(settings, factory)
    engine.dispose()
    host = host or settings.host
    port = port or settings.port
    click.echo(f"Accord is serving on http://{host}:{port}/  (Ctrl+C to stop)")
    if workers == 1:
        from app.web.app import create_app

        uvicorn.run(
            create_app(settings, freeze_heap=True),
            host=host,
            port=port,
            log_level="warning",
            proxy_headers=True,
        )
    else:
        uvicorn.run(
            "app.web.app:create_served_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            proxy_headers=True,
        )


@main.command()
def worker() -> None:
    """Run a Dramatiq worker for the configured broker (and relay the outbox)."""
    from app.jobs.worker import run_worker_forever

    settings = _settings()
    if settings.uses_embedded_broker:
        raise click.ClickException(
            "ACCORD_BROKER_URL is 'embedded': jobs already run inside `accord serve`. "
            "Set it to a redis:// or amqp:// URL to run separate workers."
        )
    click.echo(f"Accord worker on {settings.broker_url.split('@')[-1]}")
    run_worker_forever(settings)


@main.group()
def db() -> None:
    """Database migrations (Alembic)."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate up to REVISION (default: head)."""
    from app.db.migrate import current_revision, upgrade

    engine = make_engine(_settings().database_url)
    upgrade(engine, revision)
    click.echo(f"database at {current_revision(engine)}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate down to REVISION (``base`` removes every table)."""
    from app.db.migrate import current_revision, downgrade

    engine = make_engine(_settings().database_url)
    downgrade(engine, revision)
    click.echo(f"database at {current_revision(engine) or 'base'}")


@db.command("current")
def db_current() -> None:
    """Print the revision the database is at, and whether it is the newest."""
    from app.db.migrate import current_revision, head_revision

    engine = make_engine(_settings().database_url)
    current, head = current_revision(engine), head_revision()
    click.echo(f"{current or 'base'}{' (head)' if current == head else f' (head is {head})'}")


@main.group()
def users() -> None:
    """People."""


@users.command("create")
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice(["admin", "lead", "annotator"]))
@click.option("--name", default="")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_create(email: str, role: str, name: str, password_stdin: bool) -> None:
    """Create a person; without --password-stdin a password is generated and printed once."""
    from app.domain.people import create_user

    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    factory = _session_factory(_settings())
    try:
        with session_scope(factory, immediate=True) as session:
            user, generated = create_user(
                session,
                email=email,
                role=role,
                name=name,
                password=password,
                generate_password=not password_stdin,
                actor_id=None,
            )
    except DomainError as exc:
        raise _click_error(exc) from None
    click.echo(f"created {user.email} ({user.role})")
    if generated:
        click.echo(f"password (shown once): {generated}")


@users.command("list")
def users_list() -> None:
    """List everyone with their role and status."""
    from app.domain.people import list_users

    with session_scope(_session_factory(_settings()), immediate=True) as session:
        for user in list_users(session):
            status = "active" if user.is_active else "disabled"
            login = "" if user.password_hash else " (no login)"
            click.echo(f"{user.email or user.handle:<40} {user.role:<10} {status}{login}")


@users.command("set-role")
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice(["admin", "lead", "annotator"]))
def users_set_role(email: str, role: str) -> None:
    """Change a person's role; their sessions end so it applies at once."""
    from app.domain.people import get_user_by_email, set_role

    try:
        with session_scope(_session_factory(_settings()), immediate=True) as session:
            set_role(session, get_user_by_email(session, email).id, role, actor_id=None)
    except DomainError as exc:
        raise _click_error(exc) from None
    click.echo(f"{email} is now {role}")


@users.command("disable")
@click.option("--email", required=True)
def users_disable(email: str) -> None:
    """Disable a person: they are logged out and their tokens stop working."""
    from app.domain.people import disable_user, get_user_by_email

    try:
        with session_scope(_session_factory(_settings()), immediate=True) as session:
            disable_user(session, get_user_by_email(session, email).id, actor_id=None)
    except DomainError as exc:
        raise _click_error(exc) from None
    click.echo(f"{email} is disabled")


@users.command("enable")
@click.option("--email", required=True)
def users_enable(email: str) -> None:
    """Re-enable a disabled person."""
    from app.domain.people import enable_user, get_user_by_email

    try:
        with session_scope(_session_factory(_settings()), immediate=True) as session:
            enable_user(session, get_user_by_email(session, email).id, actor_id=None)
    except DomainError as exc:
        raise _click_error(exc) from None
    click.echo(f"{email} is enabled")


@main.group()
def tokens() -> None:
    """API tokens."""


@tokens.command("create")
@click.option("--email", required=True, help="Whose token it is.")
@click.option("--name", required=True, help="What uses it, e.g. nightly-training.")
@click.option("--project", "projects", multiple=True, help="Limit to this project (repeatable).")
@click.option("--scope", "scopes", multiple=True, help="Limit to this scope (repeatable).")
def tokens_create(
    email: str, name: str, projects: tuple[str, ...], scopes: tuple[str, ...]
) -> None:
    """Create a token; it is printed once, alone on the last line."""
    from app.domain.people import get_user_by_email
    from app.domain.tokens import create_token

    factory = _session_factory(_settings())
    try:
        with session_scope(factory, immediate=True) as session:
            user = get_user_by_email(session, email)
            token, raw = create_token(
                session,
                user,
                name=name,
                project_slugs=list(projects) or None,
                scopes=list(scopes) or None,
                actor_id=None,
            )
    except DomainError as exc:
        raise _click_error(exc) from None
    scope_text = ", ".join(token.scopes) if token.scopes else f"the {user.role} role's scopes"
    click.echo(
        f"token {token.name!r} for {user.email}: {scope_text}; "
        f"projects: {', '.join(projects) or 'all reachable'}"
    )
    click.echo(raw)


@tokens.command("list")
@click.option("--email", default=None, help="Only this person's tokens.")
def tokens_list(email: str | None) -> None:
    """List tokens (never their secrets)."""
    from app.domain.people import get_user_by_email
    from app.domain.tokens import list_tokens

    try:
        with session_scope(_session_factory(_settings()), immediate=True) as session:
            owner = get_user_by_email(session, email).id if email else None
            for token in list_tokens(session, owner):
                state = "revoked" if token.revoked_at else "active"
                click.echo(
                    f"{token.id:>5}  {token.prefix}…  {token.name:<24} "
                    f"{token.user.email:<32} {state}"
                )
    except DomainError as exc:
        raise _click_error(exc) from None


@tokens.command("revoke")
@click.argument("token_id", type=int)
def tokens_revoke(token_id: int) -> None:
    """Revoke token TOKEN_ID (see `accord tokens list`); it stops working at once."""
    from app.domain.tokens import revoke_token

    try:
        with session_scope(_session_factory(_settings()), immediate=True) as session:
            revoke_token(session, token_id, actor=None)
    except DomainError as exc:
        raise _click_error(exc) from None
    click.echo(f"token {token_id} revoked")


@main.command()
def demo() -> None:
    """Load the demo project (does nothing if it is already there)."""
    settings = _settings()
    from app.db.migrate import upgrade

    engine = make_engine(settings.database_url)
    upgrade(engine)
    _load_demo(settings, make_session_factory(engine))


def _load_demo(settings: Settings, factory: sessionmaker[Session]) -> None:
    from app.domain.demo import load_demo

    with session_scope(factory, immediate=True) as session:
        result = load_demo(session)
        if result.created:
            from app.domain.projects import get_project

            project = get_project(session, result.project_slug)
            queue_recount(session, project.id)
    if not result.created:
        click.echo(f"demo project {result.project_slug!r} is already loaded")
        return
    lines = [f"  {login.email:<28} {login.password}  ({login.role})" for login in result.logins]
    click.echo(f"Loaded the demo project {result.project_slug!r}. Demo logins (shown once):")
    click.echo("\n".join(lines))
    path = Path(settings.data_dir) / "demo-logins.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("Accord demo logins\n" + "\n".join(lines) + "\n")
    click.echo(f"(also saved, readable only by you, to {path})")
    click.echo("For the admin pages, create an admin: accord users create --email E --role admin")
