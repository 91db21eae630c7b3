"""Statements → operations: PostgreSQL's DDL by keyword patterns, data changes, PL/pgSQL bodies, strictness."""
