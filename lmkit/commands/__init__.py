"""Subcommands of the `lmkit` click group, one module each (see lmkit/cli.py)."""
