"""``python -m app`` is the ``accord`` command."""

from app.cli import main

main()
