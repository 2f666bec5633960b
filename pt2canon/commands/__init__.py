"""Subcommands of the ``pt2canon`` command line, one module each."""
