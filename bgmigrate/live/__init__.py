"""The live schema: read a real database (read-only) and snapshot it as JSON, so lint can judge against it.

``introspect`` reads the catalogs into the snapshot form; ``snapshot`` turns that form into the
``Schema`` model (so a database and its snapshot give the linter the very same base). psycopg is
imported only by the modules that connect. Tracing a migration's locks is :mod:`bgmigrate.trace`.
"""
