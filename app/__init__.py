"""Accord: an annotation workforce platform."""

__version__ = "0.1.0"
