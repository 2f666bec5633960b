"""The README's first command succeeds on the bundled examples and fails when any step but the diff's exit 1 fails."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def first_command() -> str:
    blocks = re.findall(r"```sh\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) >= 2, "the README starts with two set-up commands"
    return blocks[0]


def run(command: str, *, install: str = "true") -> int:
    """Run the command with the venv and pip steps replaced (``install`` stands for ``pip install .``)."""
    cmd = command.replace("python3 -m venv .venv", "true").replace(".venv/bin/pip install .", install)
    cmd = cmd.replace(".venv/bin/pt2canon", f"{shlex.quote(sys.executable)} -m pt2canon")
    return subprocess.run(["bash", "-c", cmd], cwd=ROOT, capture_output=True).returncode


def test_the_first_command_installs_then_hashes_and_diffs_the_examples() -> None:
    command = first_command()
    steps = ["python3 -m venv .venv", ".venv/bin/pip install .", "pt2canon hash examples/*.pt2", "pt2canon diff"]
    assert all(s in command for s in steps)
    assert [command.index(s) for s in steps] == sorted(command.index(s) for s in steps)


def test_the_first_command_succeeds_when_every_step_works_and_the_diff_finds_the_change() -> None:
    assert run(first_command()) == 0


@pytest.mark.parametrize("failing", ["install", "hash", "diff error", "diff finds nothing"])
def test_the_first_command_fails_when_a_step_fails(failing: str) -> None:
    command = first_command()
    if failing == "install":
        assert run(command, install="false") != 0
        return
    if failing == "hash":
        command = command.replace("hash examples/*.pt2", "hash examples/missing.pt2")
    elif failing == "diff error":
        command = command.replace("examples/mlp_v2.pt2", "examples/missing.pt2")
    else:
        command = command.replace("examples/mlp_v2.pt2", "examples/mlp_v1_again.pt2")
    assert run(command) != 0
