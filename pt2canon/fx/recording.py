"""A ``torch.compile`` backend that records every graph it is handed: :func:`recorder`.

``torch.compile(model, backend=pt2canon.fx.recorder("run1", then="inductor"))``
compiles as ``backend="inductor"`` would, and for every graph Dynamo hands
the backend (one per frame, more after a graph break or a recompile)
first writes, under the folder:

``graphs/NNNN.json``
    the canonical program document (:func:`pt2canon.canonicalize`), in
    the compact canonical JSON that is hashed; ``pt2canon show`` and
    ``pt2canon diff`` read it;
``index.jsonl``
    one JSON object per graph, one line each, in the order the graphs were
    compiled: ``index``, ``file``, ``hash`` and ``layers`` (at ``level``),
    ``level``, ``compile_id`` (Dynamo's ``frame/recompile``), ``frame``
    (``name``: the code object's qualified name, ``file``, ``line``: its
    first line), ``reason`` (why the graph ended: the first line of
    Dynamo's graph-break reason, or ``return_value``), ``graph_break``,
    ``nodes``, ``inputs``; or ``error`` when pt2canon cannot read the
    graph (the compile goes on regardless).

Then it hands the graph, unchanged, to ``then``: a backend name
(``"inductor"``, ``"eager"``, ``"aot_eager"``, anything
``torch._dynamo.lookup_backend`` knows), a backend callable, or ``None``
(run the graph as captured). ``pt2canon diff RUN_A RUN_B``
(:func:`pt2canon.fx.diff_runs`) pairs the graphs of two such folders.

A recorder appends to its folder: give each run its own folder.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pt2canon.errors import Pt2CanonError, UsageError

__all__ = ["INDEX", "Recorder", "recorder"]

#: The index file of a recorded run.
INDEX = "index.jsonl"


def _frame() -> dict[str, Any] | None:
    from pt2canon.fx.inputs import dynamo_frame_code

    code = dynamo_frame_code()
    if code is None:
        return None
    return {"name": getattr(code, "co_qualname", code.co_name), "file": code.co_filename, "line": code.co_firstlineno}


def _compile_id(gm: Any) -> str | None:
    cid = getattr(gm, "meta", {}).get("dynamo_compile_id")
    if cid is None:
        try:
            from torch._guards import CompileContext

            cid = CompileContext.current_compile_id()
        except Exception:
            return None
    return None if cid is None else str(cid)


def _reason(gm: Any) -> tuple[str | None, bool]:
    r = getattr(gm, "compile_subgraph_reason", None)
    if r is None:
        return None, False
    text = str(getattr(r, "reason", "") or "")
    return (text.strip().splitlines() or [""])[0][:300], bool(getattr(r, "graph_break", False))


class Recorder:
    """The backend :func:`recorder` returns; call it as Dynamo does: ``backend(gm, example_inputs)``.

    Attributes
    ----------
    folder : pathlib.Path
    level : str
    entries : list of dict
        The index lines this recorder wrote, in order.
    """

    def __init__(self, folder: str | os.PathLike[str], *, then: Any = "inductor", level: str = "graph") -> None:
        from pt2canon.canon.hashing import LEVELS

        if level not in LEVELS:
            raise UsageError(f"level={level!r} is not one of {', '.join(LEVELS)}")
        if not (then is None or isinstance(then, str) or callable(then)):
            raise UsageError(f"then={then!r}: expected a backend name, a backend callable or None")
        self.folder = Path(folder)
        self.level = level
        self.then = then
        self.entries: list[dict[str, Any]] = []
        self._next: Callable[..., Any] | None = None
        self._lock = threading.Lock()

    def _backend(self) -> Callable[..., Any]:
        if self._next is None:
            if self.then is None:
                self._next = lambda gm, example_inputs: gm.forward
            elif isinstance(self.then, str):
                from torch._dynamo import lookup_backend

                self._next = lookup_backend(self.then)
            else:
                self._next = self.then
        return self._next

    def __call__(self, gm: Any, example_inputs: Sequence[Any], **kwargs: Any) -> Any:
        self.record(gm, example_inputs)
        return self._backend()(gm, example_inputs, **kwargs)

    def record(self, gm: Any, example_inputs: Sequence[Any] | None = None) -> dict[str, Any]:
        """Write one graph's canonical JSON and index line; return the index entry."""
        from pt2canon.api import canonicalize_all
        from pt2canon.canon.hashing import hash_layers
        from pt2canon.fx.artifact import from_graph_module
        from pt2canon.serde.writer import write_json

        with self._lock:
            graphs = self.folder / "graphs"
            graphs.mkdir(parents=True, exist_ok=True)
            index = self.folder / INDEX
            k = _count_lines(index)
            reason, graph_break = _reason(gm)
            entry: dict[str, Any] = {
                "index": k,
                "compile_id": _compile_id(gm),
                "frame": _frame(),
                "reason": reason,
                "graph_break": graph_break,
            }
            try:
                artifact = from_graph_module(gm, example_inputs=example_inputs, label=f"graph {k}")
                canons = canonicalize_all(artifact)
                result = hash_layers(canons, level=self.level, artifact=artifact)
                doc = canons["model"].doc
                name = f"graphs/{k:04d}.json"
                write_json(self.folder / name, doc)
                graph = doc["graph_module"]["graph"]
                entry.update(
                    file=name,
                    hash=result.hash,
                    level=self.level,
                    layers={n: result.layers[n] for n in result.included},
                    nodes=len(graph["nodes"]),
                    inputs=len(graph["inputs"]),
                )
            except Pt2CanonError as exc:
                entry["error"] = str(exc)
            line = (json.dumps(entry, sort_keys=True) + "\n").encode("utf-8")
            fd = os.open(index, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
            self.entries.append(entry)
            return entry


def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as fh:
            return sum(1 for line in fh if line.strip())
    except FileNotFoundError:
        return 0


def recorder(folder: str | os.PathLike[str], *, then: Any = "inductor", level: str = "graph") -> Recorder:
    """A ``torch.compile`` backend that records each graph under ``folder``, then compiles it with ``then``.

    Parameters
    ----------
    folder : str or os.PathLike
        Where ``index.jsonl`` and ``graphs/`` go (created; appended to).
    then : str, callable or None
        The backend that compiles the graph afterwards (default ``"inductor"``).
    level : {"structure", "graph", "full"}
        The hash level of the index (``full`` hashes parameters and
        buffers by content: Dynamo passes the real tensors to the backend).

    Returns
    -------
    Recorder

    Examples
    --------
    >>> import pt2canon.fx, tempfile                              # doctest: +SKIP
    >>> backend = pt2canon.fx.recorder(tempfile.mkdtemp(), then="eager")  # doctest: +SKIP
    >>> torch.compile(model, backend=backend)(x)                  # doctest: +SKIP
    >>> backend.entries[0]["hash"]                                # doctest: +SKIP
    'sha256:...'
    """
    return Recorder(folder, then=then, level=level)
