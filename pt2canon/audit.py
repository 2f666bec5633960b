"""A static safety scan of ``.pt2`` archives: :func:`audit_path`.

``torch.export.load`` unpickles several members of an archive, and for
sample inputs and older-format blobs it retries a failed
``torch.load(weights_only=True)`` with ``weights_only=False``
(``torch/_export/serde/serialize.py``, ``deserialize_torch_artifact``), which
runs whatever the pickle says. ``use_pickle`` weights and constants are
loaded with ``weights_only=False`` straight away, ``opaque_obj_N`` constants
with ``pickle.loads``, and AOTInductor shared libraries under
``data/aotinductor/`` are loaded as native code. This module finds those
hazards without running anything:

* every pickle in the archive, including ``data.pkl`` inside a torch
  zip-format ``.pt`` member (a zip inside the zip), is walked opcode by
  opcode with :func:`pickletools.genops`; an abstract stack resolves
  ``GLOBAL``, ``INST`` and ``STACK_GLOBAL`` (through memoized strings) and
  the callable of every ``REDUCE``, ``NEWOBJ``, ``NEWOBJ_EX``, ``OBJ`` and
  ``INST``. Any global outside :data:`ALLOWED_GLOBALS` (what torch's tensor
  and container rebuilding needs, the set ``torch.load(weights_only=True)``
  accepts) is a ``high`` finding;
* member names that escape an extraction folder, symlinks, duplicates,
  compressed or encrypted members, declared sizes over :class:`Limits`,
  compression ratios of zip bombs, members that are not part of the layout.

Nothing is unpickled, imported, decompressed past the declared size or
extracted; every loop is bounded by the size of the input.

Severities: ``high`` (code execution or a file written outside a folder is
possible), ``medium`` (resource exhaustion, tampering, content that cannot be
checked), ``low`` (departures from what torch writes), ``info`` (facts that
need no action). :attr:`AuditReport.clean` is true when no finding is above
``info``.
"""

from __future__ import annotations

import json
import os
import pickletools
import re
import stat
import zipfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import IO, Any, Literal

from pt2canon import _json
from pt2canon.errors import ArchiveError, InputError
from pt2canon.serde.archive import DEFAULT_LIMITS, Limits, sniff

__all__ = [
    "ALLOWED_GLOBALS",
    "SEVERITIES",
    "AuditReport",
    "Finding",
    "audit_path",
    "global_allowed",
]

Severity = Literal["high", "medium", "low", "info"]

#: Severities from most to least serious.
SEVERITIES: tuple[Severity, ...] = ("high", "medium", "low", "info")


def _names(prefix: str, names: str) -> frozenset[str]:
    return frozenset(f"{prefix}{n}" for n in names.split())


_STORAGE_KINDS = "BFloat16 Bool Byte Char ComplexDouble ComplexFloat Double Float Half Int Long Short"
_TENSOR_KINDS = "BFloat16 Bool Byte Char Double Float Half Int Long Short"
_SPARSE_KINDS = "BFloat16 Byte Char Double Float Half Int Long Short"

#: Globals a pickle may import: what torch needs to rebuild tensors, storages,
#: parameters and containers. This is exactly the set torch 2.13's
#: ``torch.load(weights_only=True)`` accepts
#: (``torch._weights_only_unpickler._get_allowed_globals()``); the tests check
#: it against that function and against the globals of real torch pickles.
#: Names are ``module.qualname`` as resolved by :mod:`pickle` (``__builtin__``
#: in protocol 0-2 pickles resolves to ``builtins``).
ALLOWED_GLOBALS: frozenset[str] = (
    frozenset(
        {
            "collections.OrderedDict",
            "collections.Counter",
            "torch.nn.parameter.Parameter",
            "torch.serialization._get_layout",
            "torch.Size",
            "torch.Tensor",
            "torch.device",
            "torch._tensor._rebuild_from_type_v2",
            "torch.storage.TypedStorage",
            "torch.storage.UntypedStorage",
            # bytes, bytearray, set and complex values in protocol 0-2 pickles
            "_codecs.encode",
            "builtins.bytearray",
            "builtins.set",
            "builtins.complex",
        }
    )
    | _names(
        "torch._utils.",
        "_rebuild_tensor _rebuild_tensor_v2 _rebuild_tensor_v3 _rebuild_parameter"
        " _rebuild_parameter_with_state _rebuild_qtensor _rebuild_sparse_tensor"
        " _rebuild_meta_tensor_no_storage _rebuild_nested_tensor _rebuild_wrapper_subclass"
        " _rebuild_device_tensor_from_numpy _rebuild_device_tensor_from_cpu_tensor",
    )
    | _names(
        "torch.",
        # dtypes
        "float16 float32 float64 bfloat16 complex32 complex64 complex128 bool"
        " uint8 uint16 uint32 uint64 int8 int16 int32 int64"
        " uint1 uint2 uint3 uint4 uint5 uint6 uint7 int1 int2 int3 int4 int5 int6 int7"
        " qint8 quint8 qint32 quint4x2 quint2x4 bits1x8 bits2x4 bits4x2 bits8 bits16"
        " float8_e4m3fn float8_e5m2 float8_e4m3fnuz float8_e5m2fnuz float8_e8m0fnu float4_e2m1fn_x2"
        # quantization schemes
        " per_tensor_affine per_tensor_symmetric per_channel_affine per_channel_symmetric"
        " per_channel_affine_float_qparams"
        # quantized storages
        " QInt32Storage QInt8Storage QUInt2x4Storage QUInt4x2Storage QUInt8Storage",
    )
    | _names("torch.", " ".join(f"{k}Storage" for k in _STORAGE_KINDS.split()))
    | _names("torch.", " ".join(f"{k}Tensor" for k in _TENSOR_KINDS.split()))
    | _names("torch.cuda.", " ".join(f"{k}Storage" for k in _STORAGE_KINDS.split()))
    | _names("torch.cuda.", " ".join(f"{k}Tensor" for k in _TENSOR_KINDS.split()))
    | _names("torch.sparse.", " ".join(f"{k}Tensor" for k in _SPARSE_KINDS.split()))
    | _names("torch.cuda.sparse.", " ".join(f"{k}Tensor" for k in _SPARSE_KINDS.split()))
)

#: Harmless builtins that torch never needs: reported ``low``, because
#: ``torch.load(weights_only=True)`` refuses them and ``torch.export.load``
#: then retries with ``weights_only=False``.
_HARMLESS_GLOBALS = frozenset(
    {"builtins.frozenset", "builtins.slice", "builtins.range", "builtins.Ellipsis", "builtins.NotImplemented"}
)

#: Modules (and builtins) whose globals are well-known code-execution
#: primitives; used to word the message, not to decide the severity.
_DANGEROUS_MODULES = _names(
    "",
    "os posix nt subprocess sys importlib runpy pty socket shutil webbrowser code codeop ctypes"
    " pickle _pickle marshal types platform multiprocessing asyncio pdb bdb timeit profile cProfile"
    " trace commands popen2 operator _operator functools urllib http ftplib smtplib telnetlib"
    " requests pip setuptools distutils",
)
_DANGEROUS_BUILTINS = _names(
    "",
    "eval exec compile open getattr setattr delattr __import__ globals locals vars input"
    " breakpoint apply execfile file reload",
)
_DANGEROUS_TORCH = ("torch.hub", "torch.load", "torch.jit", "torch.utils.cpp_extension", "torch.ops", "torch._C")

#: In pickles read by TorchScript's own unpickler (``custom_obj_N`` constants,
#: ``torch._C._pickle_load_obj``) these name TorchScript classes and list
#: builders, not Python objects.
_TORCHSCRIPT_PREFIXES = ("torch.jit._pickle.", "__torch__.")

#: torch's legacy (non-zip) ``torch.save`` format starts with this number as
#: its own pickle, then a protocol pickle, a sys-info pickle, the data pickle
#: and a storage-keys pickle, then raw storage bytes.
_TORCH_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PICKLES = 5

_LINE_LIMIT = 1 << 16  # longest text line (protocol 0 argument) read
_BIG_ARG = 1 << 16  # bytes/str arguments longer than this are skipped, never held in memory
_MAX_STRING = 4096  # longest string kept on the abstract stack (module and attribute names are short)
_MAX_FINDINGS = 1000  # findings kept per archive; then one "too-many-findings"
_SNIFF = 8


def global_allowed(name: str, *, torchscript: bool = False) -> bool:
    """Whether a pickle may import ``name`` (``"module.qualname"``).

    Parameters
    ----------
    name : str
        The global as :mod:`pickle` resolves it.
    torchscript : bool
        The pickle is read by TorchScript's unpickler, which also resolves
        ``torch.jit._pickle.*`` and ``__torch__.*`` (TorchScript classes).
    """
    if name in ALLOWED_GLOBALS:
        return True
    return torchscript and name.startswith(_TORCHSCRIPT_PREFIXES)


def _dangerous(name: str) -> bool:
    module, _, attr = name.partition(".") if "." in name else (name, "", "")
    if name.startswith(_DANGEROUS_TORCH):
        return True
    if module == "builtins" or module == "__builtin__":
        return attr.split(".")[0] in _DANGEROUS_BUILTINS
    return any(name == m or name.startswith(m + ".") for m in _DANGEROUS_MODULES)


# -- report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One hazard found in an archive.

    Attributes
    ----------
    severity : {"high", "medium", "low", "info"}
        ``high``: code execution (or a write outside a folder) is possible.
    code : str
        A stable identifier (``"unsafe-global"``, ``"path-traversal"``, ...).
    member : str or None
        The archive member; a pickle inside a zip-format ``.pt`` member is
        named ``outer!inner`` (``m/data/sample_inputs/model.pt!archive/data.pkl``).
        ``None`` for findings about the whole archive.
    message : str
        One sentence a person can act on.
    detail : dict
        Machine-readable facts (``global``, ``opcode``, ``offset``, ...).
    """

    severity: Severity
    code: str
    member: str | None
    message: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The finding as JSON-ready data."""
        return {
            "severity": self.severity,
            "code": self.code,
            "member": self.member,
            "message": self.message,
            "detail": dict(self.detail),
        }


@dataclass
class AuditReport:
    """What :func:`audit_path` found in one file.

    Attributes
    ----------
    path : str
        The file audited.
    format : {"pt2", "legacy", "torch-zip", "pickle", "json"}
        A ``.pt2`` archive, the older zip format, a ``torch.save`` zip, a
        bare pickle or a JSON document.
    findings : list[Finding]
        In archive member order.
    pickles : list[str]
        Every pickle scanned (member names, ``outer!inner`` when nested).
    """

    path: str
    format: str = "pt2"
    findings: list[Finding] = field(default_factory=list)
    pickles: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """True when no finding is above ``info``."""
        return not any(f.severity != "info" for f in self.findings)

    def counts(self) -> dict[str, int]:
        """Number of findings per severity (every severity present, zeros included)."""
        out: dict[str, int] = dict.fromkeys(SEVERITIES, 0)
        for f in self.findings:
            out[f.severity] += 1
        return out

    def by_severity(self, severity: Severity) -> list[Finding]:
        """The findings of one severity."""
        return [f for f in self.findings if f.severity == severity]

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "path": self.path,
            "format": self.format,
            "clean": self.clean,
            "counts": self.counts(),
            "pickles": list(self.pickles),
            "findings": [f.to_dict() for f in self.findings],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """The report as a JSON document (keys sorted)."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)


# -- bounded reading -----------------------------------------------------------------


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


class _Reader:
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


# -- the abstract pickle machine -------------------------------------------------------


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


def _resolve(module: str, name: str, proto: int) -> str:
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


class _Machine:
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
            self.stack.append(self._import(_resolve(module, attr, self.proto), name, pos))
        elif name == "STACK_GLOBAL":
            attr, module = self.pop(), self.pop()
            if (
                isinstance(module, _Str)
                and isinstance(attr, _Str)
                and module.text is not None
                and attr.text is not None
            ):
                self.stack.append(self._import(_resolve(module.text, attr.text, self.proto), name, pos))
            else:
                self.unresolved.append((name, pos, "its module and name are not plain strings on the stack"))
                self.stack.append(_Global(None))
        elif name == "INST":
            module, _, attr = str(arg).partition(" ")
            self.pop_mark()
            g = self._import(_resolve(module, attr, self.proto), name, pos)
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


# -- the audit -----------------------------------------------------------------------

Loader = Literal["torch.load", "pickle", "torchscript"]

_TEXT_MEMBERS = frozenset({"archive_format", "archive_version", "byteorder", ".data/version", ".data/serialization_id"})
_LEGACY_MEMBERS = {
    "serialized_exported_program.json": "json",
    "serialized_state_dict.json": "json",
    "serialized_constants.json": "json",
    "serialized_state_dict.pt": "torch.load",
    "serialized_constants.pt": "torch.load",
    "serialized_example_inputs.pt": "torch.load",
    "version": "text",
}
_TORCH_ZIP_MEMBERS = re.compile(
    r"[^/]+/(data\.pkl|version|\.format_version|\.storage_alignment|byteorder|\.data/version"
    r"|\.data/serialization_id|data/\d+)"
)
_OPCODE_BYTES = frozenset(op.code.encode("latin-1") for op in pickletools.opcodes)
_WEIGHT_FILE = re.compile(r"data/(weights/weight|constants/tensor)_\d+")
_NAME = r"[^/]+"


class _Auditor:
    def __init__(self, label: str, limits: Limits) -> None:
        self.label = label
        self.limits = limits
        self.report = AuditReport(path=label)
        self._truncated = 0

    # findings ----------------------------------------------------------------------
    def add(self, severity: Severity, code: str, member: str | None, message: str, **detail: Any) -> None:
        if len(self.report.findings) >= _MAX_FINDINGS:
            self._truncated += 1
            return
        self.report.findings.append(Finding(severity, code, member, message, detail))

    def finish(self) -> AuditReport:
        if self._truncated:
            self.report.findings.append(
                Finding(
                    "medium",
                    "too-many-findings",
                    None,
                    f"{self._truncated} more findings were left out after the first {_MAX_FINDINGS}",
                    {"left_out": self._truncated},
                )
            )
        return self.report

    # pickles -----------------------------------------------------------------------
    def scan_pickle_stream(
        self, reader: _Reader, label: str | None, loader: Loader, *, count: int = 1, head: bytes = b"\x80"
    ) -> bool:
        """Scan ``count`` consecutive pickles (``count=0``: torch's rule).

        Return False, with nothing reported, if the data does not start with a
        pickle opcode (``head`` holds its first bytes).
        """
        legacy = count == 0
        index = 0
        while True:
            machine = _Machine(torchscript=loader == "torchscript")
            start = reader.tell()
            error: str | None = None
            try:
                for op, arg, pos in pickletools.genops(reader):  # type: ignore[arg-type]
                    machine.step(op, arg, pos or 0)
            except Exception as exc:  # genops only parses: ValueError, UnicodeDecodeError, ...
                error = f"{type(exc).__name__}: {exc}"
            self.report_machine(machine, label)
            if error is not None:
                if machine.ops == 0 and index == 0 and start == 0 and head[:1] not in _OPCODE_BYTES:
                    return False
                self.add(
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

    def report_machine(self, m: _Machine, label: str | None) -> None:
        ts = m.torchscript
        for use in m.globals.values():
            if global_allowed(use.name, torchscript=ts):
                if use.mutated:
                    self.add(
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
                "known_dangerous": _dangerous(use.name),
            }
            if use.name in _HARMLESS_GLOBALS and not use.mutated:
                self.add(
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
            self.add(
                "high",
                "unsafe-global",
                label,
                f"pickle {how} {use.name} ({use.opcode} at byte {use.offset}), {why}; "
                "unpickling this member (torch.load with weights_only=False, which torch.export.load falls back to) can run arbitrary code",
                **detail,
            )
        for opcode, offset, why in m.unresolved:
            self.add(
                "high",
                "unresolved-global",
                label,
                f"{opcode} at byte {offset} imports a global that cannot be determined statically: {why}",
                opcode=opcode,
                offset=offset,
            )
        for opcode, offset, code in m.extensions:
            self.add(
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
            self.add(
                "high",
                "indirect-call",
                label,
                f"{opcode} at byte {offset} calls an object that is not an allowlisted global (the result of an "
                f"earlier call or lookup, as in a getattr chain); {len(m.indirect)} such call(s) in all",
                opcode=opcode,
                offset=offset,
                count=len(m.indirect),
            )

    def scan_blob(
        self,
        opener: Callable[[], AbstractContextManager[IO[bytes]]],
        size: int,
        label: str,
        loader: Loader,
        *,
        sniff: bool = False,
        whole: bool = True,
    ) -> None:
        """Scan a member that holds a pickle, a torch zip-format file, or (``sniff``) maybe neither.

        ``size`` bytes at most are read; ``whole`` is false when that is less
        than the member (a zip bomb), and then a nested zip, whose directory
        is at its end, is not opened.
        """
        with opener() as fh:
            head = fh.read(_SNIFF)
        if head.startswith(b"PK\x03\x04") and loader != "pickle":  # pickle.loads never reads a zip
            if whole:
                self.scan_nested_zip(opener, label, loader, sniff=sniff)
            return
        if sniff and not (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5):
            return
        with opener() as fh:
            reader = _Reader(fh, size)
            self.report.pickles.append(label)
            ok = self.scan_pickle_stream(reader, label, loader, count=0 if loader == "torch.load" else 1, head=head)
        if not ok:
            self.report.pickles.pop()
            if not sniff:
                self.add(
                    "medium",
                    "not-a-pickle",
                    label,
                    f"member should hold a pickle or a torch zip-format file but starts with {head[:4]!r}; "
                    "it was not checked",
                )

    def scan_nested_zip(
        self, opener: Callable[[], AbstractContextManager[IO[bytes]]], outer: str, loader: Loader, *, sniff: bool
    ) -> None:
        lim = self.limits
        try:
            with opener() as fh, zipfile.ZipFile(fh) as inner:  # type: ignore[arg-type]
                infos = inner.infolist()
                if len(infos) > lim.max_members:
                    self.add(
                        "medium",
                        "too-many-members",
                        outer,
                        f"nested zip has {len(infos)} members, over the limit max_members={lim.max_members}; not checked",
                    )
                    return
                names = [i.filename for i in infos]
                if (
                    loader == "torch.load"
                    and not sniff
                    and any(n == "constants.pkl" or n.endswith("/constants.pkl") for n in names)
                ):
                    self.add(
                        "high",
                        "torchscript-archive",
                        outer,
                        "member is a TorchScript archive (it holds constants.pkl): torch.load hands it to "
                        "torch.jit.load, which compiles and runs the code it carries",
                    )
                pkls = [i for i in infos if i.filename.endswith(".pkl")]
                if not pkls and not sniff:
                    self.add(
                        "medium",
                        "no-pickle-in-zip",
                        outer,
                        "member is a zip but holds no data.pkl, so it is not a torch zip-format file; torch.load would fail",
                    )
                for info in pkls:
                    label = f"{outer}!{info.filename}"
                    budget = self.check_member(info, label, nested=True)
                    if budget is None:
                        continue
                    self.report.pickles.append(label)
                    try:
                        with inner.open(info) as ih:
                            self.scan_pickle_stream(_Reader(ih, budget), label, loader, count=1)
                    except Exception as exc:  # zlib.error, BadZipFile (bad CRC), NotImplementedError, ...
                        self.add(
                            "medium", "member-unreadable", label, f"cannot read member ({type(exc).__name__}: {exc})"
                        )
        except Exception as exc:  # BadZipFile, LargeZipFile, OSError, EOFError, ...
            self.add(
                "medium",
                "nested-zip-unreadable",
                outer,
                f"member starts like a zip but cannot be read as one ({type(exc).__name__}: {exc}); it was not checked",
            )

    # members -----------------------------------------------------------------------
    def check_member(self, info: zipfile.ZipInfo, label: str, *, nested: bool = False) -> int | None:
        """Size, ratio and encryption checks.

        Return how many bytes of the member may be read: its size, or for a
        member over the compression ratio limit ``max_ratio`` times its
        compressed size (a pickle at its start is still scanned, the bomb is
        never expanded); ``None`` if it must not be read at all.
        """
        lim = self.limits
        readable: int | None = info.file_size
        if info.flag_bits & 0x1:
            self.add(
                "medium", "encrypted-member", label, "member is encrypted; it cannot be checked (torch never encrypts)"
            )
            readable = None
        if info.file_size > lim.max_member_bytes:
            self.add(
                "medium",
                "member-too-large",
                label,
                f"member declares {info.file_size} bytes, over the limit max_member_bytes={lim.max_member_bytes}; not checked",
                size=info.file_size,
                limit=lim.max_member_bytes,
            )
            readable = None
        if info.compress_type != zipfile.ZIP_STORED:
            budget = lim.max_ratio * max(info.compress_size, 1)
            if info.file_size > budget:
                self.add(
                    "medium",
                    "compression-ratio",
                    label,
                    f"member expands {info.file_size} bytes from {info.compress_size}, over the compression ratio "
                    f"limit max_ratio={lim.max_ratio} (a zip bomb?); at most {budget} bytes of it were decompressed",
                    size=info.file_size,
                    compressed=info.compress_size,
                    limit=lim.max_ratio,
                )
                readable = None if readable is None else budget
            if not nested:
                self.add(
                    "low",
                    "compressed-member",
                    label,
                    f"member is compressed (method {info.compress_type}) where torch writes members stored; "
                    "the archive was rewritten by another tool",
                    method=info.compress_type,
                )
        return readable

    def check_name(self, info: zipfile.ZipInfo) -> None:
        # Mirrors pt2canon.serde.archive.check_member_name, which refuses these archives.
        name = info.filename
        if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
            self.add(
                "high",
                "path-traversal",
                name,
                "member name is an absolute path: extracting the archive writes outside the target folder",
            )
        elif ".." in name.replace("\\", "/").split("/"):
            self.add(
                "high",
                "path-traversal",
                name,
                "member name has a '..' component: extracting the archive writes outside the target folder",
            )
        elif "\\" in name:
            self.add("medium", "backslash-name", name, "member name contains a backslash, a path separator on Windows")
        if "\x00" in name:
            self.add("medium", "nul-in-name", name, "member name contains a NUL byte")
        mode = info.external_attr >> 16
        if info.create_system == 3 and stat.S_ISLNK(mode):
            self.add(
                "high",
                "symlink-member",
                name,
                "member is a symbolic link: extracting it can point files outside the target folder",
            )

    # the archive -------------------------------------------------------------------
    def audit_zip(self, zf: zipfile.ZipFile) -> None:
        lim = self.limits
        infos = zf.infolist()
        if len(infos) > lim.max_members:
            self.add(
                "medium",
                "too-many-members",
                None,
                f"archive has {len(infos)} members, over the limit max_members={lim.max_members}; contents not checked",
                count=len(infos),
                limit=lim.max_members,
            )
            for info in infos:
                self.check_name(info)
            return
        seen: dict[str, int] = {}
        total = 0
        for info in infos:
            seen[info.filename] = seen.get(info.filename, 0) + 1
            total += info.file_size
        for name, n in seen.items():
            if n > 1:
                self.add(
                    "medium",
                    "duplicate-member",
                    name,
                    f"member name appears {n} times: different readers pick different copies (all were checked)",
                )
        if total > lim.max_total_bytes:
            self.add(
                "medium",
                "archive-too-large",
                None,
                f"members declare {total} bytes in all, over the limit max_total_bytes={lim.max_total_bytes}",
                size=total,
                limit=lim.max_total_bytes,
            )

        layout = _Layout(self, zf, infos)
        self.report.format = layout.format
        for info in infos:
            self.check_name(info)
            name = info.filename
            if name.endswith("/"):
                continue
            budget = self.check_member(info, name)
            kind = layout.kind(name)
            if kind == "json" and info.file_size > lim.max_json_bytes:
                self.add(
                    "medium",
                    "json-too-large",
                    name,
                    f"JSON member declares {info.file_size} bytes, over the limit max_json_bytes={lim.max_json_bytes}",
                )
            if kind == "unknown":
                self.add("low", "unknown-member", name, "member is not part of the .pt2 layout; torch ignores it")
            if budget is None or kind in ("json", "text", "raw", "dir"):
                continue
            opener = _member_opener(zf, info)
            try:
                if kind in ("torch.load", "pickle", "torchscript"):
                    self.scan_blob(opener, budget, name, kind, whole=budget == info.file_size)  # type: ignore[arg-type]
                else:  # unknown, extra, other known folders: scan only what looks like a pickle
                    self.scan_blob(opener, budget, name, "torch.load", sniff=True, whole=budget == info.file_size)
            except Exception as exc:  # BadZipFile (bad CRC, header mismatch), zlib.error, OSError, ...
                self.add("medium", "member-unreadable", name, f"cannot read member ({type(exc).__name__}: {exc})")
        for finding in layout.findings:
            self.add(*finding)


def _member_opener(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], AbstractContextManager[IO[bytes]]]:
    def opener() -> AbstractContextManager[IO[bytes]]:
        return zf.open(info)

    return opener


class _Layout:
    """Which members of an archive hold what, from its structure and payload configs."""

    def __init__(self, auditor: _Auditor, zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> None:
        self.auditor = auditor
        self.findings: list[tuple[Any, ...]] = []
        self.kinds: dict[str, str] = {}
        names = [i.filename for i in infos]
        roots = self._roots(names)
        if roots:
            self.format = "pt2"
            if len(roots) > 1:
                self.findings.append(
                    (
                        "medium",
                        "multiple-roots",
                        None,
                        f"archive has {len(roots)} root folders ({', '.join(sorted(repr(r) for r in roots))}); "
                        "torch reads one of them and pt2canon refuses the archive",
                    )
                )
            for root in sorted(roots):
                self._pt2(zf, infos, root)
        elif "serialized_exported_program.json" in names:
            self.format = "legacy"
            for name, kind in _LEGACY_MEMBERS.items():
                self.kinds[name] = kind
            for name in names:
                if name.startswith("extra_files/"):
                    self.kinds.setdefault(name, "extra")
        elif any(re.fullmatch(r"[^/]+/data\.pkl", n) for n in names):
            self.format = "torch-zip"
            self._torch_zip(names)
        else:
            raise ArchiveError(
                "zip holds no exported program (<root>/models/<name>.json or serialized_exported_program.json) "
                "and is not a torch.save file (<dir>/data.pkl)",
                file=auditor.label,
            )

    def kind(self, name: str) -> str:
        if name.endswith("/"):
            return "dir"
        return self.kinds.get(name, "unknown")

    @staticmethod
    def _roots(names: list[str]) -> set[str]:
        roots = set()
        for name in names:
            parts = name.split("/")
            if parts[-1] == "archive_format" and len(parts) <= 2:
                roots.add(parts[0] + "/" if len(parts) == 2 else "")
            elif len(parts) == 3 and parts[1] == "models" and parts[2].endswith(".json"):
                roots.add(parts[0] + "/")
            elif len(parts) == 2 and parts[0] == "models" and parts[1].endswith(".json"):
                roots.add("")
        return roots

    def _torch_zip(self, names: list[str]) -> None:
        # A torch.save file given directly: torch.load unpickles its data.pkl.
        if any(n == "constants.pkl" or n.endswith("/constants.pkl") for n in names):
            self.findings.append(
                (
                    "high",
                    "torchscript-archive",
                    None,
                    "file is a TorchScript archive (it holds constants.pkl): torch.load hands it to torch.jit.load, "
                    "which compiles and runs the code it carries",
                )
            )
        for name in names:
            if name.endswith(".pkl"):
                self.kinds[name] = "torch.load"
            elif _TORCH_ZIP_MEMBERS.fullmatch(name):
                self.kinds[name] = "raw"

    def _pt2(self, zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], root: str) -> None:
        kinds = self.kinds
        members = [i.filename for i in infos if i.filename.startswith(root)]
        models = set()
        aoti: dict[str, str] = {}
        for name in members:
            rel = name[len(root) :]
            if rel in _TEXT_MEMBERS:
                kinds[name] = "text"
            elif m := re.fullmatch(rf"models/({_NAME})\.json", rel):
                kinds[name] = "json"
                models.add(m.group(1))
            elif re.fullmatch(
                rf"data/(weights/{_NAME}_(weights|model_param)_config|constants/{_NAME}_(constants|model_constants)_config)\.json",
                rel,
            ):
                kinds[name] = "json"
            elif re.fullmatch(rf"data/sample_inputs/{_NAME}\.pt", rel) or re.fullmatch(
                rf"data/(weights|constants)/{_NAME}\.pt", rel
            ):
                kinds[name] = "torch.load"
            elif re.fullmatch(r"data/constants/custom_obj_\d+", rel):
                kinds[name] = "torchscript"
            elif re.fullmatch(r"data/constants/opaque_obj_\d+", rel):
                kinds[name] = "pickle"
            elif _WEIGHT_FILE.fullmatch(rel):
                kinds[name] = "unreferenced"  # raw or pickled: settled by the configs below
            elif rel.startswith("extra/"):
                kinds[name] = "extra"
            elif rel.startswith(("data/executorch/", "data/mtia/", "xl_model_weights/")):
                kinds[name] = "other"
            elif rel.startswith("data/aotinductor/"):
                kinds[name] = "other"
                folder = rel.split("/")[2] if rel.count("/") >= 3 else rel
                aoti.setdefault(folder, name)
        for folder, first in sorted(aoti.items()):
            self.findings.append(
                (
                    "high",
                    "aoti-native-code",
                    first,
                    f"archive carries an AOTInductor package ({root}data/aotinductor/{folder}/): torch.export.load "
                    "loads its shared library, which runs native code",
                )
            )
        for config in [n for n in members if kinds.get(n) == "json" and n.endswith("config.json")]:
            self._config(zf, root, config)
        for name in members:
            if kinds.get(name) == "unreferenced":
                kinds[name] = "sniff"

    def _config(self, zf: zipfile.ZipFile, root: str, config: str) -> None:
        folder = "data/weights/" if "/data/weights/" in f"/{config[len(root) :]}" else "data/constants/"
        info = zf.getinfo(config)
        lim = self.auditor.limits
        if (
            info.file_size > lim.max_json_bytes
            or info.flag_bits & 0x1
            or (
                info.compress_type != zipfile.ZIP_STORED and info.file_size > lim.max_ratio * max(info.compress_size, 1)
            )
        ):
            return
        try:
            with zf.open(info) as fh:
                doc = _json.loads(fh.read(lim.max_json_bytes + 1))
            entries = doc["config"].items()
        except Exception as exc:
            self.findings.append(
                (
                    "medium",
                    "malformed-config",
                    config,
                    f"payload config cannot be read ({type(exc).__name__}); weights were sniffed for pickles instead",
                )
            )
            return
        for fqn, meta in entries:
            if not isinstance(meta, dict) or not isinstance(meta.get("path_name"), str):
                self.findings.append(("medium", "malformed-config", config, f"entry {fqn!r} has no path_name"))
                continue
            path_name = meta["path_name"]
            member = f"{root}{folder}{path_name}"
            if "/" in path_name or "\\" in path_name:
                self.findings.append(
                    (
                        "medium",
                        "config-path",
                        config,
                        f"entry {fqn!r} names {path_name!r}, a path outside {folder} (torch joins it to the folder as is)",
                    )
                )
            if meta.get("use_pickle"):
                loader = (
                    "torchscript"
                    if path_name.startswith("custom_obj_")
                    else "pickle"
                    if path_name.startswith("opaque_obj_")
                    else "torch.load"
                )
                self.kinds[member] = loader
            elif self.kinds.get(member) in ("unreferenced", None, "unknown"):
                self.kinds[member] = "raw"


def audit_path(path: str | os.PathLike[str], *, limits: Limits = DEFAULT_LIMITS) -> AuditReport:
    """Scan a ``.pt2`` archive (or an older-format zip, a ``torch.save`` file, a pickle) for hazards.

    Nothing is unpickled, imported or extracted.

    Parameters
    ----------
    path : str or os.PathLike
        The file to scan.
    limits : Limits
        Size bounds; members over them are reported and not read.

    Returns
    -------
    AuditReport
        The findings; ``report.clean`` is true when none is above ``info``.

    Raises
    ------
    InputError
        If the file is missing or empty, or is neither a zip, a JSON document nor a pickle.
    ArchiveError
        If the zip cannot be read at all, or holds neither a program nor torch.save data.
    """
    label = os.fspath(path)
    head, size = sniff(label, _SNIFF)
    if size == 0:
        raise InputError("file is empty; expected a .pt2 archive", file=label)
    auditor = _Auditor(label, limits)
    if head.startswith(b"PK"):
        try:
            zf = zipfile.ZipFile(label)
        except Exception as exc:  # BadZipFile, LargeZipFile, OSError, EOFError, ValueError, ...
            raise ArchiveError(f"not a readable zip archive ({type(exc).__name__}: {exc})", file=label) from None
        with zf:
            auditor.audit_zip(zf)
        return auditor.finish()
    if head.lstrip()[:1] in (b"{", b"["):
        auditor.report.format = "json"
        return auditor.finish()
    auditor.report.format = "pickle"
    if not (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5) and not _parses(label, size):
        raise InputError("not a .pt2 archive, zip, JSON document or pickle", file=label)
    with open(label, "rb") as fh:
        auditor.report.pickles.append(label)
        auditor.scan_pickle_stream(_Reader(fh, size), None, "torch.load", count=0)
    from pt2canon.fx.pickled import audit_findings  # what is particular to GraphPickler payloads

    for severity, code, message, detail in audit_findings(auditor.report.findings):
        auditor.add(severity, code, None, message, **detail)  # type: ignore[arg-type]
    return auditor.finish()


def _parses(label: str, size: int) -> bool:
    """Whether a file without a protocol header is one whole pickle (protocol 0 and 1 have none)."""
    with open(label, "rb") as fh:
        try:
            for _ in pickletools.genops(_Reader(fh, size)):  # type: ignore[arg-type]
                pass
        except Exception:
            return False
    return True
