"""Files read as untrusted input: :func:`open_regular` (regular files only) and :class:`Window` (a view of a byte range).

:func:`open_regular` opens a path without blocking and checks it with
``fstat`` before anything is read, so a FIFO, a device or a socket named as
an archive or a model JSON is refused instead of blocking or never ending.
:class:`Window` shows a stretch of bytes read through ``pread`` as a
seekable file of its own (a zip stored inside another member).
:mod:`pt2canon.serde.zipsource` uses both and re-exports them.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
from collections.abc import Callable
from typing import IO, Any

from pt2canon.errors import InputError

__all__ = ["Window", "open_regular"]


def open_regular(path: str, *, what: str = "an archive") -> IO[bytes]:
    """Open ``path`` for reading if it is a regular file; the project's error otherwise.

    The file is opened without blocking and checked with ``fstat`` before
    anything is read, so a FIFO, a device or a socket is refused instead of
    blocking or reading forever.

    Examples
    --------
    >>> import os, tempfile
    >>> with open_regular("examples/mlp_v1.pt2") as fh:
    ...     fh.read(2)
    b'PK'
    >>> tmp = tempfile.TemporaryDirectory()
    >>> open_regular(tmp.name)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pt2canon.errors.InputError: ...: is a directory, not an archive
    >>> os.mkfifo(os.path.join(tmp.name, "pipe"))  # open() would block on it until a writer came
    >>> open_regular(os.path.join(tmp.name, "pipe"), what="a model JSON")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pt2canon.errors.InputError: .../pipe: is a named pipe (FIFO), not a model JSON; give a regular file
    >>> tmp.cleanup()
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError("no such file", file=path) from None
    except IsADirectoryError:
        raise InputError(f"is a directory, not {what}", file=path) from None
    except OSError as exc:
        with contextlib.suppress(OSError):  # a socket cannot even be opened: say what it is
            _check_regular(os.stat(path).st_mode, path, what)
        raise InputError(f"cannot read file ({exc.strerror or exc})", file=path) from None
    try:
        _check_regular(os.fstat(fd).st_mode, path, what)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _check_regular(mode: int, path: str, what: str) -> None:
    """Refuse what is not a regular file, saying what it is."""
    if stat.S_ISDIR(mode):
        raise InputError(f"is a directory, not {what}", file=path)
    if not stat.S_ISREG(mode):
        kind = (
            "a named pipe (FIFO)"
            if stat.S_ISFIFO(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "not a regular file"
        )
        raise InputError(f"is {kind}, not {what}; give a regular file", file=path)


class Window(io.RawIOBase):
    """A read-only, seekable view of ``size`` bytes read through ``pread(offset, n)``.

    Examples
    --------
    A zip stored 4 bytes into a larger blob, seen as a file of its own (as
    :class:`~pt2canon.serde.torch_save.NestedSource` sees a stored member):

    >>> import io, zipfile
    >>> buf = io.BytesIO()
    >>> with zipfile.ZipFile(buf, "w") as zf:
    ...     zf.writestr("a.txt", "hello")
    >>> inner = buf.getvalue()
    >>> blob = b"head" + inner + b"tail"
    >>> w = Window(lambda off, n: blob[4 + off : 4 + off + n], len(inner))
    >>> w.read() == inner, w.seek(0, 2) == len(inner), w.read(1)
    (True, True, b'')
    >>> w.seek(0)
    0
    >>> zipfile.ZipFile(w).read("a.txt")
    b'hello'
    """

    def __init__(self, pread: Callable[[int, int], bytes], size: int) -> None:
        self._pread = pread
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        n = max(0, min(len(buffer), self._size - self._pos))
        data = self._pread(self._pos, n) if n else b""
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)
