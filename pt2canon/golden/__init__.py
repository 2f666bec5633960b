"""Golden files of exported programs, for the pytest plugin (:mod:`pt2canon.pytest_plugin`).

:mod:`~pt2canon.golden.format`
    What a golden file holds: the canonical program and a ``"_pt2canon"``
    header with its hash (no pytest, no torch).
:mod:`~pt2canon.golden.storage`
    Where a test's golden files are, reading and (atomically) writing them.
:mod:`~pt2canon.golden.session`
    What a test session keeps (options, files written, paths in use) and
    the terminal report of the files written.
:mod:`~pt2canon.golden.checker`
    :class:`~pt2canon.golden.checker.GoldenChecker`, the ``pt2canon_golden``
    fixture's object: one check of a program against its golden file.

Importing any of them imports neither torch nor the canonicalizer; they
are loaded when a test first calls ``check``.
"""
