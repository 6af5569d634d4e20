"""Subcommands of the ``binpick`` command, one module per group."""
