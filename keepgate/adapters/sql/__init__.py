"""SQLAlchemy 2 (async, Core) storage: SQLite by default, PostgreSQL for real deployments."""
