"""A project's migrations at the I/O edge: configuration, files and their order, Alembic, cache, the run."""
