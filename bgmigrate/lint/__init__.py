"""Linting's pure core: the rules (``lint.rules``, one module per family), findings, selection, settings and the catalogue."""
