"""GraphPickler payloads: refused unless trusted, then loaded through torch.

``torch.fx._graph_pickler.GraphPickler.dumps`` writes an FX ``GraphModule``
(with its FakeTensor metadata, SymInts and ops) as a pickle; torch's
compile caches and parallel compile store these. A pickle is a program:
``pickle.loads`` imports and calls whatever it names. pt2canon therefore
refuses a pickle (an :class:`~pt2canon.errors.InputError`, before reading it) unless the
caller passes ``trust_pickle=True`` (``--trust-pickle`` on the command
line); then :func:`load_graph_pickle` unpickles it with
``GraphPickler.loads`` into a fresh ``FakeTensorMode`` and reads the graph
like any FX graph. ``pt2canon audit`` scans such a file without running it
and lists what it would import; :func:`audit_findings` adds what is
particular to GraphPickler payloads.

Nothing here imports torch until a trusted payload is loaded.
"""

from __future__ import annotations

import os
from typing import Any

from pt2canon.errors import InputError, UnsafeArchiveError
from pt2canon.serde.archive import DEFAULT_LIMITS, Limits, sniff

__all__ = [
    "GRAPH_PICKLER_MODULE",
    "add_trust_pickle_argument",
    "audit_findings",
    "is_pickle",
    "load_graph_pickle",
    "read_graph_pickle",
]

#: The module whose globals mark a GraphPickler payload.
GRAPH_PICKLER_MODULE = "torch.fx._graph_pickler"


def is_pickle(head: bytes) -> bool:
    """Whether bytes start like a pickle of protocol 2 to 5 (what ``GraphPickler`` and ``torch.save`` write).

    Examples
    --------
    >>> is_pickle(b"\\x80\\x04\\x95"), is_pickle(b"PK\\x03\\x04"), is_pickle(b"{")
    (True, False, False)
    """
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def _refuse(label: str) -> InputError:
    return InputError(
        "is a pickle, not a .pt2 archive or model JSON; unpickling runs the code it names, so pt2canon "
        "refuses it. If it is a GraphPickler payload of an FX graph (torch.fx._graph_pickler) and you trust "
        "where it came from, pass trust_pickle=True (--trust-pickle); `pt2canon audit` lists what it would import",
        file=label,
    )


def load_graph_pickle(data: bytes, *, trust_pickle: bool = False, label: str = "<bytes>") -> Any:
    """Unpickle a GraphPickler payload (only with ``trust_pickle``) and read it as an FX artifact.

    Parameters
    ----------
    data : bytes
        ``GraphPickler.dumps`` output.
    trust_pickle : bool
        Must be true: unpickling runs code the payload names.
    label : str
        What messages call it.

    Returns
    -------
    pt2canon.fx.FxArtifact

    Raises
    ------
    InputError
        Without ``trust_pickle``; if torch cannot unpickle it, or it holds no ``GraphModule``.
    """
    if not trust_pickle:
        raise _refuse(label)
    from pt2canon.serde.torch_io import import_torch

    torch = import_torch("loading a GraphPickler payload")
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx._graph_pickler import GraphPickler
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    try:
        obj = GraphPickler.loads(data, FakeTensorMode(shape_env=ShapeEnv()))
    except Exception as exc:
        msg = (str(exc).strip().splitlines() or [""])[0][:300]
        raise InputError(f"GraphPickler.loads cannot load it ({type(exc).__name__}: {msg})", file=label) from None
    if not isinstance(obj, (torch.fx.GraphModule, torch.fx.Graph)):
        raise InputError(
            f"the pickle holds a {type(obj).__module__}.{type(obj).__qualname__}, not a torch.fx.GraphModule",
            file=label,
        )
    from pt2canon.fx.artifact import from_graph_module

    return from_graph_module(obj, label=label)


def read_graph_pickle(
    path: str | os.PathLike[str], *, trust_pickle: bool = False, limits: Limits = DEFAULT_LIMITS
) -> Any:
    """:func:`load_graph_pickle` of a file (refused before it is read unless ``trust_pickle``)."""
    label = os.fspath(path)
    if not trust_pickle:
        raise _refuse(label)
    _, size = sniff(label, 2, what="a pickle")
    if size > limits.max_json_bytes:
        raise UnsafeArchiveError(
            f"file has {size} bytes, over the limit max_json_bytes={limits.max_json_bytes}", file=label
        )
    with open(label, "rb") as fh:
        data = fh.read()
    return load_graph_pickle(data, trust_pickle=True, label=label)


def add_trust_pickle_argument(parser: Any) -> None:
    """Add ``--trust-pickle`` to a subcommand's parser (``hash``, ``show``, ``diff``, ``canon``)."""
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="load GraphPickler payloads of FX graphs (pickles: unpickling runs code; only for files you trust)",
    )


def audit_findings(findings: list[Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """Findings to add for a pickle whose imports mark it as a GraphPickler payload.

    ``findings`` are the audit's findings for the pickle (objects with
    ``code`` and ``detail``); returns ``(severity, code, message, detail)``
    tuples: one ``info`` finding ``graph-pickler-payload`` naming how many of
    the imported globals are GraphPickler's own, or nothing.
    """
    names = sorted(
        {
            str(f.detail.get("global"))
            for f in findings
            if f.code == "unsafe-global" and str(f.detail.get("global", "")).startswith(GRAPH_PICKLER_MODULE + ".")
        }
    )
    if not names:
        return []
    message = (
        f"a torch.fx GraphPickler payload (an FX graph as torch's compile caches store it): it imports "
        f"{len(names)} of {GRAPH_PICKLER_MODULE}'s own helpers ({', '.join(n.rsplit('.', 1)[1] for n in names)}) "
        "and rebuilds the graph by calling them; pt2canon loads it only with --trust-pickle"
    )
    return [("info", "graph-pickler-payload", message, {"globals": names})]
