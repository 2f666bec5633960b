"""A progress bar on standard error that the command's own output goes around.

:class:`Progress` draws a tqdm bar (count, rate, ETA, the current item) on
standard error only when standard error is a terminal, there is more than one
item and the user did not pass ``--no-progress``; otherwise it draws nothing
and tqdm is not imported. Lines written through :meth:`Progress.write` clear
the bar, go to their own stream (standard output stays free of progress
text, so ``pt2canon hash *.pt2 > SUMS`` holds hash lines only) and the bar is
redrawn below them; :meth:`Progress.close` erases it.

tqdm was chosen over rich by measurement (``hash`` imports it only when a bar
is drawn): see BENCHMARKS.md, "progress library".
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

__all__ = ["Progress"]


class Progress:
    """A bar over ``total`` items on standard error, or nothing.

    Parameters
    ----------
    total : int
        Number of items.
    enabled : bool
        ``False`` for ``--no-progress``.
    desc : str
        The bar's label.
    """

    def __init__(self, total: int, *, enabled: bool = True, desc: str = "") -> None:
        self._bar: Any = None
        isatty = getattr(sys.stderr, "isatty", None)
        if enabled and total > 1 and isatty is not None and isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit="file", file=sys.stderr, leave=False, dynamic_ncols=True)

    @property
    def shown(self) -> bool:
        """Whether a bar is drawn."""
        return self._bar is not None

    def write(self, line: str, *, stream: TextIO | None = None) -> None:
        """Write ``line`` and a newline to ``stream`` (standard output by default), above the bar."""
        out = sys.stdout if stream is None else stream
        if self._bar is None:
            out.write(line + "\n")
            out.flush()
            return
        with self._bar.external_write_mode(file=out):
            out.write(line + "\n")
            out.flush()

    def advance(self, item: str) -> None:
        """Count one item done; ``item`` is shown beside the bar."""
        if self._bar is not None:
            self._bar.set_postfix_str(item[-60:], refresh=False)
            self._bar.update(1)

    def close(self) -> None:
        """Erase the bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
