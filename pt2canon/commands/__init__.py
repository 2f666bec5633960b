"""Subcommands of the ``pt2canon`` command line, one module each.

``commands.show``, ``commands.hash`` (with ``commands.check`` for
``hash --check``), ``commands.canon``, ``commands.diff``, ``commands.audit``
and ``commands.index`` each define their arguments and run; the private
``_hashing`` (many inputs, in processes) and ``_progress`` (the progress
bar) serve ``hash`` and ``index``. :mod:`pt2canon.cli` dispatches.
"""
