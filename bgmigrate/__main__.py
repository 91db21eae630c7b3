"""``python -m bgmigrate``."""

from bgmigrate.cli import main

main()
