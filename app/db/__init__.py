"""Persistence: the SQLAlchemy engine, sessions and the ORM models."""
