"""Every class of hostile input of issue 13, generated at test time, through every command and the API.

The cases are :func:`hostile.cases` (symbolic expressions that are costly to
evaluate, decompression bombs and methods torch cannot read, deep nesting,
FIFOs, devices and sockets, corruption after the CRC was computed, nodes
with very many values, overlapping members, names and strings that would
forge lines, code in expressions that torch's loader would run, dangling
signatures, NUL and non-UTF-8 member names, encrypted and duplicate members,
``torch.save`` files) plus legitimate archives that must still read. Each
case runs in a subprocess (:mod:`run_case`) under a 4 GiB address-space cap
and a generous timeout (a hang guard, not a speed test): ``show``, ``hash``,
``hash --level full``, ``canon`` to ``.pt2`` and ``.json``, ``diff``,
``audit``, and the API's ``load``, full hash, ``canonicalize``, ``diff`` and
``audit_path``. Every run must be ``clean`` (:func:`hostile.judge`): the
project's error as one line and exit 2 where the case must be refused (the
exception type where the case names one), audit not calling a hostile
archive clean, no traceback, no raw control character in any output, no
file left behind, no canary created, peak memory (``ru_maxrss`` of the
child) under :data:`hostile.MEMORY_BOUND`.

The big cases are scaled down from the bench's (``bench/attack.py``, where a
bomb inflates to 1 GiB and a node has a million inputs) to keep the suite
short; the bounds they hit are the same.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import hostile
import pytest
from corpus import Corpus

SCALE = 0.02
CASES = {c.id: c for c in hostile.cases(scale=SCALE)}


@pytest.fixture(scope="module")
def bases(corpus: Corpus) -> hostile.Bases:
    return hostile.Bases({name: corpus[name].path for name in hostile.BASE_NAMES})


@pytest.mark.slow
@pytest.mark.parametrize("case_id", sorted(CASES))
def test_every_run_on_a_hostile_input_is_a_clean_refusal_or_a_bounded_success(
    case_id: str, bases: hostile.Bases, tmp_path: Path
) -> None:
    case = CASES[case_id]
    outcomes = hostile.run_case(case, bases, tmp_path)
    bad = [f"{o.run}: {o.outcome}: {o.detail}" for o in outcomes if o.outcome != "clean"]
    assert not bad, "\n".join(bad)
    assert {o.run for o in outcomes} == set(hostile.ALL_RUNS)
    assert all(o.peak_bytes < hostile.MEMORY_BOUND for o in outcomes)


def test_the_cases_cover_every_class_of_the_issue() -> None:
    classes = {c.klass for c in CASES.values()}
    assert classes == {
        "expression", "decompression", "nesting", "non_regular", "corruption", "huge_graph", "amplification",
        "forged_lines", "audit_expression", "dangling_signature", "nul_name", "archive_format", "torch_save", "legit",
    }  # fmt: skip


def test_the_judge_counts_a_traceback_an_accepted_refusal_and_a_forged_line_as_failures() -> None:
    # The judge itself, on made-up results: each rule catches what it is for.
    case = hostile.Case("expression", "x", lambda b, f: f, refuse=hostile.NON_AUDIT, audit="flag")
    ok = {"status": 2, "stdout": "", "stderr": "pt2canon: error: f: bad\n", "out_files": [], "seconds": 0.1}
    assert hostile.judge(case, "hash", ok).outcome == "clean"
    assert hostile.judge(case, "hash", {**ok, "stderr": "Traceback (most recent call last):\n"}).outcome == "crash"
    assert hostile.judge(case, "hash", {**ok, "status": 0, "stderr": ""}).outcome == "accepted"
    assert hostile.judge(case, "hash", {**ok, "stderr": "pt2canon: error: a\npt2canon: error: b\n"}).outcome == "forged"
    assert hostile.judge(case, "hash", {**ok, "out_files": ["out.pt2"]}).outcome == "partial"
    assert hostile.judge(case, "audit", {**ok, "status": 0, "stderr": ""}).outcome == "accepted"
    assert hostile.judge(case, "hash", {**ok, "peak_bytes": hostile.MEMORY_BOUND + 1}).outcome == "memory"
    assert hostile.judge(case, "hash", ok, canary=True).outcome == "code"
    api = {"error": "ValueError", "project_error": False, "message": "x", "seconds": 0.1}
    assert hostile.judge(case, "api_load", api).outcome == "crash"


def test_a_hostile_zip_written_byte_by_byte_reads_back_with_zipfile_where_it_is_well_formed(
    bases: hostile.Bases, tmp_path: Path
) -> None:
    # The raw writer the cases are made with: on a real archive it writes a zip zipfile reads.
    from rawzip import entries, raw_zip

    data = raw_zip(entries(bases["mlp"]))
    path = tmp_path / "copy.pt2"
    path.write_bytes(data)
    with zipfile.ZipFile(path) as zf, zipfile.ZipFile(bases.paths["mlp"]) as orig:
        assert zf.namelist() == orig.namelist()
        assert all(zf.read(n) == orig.read(n) for n in zf.namelist())
