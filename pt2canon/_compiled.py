"""The switch of pt2canon's compiled parts: ``PT2CANON_COMPILED=0`` in the environment turns every one off.

Each compiled part (``serde._plain``, ``serde._builder``, ``canon._emit``,
``diff._fused``) is optional and has a Python reference that gives the same
results; its module sets ``ENABLED = enabled(AVAILABLE)`` once, at import.
"""

from __future__ import annotations

import os

__all__ = ["VARIABLE", "enabled"]

#: The environment variable that turns every compiled part off where it is ``0``.
VARIABLE = "PT2CANON_COMPILED"


def enabled(available: bool, *, own: str | None = None) -> bool:
    """Whether a compiled part that is ``available`` is used, as the environment says.

    ``own`` names a variable of that part alone, which decides where it is
    set (``PT2CANON_FUSED`` for the diff's kernel); otherwise
    :data:`VARIABLE` does. A value of ``0`` turns the part off.

    Examples
    --------
    >>> import os
    >>> saved = dict(os.environ)
    >>> os.environ.update(PT2CANON_COMPILED="0", PT2CANON_EXAMPLE_PART="1")
    >>> enabled(True), enabled(False), enabled(True, own="PT2CANON_EXAMPLE_PART")
    (False, False, True)
    >>> os.environ.clear(); os.environ.update(saved)
    """
    value = os.environ.get(own) if own is not None else None
    if value is None:
        value = os.environ.get(VARIABLE, "1")
    return available and value != "0"
