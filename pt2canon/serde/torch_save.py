"""A ``torch.save`` zip read tensor by tensor, without unpickling: :func:`read_tensor_records`.

A ``torch.save`` file is a zip whose ``<root>/data.pkl`` describes each
tensor::

    torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks)
    storage = persistent id ("storage", torch.FloatStorage, key, location, numel)

(parameters wrapped in ``torch._utils._rebuild_parameter(tensor,
requires_grad, hooks)``; dtypes without a typed storage class use
``_rebuild_tensor_v3`` with an ``UntypedStorage`` and the dtype); the
storage's bytes are the record ``<root>/data/<key>``. :func:`read_tensor_records`
walks ``data.pkl`` opcode by opcode (:func:`pickletools.genops`, global names
resolved as :mod:`pt2canon.audit` resolves them) and evaluates only plain
data (ints, strings, tuples, lists, dicts), persistent ids and calls of
those rebuild functions and of ``collections.OrderedDict``; nothing is
imported or run. Anything else — another global, an opcode that builds
objects, backward hooks, a tensor subclass, a quantized, sparse or
unknown-dtype storage — is an :class:`~pt2canon.errors.UnsafeArchiveError`
naming the member (``outer!<root>/data.pkl``, the nesting convention of
:mod:`pt2canon.audit`). Storage records are checked against the sizes the
pickle declares, and each tensor's view against its storage.

The zip is read in place, with every check of
:class:`~pt2canon.serde.archive.Limits`, through :class:`NestedSource`.
"""

from __future__ import annotations

import io
import os
import pickletools
import re
import tempfile
import zipfile
from dataclasses import dataclass
from typing import IO, Any

from pt2canon.errors import ArchiveError, Pt2CanonError, UnsafeArchiveError
from pt2canon.serde.zipsource import Window, ZipSource

__all__ = ["NestedSource", "TensorRecord", "read_tensor_records", "relocated"]

#: Legacy typed-storage classes -> torch dtype name (``torch/storage.py``).
_STORAGE_DTYPES = {
    "ByteStorage": "uint8",
    "CharStorage": "int8",
    "ShortStorage": "int16",
    "IntStorage": "int32",
    "LongStorage": "int64",
    "HalfStorage": "float16",
    "FloatStorage": "float32",
    "DoubleStorage": "float64",
    "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
    "BoolStorage": "bool",
    "BFloat16Storage": "bfloat16",
}
_ITEMSIZE = {
    "uint8": 1, "int8": 1, "int16": 2, "int32": 4, "int64": 8, "float16": 2, "float32": 4, "float64": 8,
    "complex32": 4, "complex64": 8, "complex128": 16, "bool": 1, "bfloat16": 2, "uint16": 2, "uint32": 4,
    "uint64": 8, "float8_e4m3fn": 1, "float8_e5m2": 1, "float8_e4m3fnuz": 1, "float8_e5m2fnuz": 1,
    "float8_e8m0fnu": 1,
}  # fmt: skip
_STRIDED = 7  # schema Layout.Strided
_REBUILD = "torch._utils."
_PLAIN_OPS = {
    "NONE": None,
    "NEWTRUE": True,
    "NEWFALSE": False,
}
_STRING_OPS = frozenset(
    {"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8"}
)
_NUMBER_OPS = frozenset({"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "BINFLOAT", "FLOAT"})


@dataclass(frozen=True)
class TensorRecord:
    """One tensor of a ``torch.save`` zip, as its pickle describes it (nothing is loaded).

    Attributes
    ----------
    fqn : str
    record : str
        The zip member holding the storage bytes (``archive/data/0``).
    dtype : str
        torch dtype name without ``torch.`` (``"float32"``).
    numel : int
        Elements of the whole storage.
    sizes, strides : tuple of int
    storage_offset : int
    device : str
        torch's location string (``"cpu"``, ``"cuda:0"``).
    requires_grad, is_param : bool

    Examples
    --------
    Made by :func:`read_tensor_records`; :meth:`tensor_meta` is the
    ``TensorMeta`` of the current format (dtype 7 is ``torch.float32``):

    >>> r = TensorRecord("fc.bias", "archive/data/0", "float32", 4, (4,), (1,), 0, "cuda:1", True, True)
    >>> meta = r.tensor_meta()
    >>> meta["dtype"], meta["sizes"], meta["device"], meta["storage_offset"]
    (7, [{'as_int': 4}], {'type': 'cuda', 'index': 1}, {'as_int': 0})
    """

    fqn: str
    record: str
    dtype: str
    numel: int
    sizes: tuple[int, ...]
    strides: tuple[int, ...]
    storage_offset: int
    device: str
    requires_grad: bool
    is_param: bool

    def tensor_meta(self) -> dict[str, Any]:
        """The serialized ``TensorMeta`` torch's current format writes for this tensor."""
        from pt2canon.serde.enums import DTYPE_NAMES

        dtype = {name: code for code, name in DTYPE_NAMES.items()}[f"torch.{self.dtype}"]
        kind, _, index = self.device.partition(":")
        return {
            "dtype": dtype,
            "sizes": [{"as_int": s} for s in self.sizes],
            "requires_grad": self.requires_grad,
            "device": {"type": kind, "index": int(index) if index.isdigit() else None},
            "strides": [{"as_int": s} for s in self.strides],
            "storage_offset": {"as_int": self.storage_offset},
            "layout": _STRIDED,
        }


# -- the pickle walker -----------------------------------------------------------------


class _Refused(Exception):
    """The pickle holds something this reader does not interpret (the message says what)."""


@dataclass(frozen=True)
class _Global:
    name: str


@dataclass(frozen=True)
class _Storage:
    dtype: str | None  # None: an UntypedStorage (bytes; the rebuild call names the dtype)
    key: str
    device: str
    numel: int


@dataclass(frozen=True)
class _Tensor:
    storage: _Storage
    dtype: str
    offset: int
    sizes: tuple[int, ...]
    strides: tuple[int, ...]
    requires_grad: bool
    is_param: bool = False


def _ints(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, tuple) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise _Refused(f"{what} is {type(value).__name__}, not a tuple of ints")
    return value


def _no_hooks(hooks: Any) -> None:
    if hooks not in ({}, None):
        raise _Refused("a tensor carries backward hooks")


def _rebuild(name: str, args: tuple[Any, ...]) -> Any:
    """Evaluate one allowed rebuild call on interpreted arguments."""
    if name == "collections.OrderedDict":
        if args:
            raise _Refused("collections.OrderedDict is called with arguments")
        return {}
    if name in (f"{_REBUILD}_rebuild_tensor_v2", f"{_REBUILD}_rebuild_tensor_v3", f"{_REBUILD}_rebuild_tensor"):
        v3 = name.endswith("_v3")
        if len(args) < 4 or len(args) > (8 if v3 else 7):
            raise _Refused(f"{name} is called with {len(args)} arguments")
        storage, offset = args[0], args[1]
        sizes, strides = _ints(args[2], "a tensor's size"), _ints(args[3], "a tensor's stride")
        requires_grad = args[4] if len(args) > 4 else False
        if len(args) > 5:
            _no_hooks(args[5])
        dtype = storage.dtype if isinstance(storage, _Storage) else None
        if v3:
            if len(args) < 7 or not isinstance(args[6], _Global) or not args[6].name.startswith("torch."):
                raise _Refused(f"{name} names no dtype")
            dtype = args[6].name[len("torch.") :]
        metadata = args[7 if v3 else 6] if len(args) > (7 if v3 else 6) else None
        if metadata not in (None, {}):
            raise _Refused("a tensor carries extra metadata (conjugate or negative bits, a tensor subclass)")
        if not isinstance(storage, _Storage) or dtype is None:
            raise _Refused(f"{name} is called on something that is not a typed storage")
        if not isinstance(offset, int) or not isinstance(requires_grad, bool) or len(sizes) != len(strides):
            raise _Refused(f"{name} is called with malformed arguments")
        return _Tensor(storage, dtype, offset, sizes, strides, requires_grad)
    if name in (f"{_REBUILD}_rebuild_parameter", f"{_REBUILD}_rebuild_parameter_with_state"):
        if len(args) != (4 if name.endswith("_state") else 3) or not isinstance(args[0], _Tensor):
            raise _Refused(f"{name} is not called on a tensor")
        _no_hooks(args[2])
        if name.endswith("_state") and args[3] not in (None, {}, ()):
            raise _Refused("a parameter carries Python attributes")
        if not isinstance(args[1], bool):
            raise _Refused(f"{name} is called with malformed arguments")
        t = args[0]
        return _Tensor(t.storage, t.dtype, t.offset, t.sizes, t.strides, args[1], is_param=True)
    raise _Refused(f"it calls {name}, which a state dict of plain tensors does not need")


def _persistent(pid: Any) -> _Storage:
    if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
        raise _Refused("a persistent id is not a storage record")
    _, kind, key, location, numel = pid
    if not isinstance(kind, _Global) or not isinstance(key, str) or not isinstance(location, str):
        raise _Refused("a storage record is malformed")
    if not isinstance(numel, int) or isinstance(numel, bool) or numel < 0:
        raise _Refused("a storage record's size is malformed")
    if not re.fullmatch(r"[0-9A-Za-z_]+", key) or not re.fullmatch(r"[a-z_]+(:\d+)?", location):
        raise _Refused(f"a storage record names key {key[:40]!r} at location {location[:40]!r}")
    short = kind.name.removeprefix("torch.").removeprefix("cuda.")
    if short == "UntypedStorage" or kind.name == "torch.storage.UntypedStorage":
        return _Storage(None, key, location, numel)
    if short not in _STORAGE_DTYPES:
        raise _Refused(f"a storage has type {kind.name} (quantized or unknown)")
    return _Storage(_STORAGE_DTYPES[short], key, location, numel)


def _walk(data: bytes) -> Any:
    """The value a state dict's pickle builds, with tensors as :class:`_Tensor`; raises :class:`_Refused`."""
    from pt2canon.audit.pickles import resolve_global as _resolve

    stack: list[Any] = []
    marks: list[list[Any]] = []
    memo: dict[Any, Any] = {}
    proto = 0

    def pop_mark() -> list[Any]:
        nonlocal stack
        if not marks:
            raise _Refused("the pickle pops a mark it never set")
        items, stack = stack, marks.pop()
        return items

    try:
        for op, arg, pos in pickletools.genops(io.BytesIO(data)):
            name = op.name
            try:
                if name in _STRING_OPS:
                    stack.append(arg.decode("latin-1") if isinstance(arg, bytes) else arg)
                elif name in _NUMBER_OPS:
                    stack.append(arg)
                elif name in _PLAIN_OPS:
                    stack.append(_PLAIN_OPS[name])
                elif name in ("PROTO", "FRAME"):
                    proto = arg if name == "PROTO" and isinstance(arg, int) else proto
                elif name == "MARK":
                    marks.append(stack)
                    stack = []
                elif name == "EMPTY_DICT":
                    stack.append({})
                elif name == "EMPTY_LIST":
                    stack.append([])
                elif name == "EMPTY_TUPLE":
                    stack.append(())
                elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                    n = int(name[-1])
                    items = stack[-n:] if len(stack) >= n else None
                    if items is None:
                        raise _Refused(f"{name} finds too few items")
                    del stack[-n:]
                    stack.append(tuple(items))
                elif name in ("TUPLE", "LIST"):
                    items = pop_mark()  # rebinds ``stack``: pop first, then push
                    stack.append(tuple(items) if name == "TUPLE" else items)
                elif name == "DICT":
                    items = pop_mark()
                    stack.append(dict(zip(items[::2], items[1::2])))
                elif name == "APPEND":
                    value = stack.pop()
                    stack[-1].append(value)
                elif name == "APPENDS":
                    items = pop_mark()
                    stack[-1].extend(items)
                elif name == "SETITEM":
                    value, key = stack.pop(), stack.pop()
                    stack[-1][key] = value
                elif name == "SETITEMS":
                    items = pop_mark()
                    stack[-1].update(zip(items[::2], items[1::2]))
                elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
                    memo[arg] = stack[-1]
                elif name == "MEMOIZE":
                    memo[len(memo)] = stack[-1]
                elif name in ("BINGET", "LONG_BINGET", "GET"):
                    stack.append(memo[arg])
                elif name == "GLOBAL":
                    module, _, attr = str(arg).partition(" ")
                    stack.append(_Global(_resolve(module, attr, proto)))
                elif name == "STACK_GLOBAL":
                    attr, module = stack.pop(), stack.pop()
                    if not isinstance(module, str) or not isinstance(attr, str):
                        raise _Refused("STACK_GLOBAL's module and name are not strings")
                    stack.append(_Global(_resolve(module, attr, proto)))
                elif name == "BINPERSID":
                    stack.append(_persistent(stack.pop()))
                elif name == "REDUCE":
                    args, fn = stack.pop(), stack.pop()
                    if not isinstance(fn, _Global) or not isinstance(args, tuple):
                        raise _Refused("REDUCE calls something that is not a global")
                    stack.append(_rebuild(fn.name, args))
                elif name == "BUILD":
                    state = stack.pop()
                    if not isinstance(stack[-1], dict) or isinstance(state, (_Tensor, _Storage)):
                        raise _Refused("BUILD sets the state of something other than a dict")
                    # An OrderedDict's attributes (nn.Module.state_dict's _metadata): not weights.
                elif name == "POP":
                    stack.pop()
                elif name == "POP_MARK":
                    pop_mark()
                elif name == "DUP":
                    stack.append(stack[-1])
                elif name == "STOP":
                    if len(stack) != 1 or marks:
                        raise _Refused("the pickle stops with a malformed stack")
                    return stack[0]
                else:
                    raise _Refused(f"opcode {name} builds objects a state dict of plain tensors does not hold")
            except _Refused as exc:
                raise _Refused(f"{exc} ({name} at byte {pos})") from None
            except (IndexError, KeyError, AttributeError, TypeError) as exc:
                raise _Refused(f"{name} at byte {pos} does not fit the stack ({type(exc).__name__})") from None
    except ValueError as exc:  # genops: truncated or malformed pickle
        raise _Refused(f"the pickle cannot be parsed ({exc})") from None
    raise _Refused("the pickle has no STOP")


# -- the nested zip --------------------------------------------------------------------


class NestedSource(ZipSource):
    """A zip-format member of an archive (a ``torch.save`` file), read in place with the archive's checks.

    A stored member is read straight from the archive's bytes; a compressed
    one is first decompressed (bounded by the limits) into a temporary file.

    Examples
    --------
    >>> import io, zipfile
    >>> from pt2canon.serde.layout import DEFAULT_LIMITS
    >>> inner, outer = io.BytesIO(), io.BytesIO()
    >>> with zipfile.ZipFile(inner, "w") as zf:
    ...     zf.writestr("archive/data.pkl", b"")
    ...     zf.writestr("archive/data/0", bytes(8))
    >>> with zipfile.ZipFile(outer, "w") as zf:
    ...     zf.writestr("sd.pt", inner.getvalue())
    >>> src = ZipSource(outer.getvalue(), None, "old.pt2", DEFAULT_LIMITS)
    >>> nested = NestedSource(src, "sd.pt")
    >>> nested.names(), nested.size("archive/data/0"), nested.label
    (['archive/data.pkl', 'archive/data/0'], 8, 'old.pt2')
    >>> nested.close()
    """

    def __init__(self, outer: ZipSource, member: str) -> None:
        info = outer.infos[member]
        self._tmp: IO[bytes] | None = None
        self._fd: int | None = None
        if info.compress_type == zipfile.ZIP_STORED and not info.flag_bits & 0x1:
            with outer._open_private() as fh:
                start = outer.data_start(fh, info)
        else:
            self._tmp = tempfile.TemporaryFile()  # noqa: SIM115 - closed with the source
            for block in outer.iter_chunks(member):
                self._tmp.write(block)
            self._tmp.flush()
            start = 0
        size = info.file_size
        data = outer._data
        if self._tmp is not None:
            tmp_fd = self._tmp.fileno()
            self._pread = lambda off, n: os.pread(tmp_fd, n, start + off)
        elif data is not None:
            view = memoryview(data)
            self._pread = lambda off, n: bytes(view[start + off : start + off + n])
        else:
            fd = self._fd = os.open(outer.path, os.O_RDONLY)  # type: ignore[arg-type]
            self._pread = lambda off, n: os.pread(fd, n, start + off)
        self._window_size = size
        try:
            super().__init__(None, None, outer.label, outer.limits)
        except BaseException:
            self._release()
            raise

    def _open_private(self) -> IO[bytes]:
        return Window(self._pread, self._window_size)  # type: ignore[return-value]

    def _release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._tmp is not None:
            self._tmp.close()
            self._tmp = None

    def close(self) -> None:
        super().close()
        self._release()


def relocated(exc: Pt2CanonError, outer: str) -> Pt2CanonError:
    """Name a nested member ``outer!inner`` in an error raised by the nested zip.

    The error is changed in place and returned; one already named inside
    ``outer`` is left as it is.

    Examples
    --------
    >>> from pt2canon.errors import ArchiveError
    >>> err = relocated(ArchiveError("member is missing", file="old.pt2", member="archive/data/3"), "sd.pt")
    >>> err.member, str(err)
    ('sd.pt!archive/data/3', 'old.pt2:sd.pt!archive/data/3: member is missing')
    >>> relocated(err, "sd.pt").member  # already relocated: unchanged
    'sd.pt!archive/data/3'
    """
    if exc.member != outer and not (exc.member or "").startswith(f"{outer}!"):
        exc.member = f"{outer}!{exc.member}" if exc.member else outer
        exc.args = (exc._format(),)
    return exc


def read_tensor_records(source: ZipSource, member: str) -> dict[str, TensorRecord]:
    r"""Every tensor of the ``torch.save`` zip ``member`` of ``source``, by FQN, read from its ``data.pkl``.

    ``source`` is the archive, or the member already opened as a nested zip.

    Raises
    ------
    UnsafeArchiveError
        If the pickle holds anything but a dict of plain tensors, naming the
        member ``outer!<root>/data.pkl``.
    ArchiveError
        If the member is not a torch zip, or a storage record is missing or
        has another size than its pickle says.

    Examples
    --------
    The pickle ``torch.save({"w": t})`` writes for a ``float32`` tensor
    ``t`` of size 2 at offset 1 in a storage of 3 elements, written out
    opcode by opcode, in a ``torch.save`` zip (``sd.pt``) inside an archive:

    >>> import io, struct, zipfile
    >>> from pt2canon.serde.layout import DEFAULT_LIMITS
    >>> s = lambda text: b"U" + bytes([len(text)]) + text.encode()  # SHORT_BINSTRING
    >>> storage = b"(" + s("storage") + b"ctorch\nFloatStorage\n" + s("0") + s("cpu") + b"K\x03tQ"
    >>> hooks = b"ccollections\nOrderedDict\n)R"
    >>> args = storage + b"K\x01" + b"K\x02\x85" + b"K\x01\x85" + b"\x89" + hooks  # offset, sizes, strides, grad
    >>> data_pkl = b"\x80\x02}" + s("w") + b"ctorch._utils\n_rebuild_tensor_v2\n(" + args + b"tRs."
    >>> def archive(data_pkl, record):
    ...     inner, outer = io.BytesIO(), io.BytesIO()
    ...     with zipfile.ZipFile(inner, "w") as zf:
    ...         zf.writestr("archive/data.pkl", data_pkl)
    ...         zf.writestr("archive/data/0", record)
    ...     with zipfile.ZipFile(outer, "w") as zf:
    ...         zf.writestr("sd.pt", inner.getvalue())
    ...     return ZipSource(outer.getvalue(), None, "old.pt2", DEFAULT_LIMITS)
    >>> read_tensor_records(archive(data_pkl, struct.pack("<3f", 1, 2, 3)), "sd.pt")
    {'w': TensorRecord(fqn='w', record='archive/data/0', dtype='float32', numel=3, sizes=(2,), strides=(1,), storage_offset=1, device='cpu', requires_grad=False, is_param=False)}

    A record of another size than the pickle declares, and a pickle that
    calls anything but the rebuild functions, are refused (nothing is run):

    >>> read_tensor_records(archive(data_pkl, b"1234"), "sd.pt")
    Traceback (most recent call last):
    ...
    pt2canon.errors.ArchiveError: old.pt2:sd.pt!archive/data/0: tensor 'w': the record has 4 bytes, its pickle says 12 (float32, 4 bytes each)
    >>> read_tensor_records(archive(b"cos\nsystem\n(" + s("true") + b"tR.", b""), "sd.pt")
    Traceback (most recent call last):
    ...
    pt2canon.errors.UnsafeArchiveError: old.pt2:sd.pt!archive/data.pkl: it calls os.system, which a state dict of plain tensors does not need (REDUCE at byte 19); pt2canon reads a state dict without unpickling it and stops here (nothing was run)
    """
    try:
        nested = source if isinstance(source, NestedSource) else NestedSource(source, member)
        return _tensor_records(nested, member)
    except Pt2CanonError as exc:
        raise relocated(exc, member) from None


def _tensor_records(nested: NestedSource, member: str) -> dict[str, TensorRecord]:
    source = nested
    pickles = [n for n in nested.infos if n.count("/") == 1 and n.endswith("/data.pkl")]
    if len(pickles) != 1:
        raise ArchiveError(
            f"zip member holds {len(pickles)} <root>/data.pkl records; a torch.save file holds one",
            file=source.label,
            member=member,
        )
    pkl = pickles[0]
    root = pkl[: -len("data.pkl")]
    label = f"{member}!{pkl}"
    try:
        value = _walk(nested.read(pkl))
    except _Refused as exc:
        raise UnsafeArchiveError(
            f"{exc}; pt2canon reads a state dict without unpickling it and stops here (nothing was run)",
            file=source.label,
            member=label,
        ) from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, _Tensor) for k, v in value.items()):
        raise UnsafeArchiveError(
            "the pickle does not build a dict of FQN -> tensor; pt2canon reads nothing else from it",
            file=source.label,
            member=label,
        )
    out: dict[str, TensorRecord] = {}
    for fqn, t in value.items():
        record = f"{root}data/{t.storage.key}"
        where = f"{member}!{record}"
        if record not in nested.infos:
            raise ArchiveError(
                f"tensor {fqn!r} is stored in a record the zip does not have", file=source.label, member=where
            )
        itemsize = _ITEMSIZE.get(t.dtype)
        if itemsize is None:
            raise UnsafeArchiveError(
                f"tensor {fqn!r} has dtype {t.dtype!r}, which pt2canon does not know", file=source.label, member=label
            )
        # A typed storage counts elements of its dtype; an untyped one (v3) counts bytes.
        nbytes = t.storage.numel * itemsize if t.storage.dtype is not None else t.storage.numel
        numel = nbytes // itemsize
        if nested.size(record) != nbytes or nbytes % itemsize:
            raise ArchiveError(
                f"tensor {fqn!r}: the record has {nested.size(record)} bytes, its pickle says {nbytes} "
                f"({t.dtype}, {itemsize} bytes each)",
                file=source.label,
                member=where,
            )
        extent = sum((s - 1) * abs(d) for s, d in zip(t.sizes, t.strides)) + 1 if all(t.sizes) else 0
        if t.offset < 0 or any(s < 0 for s in t.sizes) or (extent and t.offset + extent > numel):
            raise ArchiveError(
                f"tensor {fqn!r} (offset {t.offset}, sizes {list(t.sizes)}, strides {list(t.strides)}) "
                f"does not fit in its storage of {numel} elements",
                file=source.label,
                member=label,
            )
        out[fqn] = TensorRecord(
            fqn, record, t.dtype, numel, t.sizes, t.strides, t.offset, t.storage.device, t.requires_grad, t.is_param
        )
    return out
