"""The live schema: read a real database, snapshot it as JSON, and trace the locks a migration takes.

``introspect`` reads the catalogs into the snapshot form; ``snapshot`` turns that form into the
``Schema`` model (so a database and its snapshot give the linter the very same base); ``trace``
runs a migration inside a transaction it always rolls back. psycopg is imported only by the
modules that connect.
"""
