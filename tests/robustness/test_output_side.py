"""What ``canon -o`` does to the place it writes: devices, FIFOs, setuid targets, signals, long names.

A device or a FIFO given as the output is written into (a null device stays
a device; a reader of the FIFO gets the archive); the output never gets the
setuid, setgid or sticky bit of a file a symlink points to; SIGTERM or
SIGHUP in the middle of writing a large archive leaves no temporary file;
an output name of 249 characters (valid on every common file system)
is written.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from corpus import Corpus
from rawzip import entries, raw_zip, with_entry

from pt2canon.cli import main


def _canon(src: Path, out: str | Path) -> int:
    return main(["canon", str(src), "-o", str(out)])


def test_a_null_device_as_the_output_stays_a_device(corpus: Corpus, tmp_path: Path) -> None:
    # A private node of the null device (1, 3), never /dev/null itself: a regression must not
    # replace the machine's /dev/null with a regular file.
    device = tmp_path / "null"
    try:
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError):
        pytest.skip("creating a device node needs privileges this test run does not have")
    before = os.stat(device)
    assert _canon(corpus["mlp"].path, device) == 0
    after = os.stat(device)
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_rdev, stat.S_IMODE(after.st_mode)) == (before.st_rdev, stat.S_IMODE(before.st_mode))
    assert sorted(os.listdir(tmp_path)) == ["null"]


def test_a_fifo_as_the_output_gets_the_archive_written_into_it(corpus: Corpus, tmp_path: Path) -> None:
    regular = tmp_path / "regular.pt2"
    assert _canon(corpus["mlp"].path, regular) == 0
    fifo = tmp_path / "pipe.pt2"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    assert _canon(corpus["mlp"].path, fifo) == 0
    reader.join(timeout=60)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert got == [regular.read_bytes()]


def test_writing_through_a_symlink_to_a_setuid_file_never_makes_a_setuid_output(corpus: Corpus, tmp_path: Path) -> None:
    target = tmp_path / "setuid_file"
    target.write_bytes(b"old")
    os.chmod(target, 0o4755 | stat.S_ISGID)
    link = tmp_path / "out.pt2"
    link.symlink_to(target)
    assert _canon(corpus["mlp"].path, link) == 0
    mode = os.stat(link).st_mode
    assert stat.S_ISREG(mode)
    assert mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX) == 0
    assert mode & 0o777 == 0o755  # the permission bits are kept


def test_a_249_character_output_name_is_written(corpus: Corpus, tmp_path: Path) -> None:
    out = tmp_path / ("m" * 245 + ".pt2")
    assert len(out.name) == 249
    assert _canon(corpus["mlp"].path, out) == 0
    assert out.stat().st_size > 0
    assert sorted(os.listdir(tmp_path)) == [out.name]


_SIGNAL_AS_THE_FILE_IS_MADE = """
import os, signal, sys, tempfile
from pt2canon.serde.atomic import atomic_write
made = tempfile.mkstemp
def mkstemp(*args, **kwargs):  # the signal comes after the file exists, before its name is returned
    fd, path = made(*args, **kwargs)
    os.kill(os.getpid(), int(sys.argv[2]))
    return fd, path
tempfile.mkstemp = mkstemp
atomic_write(sys.argv[1], lambda fh: fh.write(b"data"))
"""


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signal masks")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_termination_signal_as_the_temporary_file_is_created_leaves_no_file(signum: int, tmp_path: Path) -> None:
    if signal.getsignal(signum) == signal.SIG_IGN:
        pytest.skip(f"signal {signum} is ignored in this process, so the writer never sees it")
    target = tmp_path / "out.json"
    done = subprocess.run(
        [sys.executable, "-c", _SIGNAL_AS_THE_FILE_IS_MADE, str(target), str(int(signum))], capture_output=True
    )
    assert done.returncode == -signum, done.stderr  # ended by the signal, as without pt2canon's handler
    assert os.listdir(tmp_path) == []  # the temporary file was left behind before


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_termination_signal_during_a_write_leaves_no_temporary_file(
    signum: int, corpus: Corpus, tmp_path: Path
) -> None:
    if signal.getsignal(signum) == signal.SIG_IGN:  # e.g. SIGHUP under nohup: the child inherits "ignore"
        pytest.skip(f"signal {signum} is ignored in this process, so the writer never sees it")
    big = bytes(192 << 20)
    data = raw_zip(with_entry(entries(corpus["mlp"].path.read_bytes()), "data/weights/weight_0", data=big, plain=big))
    src = tmp_path / "src" / "big.pt2"
    src.parent.mkdir()
    src.write_bytes(data)
    folder = tmp_path / "out"
    folder.mkdir()
    for _attempt in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-m", "pt2canon", "canon", str(src), "-o", str(folder / "out.pt2")],
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while not any(n.endswith(".tmp") for n in os.listdir(folder)) and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.002)
        # Freeze the writer so that it cannot finish between seeing its temporary file and the
        # signal (on a loaded machine the rest of the write can take less than a poll); the
        # signal waits for SIGCONT.
        proc.send_signal(signal.SIGSTOP)
        if any(n.endswith(".tmp") for n in os.listdir(folder)):
            break
        proc.send_signal(signal.SIGCONT)  # the write ended first: try again
        proc.communicate(timeout=60)
        for n in os.listdir(folder):
            os.unlink(folder / n)
    else:
        pytest.fail("the write ended before the signal could be sent, 5 times")
    proc.send_signal(signum)
    proc.send_signal(signal.SIGCONT)
    proc.communicate(timeout=60)
    assert proc.returncode == -signum  # ended by the signal, as without pt2canon's handler
    assert os.listdir(folder) == []
