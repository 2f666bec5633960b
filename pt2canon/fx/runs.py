"""The diff of two recorded runs: :func:`diff_runs` (``pt2canon diff RUN_A RUN_B``).

Each run is a folder a :func:`pt2canon.fx.recorder` wrote. Graphs are
paired by the frame they came from: the file's base name and the code
object's qualified name, with the line number Dynamo puts in the names of
resume functions dropped (``torch_dynamo_resume_in_forward_at_17`` ->
``torch_dynamo_resume_in_forward``), so that editing a file above a frame
does not unpair it. Within one frame the graphs of each run, in compile
order, are aligned by hash (:class:`difflib.SequenceMatcher`): equal
hashes pair first, the rest pair in order. Each graph is then

``same``     paired and equal at the level;
``changed``  paired and different; :attr:`GraphPair.diff` says how
             (a :class:`~pt2canon.diff.DiffResult` of the two canonical documents);
``new``      only in B (a new graph break, a recompile, a new frame);
``gone``     only in A.
"""

from __future__ import annotations

import difflib
import html
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pt2canon.errors import InputError, UsageError
from pt2canon.fx.recording import INDEX

__all__ = ["GraphPair", "RunDiff", "diff_runs", "read_index"]

Status = Literal["same", "changed", "new", "gone"]
_STATUSES: tuple[Status, ...] = ("same", "changed", "new", "gone")
_RESUME_LINE = re.compile(r"_at_\d+$")
_FORMATS = ("text", "json", "markdown", "html")


def read_index(folder: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The index entries of a recorded run, in order.

    Raises
    ------
    InputError
        If the folder has no ``index.jsonl`` or a line is not a JSON object.
    """
    path = Path(folder) / INDEX
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f"not a recorded run: no {INDEX} (write one with pt2canon.fx.recorder)", file=os.fspath(folder)
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the index ({exc})", file=os.fspath(path)) from None
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as exc:
            raise InputError(f"line {n} is not JSON ({exc})", file=os.fspath(path)) from None
        if not isinstance(entry, dict):
            raise InputError(f"line {n} is not a JSON object", file=os.fspath(path))
        out.append(entry)
    return out


def frame_key(entry: dict[str, Any]) -> str:
    """``file.py:Qual.name`` of an index entry's frame (``?`` when it has none).

    Examples
    --------
    >>> frame_key({"frame": {"name": "M.torch_dynamo_resume_in_forward_at_17", "file": "/src/m.py", "line": 17}})
    'm.py:M.torch_dynamo_resume_in_forward'
    """
    frame = entry.get("frame") or {}
    name = _RESUME_LINE.sub("", str(frame.get("name", "?")))
    return f"{os.path.basename(str(frame.get('file', '?')))}:{name}"


@dataclass
class GraphPair:
    """One graph of either run and what became of it.

    Attributes
    ----------
    status : {"same", "changed", "new", "gone"}
    key : str
        ``file.py:Qual.name#k``: the frame and the graph's position among its graphs.
    a, b : dict or None
        The index entries (``None`` on the side that lacks the graph).
    diff : DiffResult or None
        For ``changed`` pairs.
    """

    status: Status
    key: str
    a: dict[str, Any] | None
    b: dict[str, Any] | None
    diff: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "key": self.key,
            "a": self.a,
            "b": self.b,
            "diff": self.diff.to_json() if self.diff is not None else None,
        }

    def line(self) -> str:
        """One line: status, key, hashes and what is known of the change."""
        ha = (self.a or {}).get("hash") or "-"
        hb = (self.b or {}).get("hash") or "-"
        if self.status == "same":
            what = ha[:19]
        elif self.status == "changed":
            n = len(self.diff.changes) if self.diff is not None else 0
            what = f"{ha[:19]} -> {hb[:19]}  ({n} record{'s' if n != 1 else ''})"
        else:
            side: dict[str, Any] = (self.b if self.status == "new" else self.a) or {}
            what = (ha if self.status == "gone" else hb)[:19]
            if side.get("error"):
                what += f"  (unreadable: {str(side['error'])[:120]})"
            elif side.get("reason"):
                what += f"  ({'graph break: ' if side.get('graph_break') else ''}{str(side['reason'])[:120]})"
        return f"{self.status:<8} {self.key}  {what}"


@dataclass
class RunDiff:
    """The outcome of :func:`diff_runs`: every graph of both runs, paired.

    Attributes
    ----------
    a, b : str
        The two run folders.
    level : str
    pairs : list of GraphPair
        In B's order (then A's graphs that are gone).
    """

    a: str
    b: str
    level: str
    pairs: list[GraphPair] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        """True when every graph is ``same``."""
        return all(p.status == "same" for p in self.pairs)

    def summary(self) -> dict[str, int]:
        """Number of graphs per status (every status present)."""
        return {s: sum(p.status == s for p in self.pairs) for s in _STATUSES}

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "a": self.a,
            "b": self.b,
            "level": self.level,
            "equal": self.equal,
            "summary": self.summary(),
            "graphs": [p.to_json() for p in self.pairs],
        }

    def _summary_line(self) -> str:
        return "summary: " + ", ".join(f"{n} {s}" for s, n in self.summary().items())

    def render(self, format: str = "text", **options: Any) -> str:
        """``text``, ``json``, ``markdown`` or ``html``; ``options`` go to each changed graph's diff."""
        if format not in _FORMATS:
            raise UsageError(f"format={format!r} is not one of {', '.join(_FORMATS)}")
        if format == "json":
            return json.dumps(self.to_json(), sort_keys=True, indent=2)
        if format == "text":
            return "\n".join(self._text(options)) + "\n"
        if format == "markdown":
            return "\n".join(self._markdown(options)) + "\n"
        rows = "".join(
            f"<tr><td>{p.status}</td><td><code>{html.escape(p.line()[9:])}</code></td></tr>" for p in self.pairs
        )
        body = "".join(
            f"<h4>{html.escape(p.key)}</h4>{p.diff.render('html', **options)}" for p in self.pairs if p.diff is not None
        )
        return f"<div><p>{html.escape(self._summary_line())}</p><table>{rows}</table>{body}</div>"

    def _text(self, options: dict[str, Any]) -> Iterator[str]:
        yield f"--- {self.a}"
        yield f"+++ {self.b}"
        yield from (p.line() for p in self.pairs)
        for p in self.pairs:
            if p.diff is not None:
                yield ""
                yield f"changed {p.key}: {(p.a or {}).get('file')} -> {(p.b or {}).get('file')}"
                yield p.diff.render("text", **options).rstrip("\n")
        yield self._summary_line() + f" (level {self.level})"

    def _markdown(self, options: dict[str, Any]) -> Iterator[str]:
        options = {k: v for k, v in options.items() if k != "color"}
        yield f"**{self._summary_line()}** (level {self.level})"
        yield ""
        yield "| status | graph | |"
        yield "|---|---|---|"
        for p in self.pairs:
            yield f"| {p.status} | `{p.key}` | {html.escape(p.line()[9 + len(p.key) :].strip())} |"
        for p in self.pairs:
            if p.diff is not None:
                yield ""
                yield f"### {p.key}"
                yield ""
                yield p.diff.render("markdown", **options).rstrip("\n")


def _groups(entries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        out.setdefault(frame_key(e), []).append(e)
    return out


def _align(
    a: list[dict[str, Any]], b: list[dict[str, Any]]
) -> Iterator[tuple[dict[str, Any] | None, dict[str, Any] | None]]:
    matcher = difflib.SequenceMatcher(None, [e.get("hash") for e in a], [e.get("hash") for e in b], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal" or tag == "replace":
            n = min(i2 - i1, j2 - j1)
            yield from zip(a[i1 : i1 + n], b[j1 : j1 + n])
            yield from ((x, None) for x in a[i1 + n : i2])
            yield from ((None, y) for y in b[j1 + n : j2])
        elif tag == "delete":
            yield from ((x, None) for x in a[i1:i2])
        else:
            yield from ((None, y) for y in b[j1:j2])


def diff_runs(
    a: str | os.PathLike[str],
    b: str | os.PathLike[str],
    *,
    level: str = "graph",
    **options: Any,
) -> RunDiff:
    """Pair the graphs of two recorded runs and diff the changed ones.

    Parameters
    ----------
    a, b : str or os.PathLike
        Folders written by :func:`pt2canon.fx.recorder`.
    level : {"structure", "graph", "full"}
        What counts as a change (``full`` adds nothing to the recorded
        documents, which hold no weights, unless the runs were recorded at
        ``full``: their weight digests are compared).
    **options
        Passed to :func:`pt2canon.diff` for the changed graphs
        (``ignore_shapes``, ``include_versions``, ``context``, ...).

    Returns
    -------
    RunDiff
    """
    from pt2canon.canon.hashing import LEVELS
    from pt2canon.diff import diff_programs as diff

    if level not in LEVELS:
        raise UsageError(f"level={level!r} is not one of {', '.join(LEVELS)}")
    ea, eb = read_index(a), read_index(b)
    ga, gb = _groups(ea), _groups(eb)
    pairs: list[GraphPair] = []
    for key in [*gb, *(k for k in ga if k not in gb)]:
        for k, (x, y) in enumerate(_align(ga.get(key, []), gb.get(key, []))):
            name = f"{key}#{k}"
            if x is None or y is None:
                pairs.append(GraphPair("new" if x is None else "gone", name, x, y))
                continue
            if _same(x, y, level, options):
                pairs.append(GraphPair("same", name, x, y))
                continue
            if x.get("error") or y.get("error") or not x.get("file") or not y.get("file"):
                pairs.append(GraphPair("changed", name, x, y))
                continue
            result = diff(os.path.join(a, x["file"]), os.path.join(b, y["file"]), level=level, **options)
            pairs.append(GraphPair("same" if result.equal else "changed", name, x, y, None if result.equal else result))
    return RunDiff(os.fspath(a), os.fspath(b), level, pairs)


def _same(x: dict[str, Any], y: dict[str, Any], level: str, options: dict[str, Any]) -> bool:
    """Whether the recorded layer digests already decide that two graphs are equal at ``level``."""
    from pt2canon.canon.hashing import LEVELS

    if options.get("ignore_shapes") or options.get("include_versions"):
        return False
    la, lb = x.get("layers") or {}, y.get("layers") or {}
    wanted = [n for n in LEVELS[level] if n not in ("weights", "constants") or n in la]
    return bool(la) and all(n in la and la.get(n) == lb.get(n) for n in wanted)
