"""Business rules as plain functions over a SQLAlchemy Session. They flush; callers commit."""
