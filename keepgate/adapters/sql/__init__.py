"""SQLAlchemy 2 (async, Core) storage: SQLite by default, PostgreSQL for real deployments.

Statements on the hot paths (sign-in, every authenticated request) are built once, at import,
with named bind parameters, and run with a dictionary of values: building a Core statement per
call (``select().where()``, ``update().values()``) costs several times the CPU of running the
cached, compiled one. The bind parameters of those statements are prefixed ``b_`` where a
column of the same name is also set.
"""
