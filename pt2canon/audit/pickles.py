"""A static walk of a pickle's opcodes that names what it imports and calls, never unpickling.

:class:`Reader` feeds :func:`pickletools.genops` a bounded view of a stream;
:class:`Machine` follows the stack, the mark stack and the memo, so that
``STACK_GLOBAL`` is resolved through memoized strings and every call is traced
to the global it came from; :func:`scan_pickle_stream` walks one pickle (or
torch's legacy sequence of five) and reports what the machine saw through an
``add(severity, code, member, message, **detail)`` callback.
"""

from __future__ import annotations

import pickletools
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Literal

from pt2canon.audit.globals import HARMLESS_GLOBALS, global_allowed, is_dangerous

__all__ = ["AddFinding", "Loader", "Machine", "Reader", "report_machine", "resolve_global", "scan_pickle_stream"]

#: Which unpickler reads a member: ``torch.load``, :func:`pickle.loads` or TorchScript's.
Loader = Literal["torch.load", "pickle", "torchscript"]
#: ``add(severity, code, member, message, **detail)``: records one finding.
AddFinding = Callable[..., None]

#: torch's legacy (non-zip) ``torch.save`` format starts with this number as
#: its own pickle, then a protocol pickle, a sys-info pickle, the data pickle
#: and a storage-keys pickle, then raw storage bytes.
_TORCH_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PICKLES = 5

_LINE_LIMIT = 1 << 16  # longest text line (protocol 0 argument) read
_BIG_ARG = 1 << 16  # bytes/str arguments longer than this are skipped, never held in memory
_MAX_STRING = 4096  # longest string kept on the abstract stack (module and attribute names are short)
_OPCODE_BYTES = frozenset(op.code.encode("latin-1") for op in pickletools.opcodes)


class _Skipped(bytes):
    """Stands for a long ``bytes``/``str`` argument that was skipped, not read.

    It is empty but reports the skipped length, so :func:`pickletools.genops`
    accepts it without the bytes ever being held in memory.
    """

    def __new__(cls, length: int) -> _Skipped:
        obj = super().__new__(cls, b"")
        obj._length = length  # type: ignore[attr-defined]
        return obj

    def __len__(self) -> int:
        return self._length  # type: ignore[attr-defined,no-any-return]


class Reader:
    """A read-only view of ``size`` bytes of a stream, for :func:`pickletools.genops`.

    Reads past the end return short data (genops reports a truncated
    pickle); text lines are cut at :data:`_LINE_LIMIT`; long arguments are
    skipped in chunks and returned as :class:`_Skipped`.
    """

    def __init__(self, fh: IO[bytes], size: int) -> None:
        self._fh = fh
        self._size = size
        self._pos = 0

    def tell(self) -> int:
        return self._pos

    @property
    def remaining(self) -> int:
        return self._size - self._pos

    def read(self, n: int = -1) -> bytes:
        remaining = self.remaining
        if n < 0:
            n = remaining
        if n > remaining:
            return b""
        if n > _BIG_ARG:
            left = n
            while left:
                block = self._fh.read(min(left, 1 << 20))
                if not block:
                    return b""
                left -= len(block)
                self._pos += len(block)
            return _Skipped(n)
        data = self._fh.read(n)
        self._pos += len(data)
        return data

    def readline(self, limit: int = -1) -> bytes:
        cap = min(_LINE_LIMIT, self.remaining)
        if limit >= 0:
            cap = min(cap, limit)
        data = self._fh.readline(cap) if cap > 0 else b""
        self._pos += len(data)
        return data


class _Str:
    __slots__ = ("text",)

    def __init__(self, text: str | None) -> None:
        self.text = text


class _Global:
    __slots__ = ("name",)

    def __init__(self, name: str | None) -> None:
        self.name = name  # None: could not be resolved statically


class _Result:
    """The result of a call or other computed object."""

    __slots__ = ()


_OTHER = object()
_RESULT = _Result()


def resolve_global(module: str, name: str, proto: int) -> str:
    """``module.name`` as :class:`pickle.Unpickler` resolves it (``fix_imports`` for protocol < 3)."""
    if proto < 3:
        import _compat_pickle

        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
    return f"{module}.{name}"


_STRING_OPS = frozenset(
    {"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8"}
)


@dataclass
class _GlobalUse:
    name: str
    opcode: str
    offset: int
    called: bool = False
    mutated: bool = False


class Machine:
    """Follows a pickle's stack and memo well enough to name what it imports and calls."""

    def __init__(self, torchscript: bool) -> None:
        self.torchscript = torchscript
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.memo: dict[Any, Any] = {}
        self.proto = 0
        self.globals: dict[str, _GlobalUse] = {}
        self.unresolved: list[tuple[str, int, str]] = []  # (opcode, offset, why)
        self.indirect: list[tuple[str, int]] = []
        self.extensions: list[tuple[str, int, int]] = []
        self.first_value: Any = None
        self.ops = 0

    # stack helpers: underflow gives placeholders (the real unpickler would stop there)
    def pop(self) -> Any:
        return self.stack.pop() if self.stack else _OTHER

    def pop_mark(self) -> list[Any]:
        items = self.stack
        self.stack = self.metastack.pop() if self.metastack else []
        return items

    def top(self) -> Any:
        return self.stack[-1] if self.stack else _OTHER

    def _import(self, name: str, opcode: str, offset: int) -> _Global:
        if name not in self.globals:
            self.globals[name] = _GlobalUse(name, opcode, offset)
        return _Global(name)

    def _call(self, callee: Any, opcode: str, offset: int) -> None:
        if isinstance(callee, _Global):
            if callee.name is not None and callee.name in self.globals:
                self.globals[callee.name].called = True
        else:
            self.indirect.append((opcode, offset))

    def _mutate(self, target: Any) -> None:
        if isinstance(target, _Global) and target.name is not None and target.name in self.globals:
            self.globals[target.name].mutated = True

    def step(self, op: pickletools.OpcodeInfo, arg: Any, pos: int) -> None:
        self.ops += 1
        name = op.name
        if name in _STRING_OPS:
            # genops hands every string argument over as ``str``; a skipped one is "" (never a real name).
            self.stack.append(_Str(arg if isinstance(arg, str) and 0 < len(arg) <= _MAX_STRING else None))
        elif name == "MARK":
            self.metastack.append(self.stack)
            self.stack = []
        elif name == "POP":
            if self.stack:
                self.stack.pop()
            else:
                self.pop_mark()
        elif name == "POP_MARK":
            self.pop_mark()
        elif name == "DUP":
            self.stack.append(self.top())
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            self.memo[arg] = self.top()
        elif name == "MEMOIZE":
            self.memo[len(self.memo)] = self.top()
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            self.stack.append(self.memo.get(arg, _OTHER))
        elif name == "GLOBAL":
            module, _, attr = str(arg).partition(" ")
            self.stack.append(self._import(resolve_global(module, attr, self.proto), name, pos))
        elif name == "STACK_GLOBAL":
            attr, module = self.pop(), self.pop()
            if (
                isinstance(module, _Str)
                and isinstance(attr, _Str)
                and module.text is not None
                and attr.text is not None
            ):
                self.stack.append(self._import(resolve_global(module.text, attr.text, self.proto), name, pos))
            else:
                self.unresolved.append((name, pos, "its module and name are not plain strings on the stack"))
                self.stack.append(_Global(None))
        elif name == "INST":
            module, _, attr = str(arg).partition(" ")
            self.pop_mark()
            g = self._import(resolve_global(module, attr, self.proto), name, pos)
            self._call(g, name, pos)
            self.stack.append(_RESULT)
        elif name == "OBJ":
            items = self.pop_mark()
            self._call(items[0] if items else _OTHER, name, pos)
            self.stack.append(_RESULT)
        elif name in ("REDUCE", "NEWOBJ"):
            self.pop()
            self._call(self.pop(), name, pos)
            self.stack.append(_RESULT)
        elif name == "NEWOBJ_EX":
            self.pop()
            self.pop()
            self._call(self.pop(), name, pos)
            self.stack.append(_RESULT)
        elif name == "BUILD":
            self.pop()
            self._mutate(self.top())
        elif name in ("APPEND", "SETITEM"):
            for _ in range(len(op.stack_before) - 1):
                self.pop()
            self._mutate(self.top())
        elif name in ("APPENDS", "SETITEMS", "ADDITEMS"):
            self.pop_mark()
            self._mutate(self.top())
        elif name in ("EXT1", "EXT2", "EXT4"):
            self.extensions.append((name, pos, int(arg)))
            self.stack.append(_Global(None))
        elif name == "PROTO":
            self.proto = int(arg)
        elif name == "STOP":
            self.first_value = self.pop()
        elif name == "FRAME":
            pass
        else:
            # Everything else builds plain data: ints, floats, bytes, tuples, lists, dicts, ...
            before = op.stack_before
            if pickletools.markobject in before:
                self.pop_mark()
                extra = len(before) - 2
            else:
                extra = len(before)
            for _ in range(extra):
                self.pop()
            value: Any = arg if name in ("LONG1", "LONG4", "LONG", "INT", "BININT", "BININT1", "BININT2") else _OTHER
            for _ in op.stack_after:
                self.stack.append(value)


def scan_pickle_stream(
    add: AddFinding, reader: Reader, label: str | None, loader: Loader, *, count: int = 1, head: bytes = b"\x80"
) -> bool:
    """Scan ``count`` consecutive pickles (``count=0``: torch's rule).

    Return False, with nothing reported, if the data does not start with a
    pickle opcode (``head`` holds its first bytes).
    """
    legacy = count == 0
    index = 0
    while True:
        machine = Machine(torchscript=loader == "torchscript")
        start = reader.tell()
        error: str | None = None
        try:
            for op, arg, pos in pickletools.genops(reader):  # type: ignore[arg-type]
                machine.step(op, arg, pos or 0)
        except Exception as exc:  # genops only parses: ValueError, UnicodeDecodeError, ...
            error = f"{type(exc).__name__}: {exc}"
        report_machine(add, machine, label)
        if error is not None:
            if machine.ops == 0 and index == 0 and start == 0 and head[:1] not in _OPCODE_BYTES:
                return False
            add(
                "medium",
                "pickle-unparsable",
                label,
                f"pickle cannot be parsed past byte {reader.tell()} ({error[:200]}); "
                "anything after that point was not checked",
                offset=reader.tell(),
                error=error[:500],
            )
            return True
        index += 1
        if legacy and index == 1 and machine.first_value == _TORCH_MAGIC:
            count = _LEGACY_PICKLES
        if index >= max(count, 1) or reader.remaining <= 0:
            return True


def report_machine(add: AddFinding, m: Machine, label: str | None) -> None:
    """Turn what a machine saw into findings."""
    ts = m.torchscript
    for use in m.globals.values():
        if global_allowed(use.name, torchscript=ts):
            if use.mutated:
                add(
                    "high",
                    "global-mutated",
                    label,
                    f"pickle modifies the imported object {use.name} itself (BUILD/SETITEM/APPEND on it, "
                    f"{use.opcode} at byte {use.offset}): monkey-patching torch during loading",
                    **{"global": use.name, "opcode": use.opcode, "offset": use.offset},
                )
            continue
        detail = {
            "global": use.name,
            "opcode": use.opcode,
            "offset": use.offset,
            "called": use.called,
            "known_dangerous": is_dangerous(use.name),
        }
        if use.name in HARMLESS_GLOBALS and not use.mutated:
            add(
                "low",
                "nonstandard-global",
                label,
                f"pickle imports {use.name}, harmless by itself but outside what torch writes; "
                "torch.load(weights_only=True) refuses it, so torch.export.load would retry with weights_only=False",
                **detail,
            )
            continue
        how = "imports and calls" if use.called else "imports"
        why = (
            "a known code-execution primitive"
            if detail["known_dangerous"]
            else "not on the allowlist of globals torch needs to rebuild tensors and containers"
        )
        add(
            "high",
            "unsafe-global",
            label,
            f"pickle {how} {use.name} ({use.opcode} at byte {use.offset}), {why}; "
            "unpickling this member (torch.load with weights_only=False, which torch.export.load falls back to) can run arbitrary code",
            **detail,
        )
    for opcode, offset, why in m.unresolved:
        add(
            "high",
            "unresolved-global",
            label,
            f"{opcode} at byte {offset} imports a global that cannot be determined statically: {why}",
            opcode=opcode,
            offset=offset,
        )
    for opcode, offset, code in m.extensions:
        add(
            "high",
            "extension-global",
            label,
            f"{opcode} at byte {offset} imports extension code {code} from copyreg's registry, which is resolved only at load time",
            opcode=opcode,
            offset=offset,
            extension_code=code,
        )
    if m.indirect:
        opcode, offset = m.indirect[0]
        add(
            "high",
            "indirect-call",
            label,
            f"{opcode} at byte {offset} calls an object that is not an allowlisted global (the result of an "
            f"earlier call or lookup, as in a getattr chain); {len(m.indirect)} such call(s) in all",
            opcode=opcode,
            offset=offset,
            count=len(m.indirect),
        )
