"""bgmigrate: ship PostgreSQL schema changes safely under blue-green deployment."""

__version__ = "0.1.0"
