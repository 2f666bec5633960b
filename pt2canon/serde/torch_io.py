"""The bridge to torch: an in-memory ``ExportedProgram`` in, a reloaded one out.

torch is imported here, inside the functions, and nowhere on the archive and
JSON paths (``import torch`` costs about 1.5 s). A program in memory is
serialized with torch's own saver (``torch.export.save``) and then read like
any archive, so that pt2canon sees exactly what a saved file would hold.
"""

from __future__ import annotations

import io
import os
from typing import Any

from pt2canon.errors import InputError, MissingDependencyError, UsageError
from pt2canon.serde.archive import DEFAULT_LIMITS, Artifact, Limits, read_bytes

__all__ = ["from_exported_program", "import_torch", "to_exported_program"]

_INSTALL_HINT = "install it with: pip install 'pt2canon[torch]'"


def import_torch(purpose: str = "this") -> Any:
    """Import and return ``torch``, or raise :class:`MissingDependencyError` with an install hint.

    ``purpose`` says, in the message, what torch was needed for.

    Examples
    --------
    Without torch (here hidden: ``None`` in :data:`sys.modules` makes
    ``import torch`` fail, as if it were not installed), the error says
    what it was needed for and how to install it:

    >>> import sys
    >>> saved = sys.modules.get("torch")
    >>> sys.modules["torch"] = None
    >>> try:
    ...     import_torch("drawing a program")  # doctest: +ELLIPSIS
    ... finally:
    ...     if saved is None:
    ...         del sys.modules["torch"]
    ...     else:
    ...         sys.modules["torch"] = saved
    Traceback (most recent call last):
    ...
    pt2canon.errors.MissingDependencyError: torch is needed for drawing a program but cannot be imported (...); install it with: pip install 'pt2canon[torch]'
    """
    try:
        import torch
    except ImportError as exc:
        raise MissingDependencyError(
            f"torch is needed for {purpose} but cannot be imported ({exc}); {_INSTALL_HINT}"
        ) from None
    return torch


def from_exported_program(ep: Any, *, label: str = "<ExportedProgram>", limits: Limits = DEFAULT_LIMITS) -> Artifact:
    """Serialize an in-memory ``torch.export.ExportedProgram`` and read it back as an :class:`Artifact`.

    Parameters
    ----------
    ep : torch.export.ExportedProgram
        The program; it is saved with ``torch.export.save`` into memory.
    label : str
        What error messages and ``Artifact.path`` call it.

    Raises
    ------
    MissingDependencyError
        If torch is not installed.
    UsageError
        If ``ep`` is not an ``ExportedProgram``.
    InputError
        If torch cannot serialize it.

    Examples
    --------
    >>> import torch
    >>> class Double(torch.nn.Module):
    ...     def forward(self, x):
    ...         return x * 2
    >>> art = from_exported_program(torch.export.export(Double(), (torch.ones(3),)), label="double")
    >>> art.path, art.format, [n["target"] for n in art.model.program["graph_module"]["graph"]["nodes"]]
    ('double', 'pt2', ['torch.ops.aten.mul.Tensor'])
    >>> from_exported_program(Double())
    Traceback (most recent call last):
    ...
    pt2canon.errors.UsageError: <ExportedProgram>: expected a torch.export.ExportedProgram, got Double
    """
    torch = import_torch("reading an in-memory ExportedProgram")
    if not isinstance(ep, torch.export.ExportedProgram):
        raise UsageError(f"expected a torch.export.ExportedProgram, got {type(ep).__name__}", file=label)
    buf = io.BytesIO()
    try:
        torch.export.save(ep, buf)
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise InputError(
            f"torch.export.save cannot serialize the program ({type(exc).__name__}: {msg})", file=label
        ) from exc
    return read_bytes(buf.getvalue(), label=label, limits=limits)


def to_exported_program(source: str | os.PathLike[str] | bytes | bytearray | memoryview) -> Any:
    """Load a ``.pt2`` archive (a path or its bytes) with ``torch.export.load``.

    This unpickles the archive's weights and sample inputs: use it only on
    files you trust (reload checks in tests and the CLI's own output).

    Raises
    ------
    MissingDependencyError
        If torch is not installed.
    InputError
        If torch cannot load it; the message names the file.

    Examples
    --------
    The bundled example (a file we trust) as torch's own program, run:

    >>> import torch
    >>> ep = to_exported_program("examples/mlp_v1.pt2")
    >>> type(ep).__name__, sorted(ep.state_dict)[:2], tuple(ep.module()(torch.ones(2, 16)).shape)
    ('ExportedProgram', ['fc1.bias', 'fc1.weight'], (2, 4))
    >>> to_exported_program("examples/no_such.pt2")
    Traceback (most recent call last):
    ...
    pt2canon.errors.InputError: examples/no_such.pt2: no such file
    """
    torch = import_torch("loading an archive with torch.export.load")
    if isinstance(source, (bytes, bytearray, memoryview)):
        label, f = "<bytes>", io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        label = os.fspath(source)
        f = label  # type: ignore[assignment]
        if not os.path.isfile(label):
            raise InputError("no such file", file=label)
    else:
        raise UsageError(f"expected a path or bytes, got {type(source).__name__}")
    try:
        return torch.export.load(f)
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise InputError(f"torch.export.load cannot load it ({type(exc).__name__}: {msg})", file=label) from exc
