r"""Atomic output: a file is replaced whole or not at all.

:func:`atomic_write` puts the output in a temporary file in the target's
folder, flushes and ``fsync``\ s it, then ``os.replace``\ s it over the
target: a reader sees the old file or the new one, never half of one, and
on any error (an exception, ``KeyboardInterrupt``, or SIGTERM/SIGHUP that
would end the process) the temporary file is removed and the old file is
left as it was. The JSON and archive writers (:mod:`pt2canon.serde.writer`)
and the batch index (:mod:`pt2canon.batch`) write through it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any

from pt2canon.errors import UsageError

__all__ = ["atomic_write"]

_CHUNK = 1 << 20  # copying into a device or pipe
#: The signals that end a process whose temporary file is then removed (those this platform has).
_TERMINATION: tuple[int, ...] = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))


def _default_mode() -> int:
    """Permissions a new file gets: ``0o666`` less the umask (read without changing it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o644


def atomic_write(path: str | os.PathLike[str], fill: Callable[[IO[bytes]], object]) -> None:
    """Call ``fill(fh)`` on a temporary file beside ``path``, then move it over ``path``.

    On any error (including ``KeyboardInterrupt``, and SIGTERM or SIGHUP when
    they would end the process) the temporary file is removed and ``path`` is
    untouched. The new file gets the old one's permission bits, never its
    setuid, setgid or sticky bits. A ``path`` that is a device, a pipe or a
    socket (``/dev/null``, a FIFO) is written into, not replaced.

    Examples
    --------
    >>> import os, tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = os.path.join(tmp.name, "out.txt")
    >>> atomic_write(path, lambda fh: fh.write(b"one"))
    >>> def fail(fh):
    ...     fh.write(b"half")
    ...     raise KeyboardInterrupt
    >>> try:
    ...     atomic_write(path, fail)
    ... except KeyboardInterrupt:
    ...     pass
    >>> open(path, "rb").read(), os.listdir(tmp.name)  # untouched, no temporary file left
    (b'one', ['out.txt'])
    >>> tmp.cleanup()
    """
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    try:
        st: os.stat_result | None = os.stat(target)
    except OSError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise UsageError("is a directory; give a file name to write", file=target)
    if st is not None and not stat.S_ISREG(st.st_mode):
        _write_special(target, fill)
        return
    mode = st.st_mode & 0o777 if st is not None else _default_mode()
    prefix = _temp_prefix(folder, os.path.basename(target))
    with _removed_on_termination() as temporary:  # installed before the file exists
        # Held back from the file's creation until its name is in the list: a signal that came
        # in between would find nothing to remove and leave the file behind.
        with _termination_held():
            try:
                fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=folder)
            except OSError as exc:
                raise UsageError(f"cannot create a file in {folder!r} ({exc.strerror or exc})", file=target) from None
            temporary.append(tmp)
        try:
            with os.fdopen(fd, "w+b") as fh:
                fill(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, target)
            temporary.clear()
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if isinstance(exc, OSError):
                raise UsageError(f"cannot write file ({exc.strerror or exc})", file=target) from None
            raise
    _fsync_dir(folder)


def _write_special(target: str, fill: Callable[[IO[bytes]], object]) -> None:
    """Write into a device, a FIFO or a socket: built in an unnamed temporary file, then copied."""
    try:
        with tempfile.TemporaryFile() as tmp:
            fill(tmp)
            tmp.seek(0)
            with open(target, "wb") as out:
                while block := tmp.read(_CHUNK):
                    out.write(block)
    except OSError as exc:
        raise UsageError(f"cannot write file ({exc.strerror or exc})", file=target) from None


def _temp_prefix(folder: str, name: str) -> str:
    """``.<name>.`` for a temporary file beside ``name``, cut so the whole temporary name fits the folder's limit."""
    try:
        name_max = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        name_max = 255
    room = name_max - len(".") - len(".") - 8 - len(".tmp")  # mkstemp adds 8 random characters
    raw = os.fsencode(name)
    if len(raw) > room:
        name = os.fsdecode(raw[:room].decode("utf-8", "ignore").encode("utf-8")) if room > 0 else ""
    return f".{name}."


@contextlib.contextmanager
def _removed_on_termination() -> Iterator[list[str]]:
    """Remove the files put in the yielded list if SIGTERM or SIGHUP ends the process meanwhile.

    Only signals whose action is the default (end the process) are caught;
    the handler removes the files, restores the previous action and sends
    the signal again, so the process still ends by it.
    """
    files: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield files
        return
    installed: dict[int, Any] = {}

    def handler(signum: int, frame: Any) -> None:
        for tmp in files:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        for s, previous in installed.items():
            signal.signal(s, previous)
        os.kill(os.getpid(), signum)  # the default action again: the process ends as it would have

    for signum in _TERMINATION:
        if signal.getsignal(signum) == signal.SIG_DFL:
            installed[signum] = signal.signal(signum, handler)
    try:
        yield files
    finally:
        for signum, previous in installed.items():
            if signal.getsignal(signum) is handler:
                signal.signal(signum, previous)


@contextlib.contextmanager
def _termination_held() -> Iterator[None]:
    """SIGTERM and SIGHUP blocked in the block (POSIX, main thread): one sent meanwhile is delivered as it ends."""
    block = getattr(signal, "pthread_sigmask", None)
    if block is None or not _TERMINATION or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = block(signal.SIG_BLOCK, _TERMINATION)
    try:
        yield
    finally:
        block(signal.SIG_SETMASK, previous)


def _fsync_dir(folder: str) -> None:
    # Make the rename itself durable where the platform allows it (POSIX).
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)
