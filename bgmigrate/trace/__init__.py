"""``bgmigrate trace``: run a migration inside a transaction that is always rolled back, and report its locks."""
