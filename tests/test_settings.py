"""Settings: every field documented, bad values named, production needs a secret."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from app.settings import Settings, SettingsError

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_setting_is_documented_in_the_readme() -> None:
    text = README.read_text()
    missing = [
        f"ACCORD_{f.name.upper()}"
        for f in fields(Settings)
        if f"ACCORD_{f.name.upper()}" not in text
    ]
    assert missing == []


def test_defaults_are_the_embedded_setup() -> None:
    settings = Settings.from_env({})
    assert settings.database_url.startswith("sqlite:///")
    assert settings.uses_embedded_broker and not settings.is_production


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ACCORD_DATABASE_URL": "not a url"}, "ACCORD_DATABASE_URL is not a database URL"),
        ({"ACCORD_DATABASE_URL": "mysql://x@y/z"}, "must point at SQLite or PostgreSQL"),
        ({"ACCORD_BROKER_URL": "kafka://x"}, "ACCORD_BROKER_URL must be"),
        ({"ACCORD_PORT": "eighty"}, "ACCORD_PORT must be a whole number"),
        ({"ACCORD_LOAD_DEMO": "maybe"}, "ACCORD_LOAD_DEMO must be true or false"),
        ({"ACCORD_ENV": "production"}, "ACCORD_SECRET_KEY is required"),
        ({"ACCORD_ENV": "staging"}, "ACCORD_ENV must be"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_production_with_a_secret_starts() -> None:
    settings = Settings.from_env({"ACCORD_ENV": "production", "ACCORD_SECRET_KEY": "s" * 40})
    assert settings.is_production
