"""The pytest plugin (fixture ``pt2canon_golden``), run on generated test suites with ``pytester``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")  # imported here so that pytester's in-process runs share one torch

import pt2canon  # noqa: E402
from pt2canon.golden.format import HEADER_KEY  # noqa: E402

pytest_plugins = ["pytester"]

# The generated test module: a small model whose activation, node order, input
# rows and file name (when saved to an archive first) come from environment variables,
# so that runs can change the program without rewriting the module.
SUITE = """
import os

import torch


class M(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        act = getattr(torch, os.environ.get("PT2CANON_TEST_ACT", "relu"))
        if os.environ.get("PT2CANON_TEST_SWAP"):  # the same program, traced in another node order
            b = x.cos()
            a = self.fc(x)
        else:
            a = self.fc(x)
            b = x.cos()
        return act(a) + b.sum()


def export():
    torch.manual_seed(0)
    rows = int(os.environ.get("PT2CANON_TEST_ROWS", "2"))
    return torch.export.export(M().eval(), (torch.randn(rows, 4),))


def test_model(pt2canon_golden, tmp_path):
    ep = export()
    level = os.environ.get("PT2CANON_TEST_LEVEL") or None
    file_name = os.environ.get("PT2CANON_TEST_FILE")
    if file_name:
        path = tmp_path / file_name
        torch.export.save(ep, path)
        pt2canon_golden.check(path, level=level)
    else:
        pt2canon_golden.check(ep, level=level)
"""

GOLDEN = Path("test_model") / "test_model.pt2canon.json"


class _Model(torch.nn.Module):
    # The same model as SUITE's, for computing the expected canonical form in this process.
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(x)) + x.cos().sum()


@pytest.fixture(autouse=True)
def _keep_torch_loaded(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Let pytester's in-process runs drop only the generated modules from ``sys.modules``.

    After each in-process run pytester removes every module the run imported;
    torch cannot be imported twice (its operator libraries register once per
    process), so keep everything but the modules generated under the base
    temporary folder. Set up before ``pytester`` takes its first snapshot.
    """
    import _pytest.pytester

    base = str(tmp_path_factory.getbasetemp().resolve())

    def generated(name: str) -> bool:
        file = getattr(sys.modules.get(name), "__file__", None) or ""
        return os.path.realpath(file).startswith(base)

    class Snapshot(_pytest.pytester.SysModulesSnapshot):
        def __init__(self, preserve: object = None) -> None:
            super().__init__(preserve=lambda name: not generated(name))

    monkeypatch.setattr(_pytest.pytester, "SysModulesSnapshot", Snapshot)


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for var in ("ACT", "SWAP", "ROWS", "LEVEL", "FILE"):
        monkeypatch.delenv(f"PT2CANON_TEST_{var}", raising=False)
    # The worker may have imported another test_model (tests/serde/test_model.py): the generated
    # suite's module of that name must not collide with it ("import file mismatch").
    monkeypatch.delitem(sys.modules, "test_model", raising=False)
    pytester.makepyfile(test_model=SUITE)
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # no:benchmark: pytest-benchmark, when installed, warns in runs nested in an xdist worker
    return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:benchmark", *args)


# -- missing golden, update, pass --------------------------------------------------------------------


def test_a_missing_golden_fails_with_the_command_that_creates_it(suite: pytest.Pytester) -> None:
    result = run(suite)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"*pt2canon golden file {GOLDEN} does not exist.*",
            '*Create it with: pytest --pt2canon-update "test_model.py::test_model"*',
        ]
    )
    assert not (suite.path / GOLDEN).exists()


def test_update_writes_the_golden_and_reports_it_and_the_next_run_passes(suite: pytest.Pytester) -> None:
    result = run(suite, "--pt2canon-update")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*pt2canon: updating golden files (--pt2canon-update)*",
            "*= pt2canon golden files =*",
            "1 golden file(s) written (1 created, 0 updated):",
            f"  created {GOLDEN}",
        ]
    )
    assert (suite.path / GOLDEN).is_file()
    run(suite).assert_outcomes(passed=1)


def test_update_leaves_a_golden_that_still_matches_untouched(suite: pytest.Pytester) -> None:
    run(suite, "--pt2canon-update").assert_outcomes(passed=1)
    golden = suite.path / GOLDEN
    os.utime(golden, (1_000_000_000, 1_000_000_000))
    result = run(suite, "--pt2canon-update")
    result.assert_outcomes(passed=1)
    assert "golden file(s) written" not in result.stdout.str()
    assert golden.stat().st_mtime == 1_000_000_000


def test_the_ini_option_turns_update_on(suite: pytest.Pytester) -> None:
    suite.makeini("[pytest]\npt2canon_update = true\n")
    result = run(suite)
    result.assert_outcomes(passed=1)
    assert (suite.path / GOLDEN).is_file()
    result.stdout.fnmatch_lines([f"  created {GOLDEN}"])


def test_the_option_is_namespaced_and_documented_in_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--pt2canon-update*", "*pt2canon_update (bool)*", "*pt2canon_level (string)*"])
    assert "--force-regen" not in result.stdout.str()  # pytest-regressions' option, not ours


# -- the golden file -----------------------------------------------------------------------------


def test_the_golden_file_is_the_canonical_program_as_indented_sorted_json_with_its_hash(
    suite: pytest.Pytester,
) -> None:
    run(suite, "--pt2canon-update").assert_outcomes(passed=1)
    text = (suite.path / GOLDEN).read_text(encoding="utf-8")
    doc = json.loads(text)
    assert text == json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert text.startswith('{\n  "_pt2canon": {')  # the header comes first, for review

    torch.manual_seed(0)
    ep = torch.export.export(_Model().eval(), (torch.randn(2, 4),))
    header = doc.pop(HEADER_KEY)
    assert doc == pt2canon.canonicalize(ep).doc
    assert header["hash"] == pt2canon.hash(ep, level="graph")
    assert header["level"] == "graph" and header["format"] == 1
    assert set(header["layers"]) == {"structure", "signature", "tensors", "constraints"}
    # small and without node metadata (no stack traces, no file paths)
    assert len(text) < 20_000
    assert "stack_trace" not in text and "test_model.py" not in text


def test_the_golden_file_reads_as_a_bare_model_json(suite: pytest.Pytester) -> None:
    run(suite, "--pt2canon-update").assert_outcomes(passed=1)
    golden = suite.path / GOLDEN
    header = json.loads(golden.read_text(encoding="utf-8"))[HEADER_KEY]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the header is a field torch's schema does not know
        artifact = pt2canon.load(golden)
    assert artifact.format == "json"
    assert pt2canon.hash(artifact) == header["hash"]


def test_each_parametrized_case_gets_a_golden_names_tell_checks_apart_and_a_repeated_name_fails(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_many="""
        import pytest
        import torch

        class M(torch.nn.Module):
            def __init__(self, act):
                super().__init__()
                self.act = act

            def forward(self, x):
                return getattr(torch, self.act)(x)

        @pytest.mark.parametrize("act", ["relu", "tanh"])
        def test_act(pt2canon_golden, act):
            ep = torch.export.export(M(act), (torch.randn(2),))
            pt2canon_golden.check(ep)
            pt2canon_golden.check(ep, name="again")

        def test_same_name_twice(pt2canon_golden):
            ep = torch.export.export(M("sin"), (torch.randn(2),))
            pt2canon_golden.check(ep, name="x")
            pt2canon_golden.check(ep, name="x")
        """
    )
    result = run(pytester, "--pt2canon-update")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["*golden file test_many/test_same_name_twice.x.pt2canon.json is checked twice in this test; give each*"]
    )
    folder = pytester.path / "test_many"
    assert sorted(p.name for p in folder.iterdir()) == [
        "test_act_relu.again.pt2canon.json",
        "test_act_relu.pt2canon.json",
        "test_act_tanh.again.pt2canon.json",
        "test_act_tanh.pt2canon.json",
        "test_same_name_twice.x.pt2canon.json",
    ]
    relu = json.loads((folder / "test_act_relu.pt2canon.json").read_text())
    tanh = json.loads((folder / "test_act_tanh.pt2canon.json").read_text())
    assert "aten.relu.default" in json.dumps(relu) and "aten.tanh.default" in json.dumps(tanh)


def test_two_tests_that_map_to_one_golden_file_fail_instead_of_overwriting_each_other(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_clash="""
        import pytest
        import torch

        class M(torch.nn.Module):
            def forward(self, x):
                return x.sin()

        # both ids become the file stem test_p_a_b
        @pytest.mark.parametrize("p", ["a b", "a_b"])
        def test_p(pt2canon_golden, p):
            pt2canon_golden.check(torch.export.export(M(), (torch.randn(2),)))

        class TestA:
            def test_p(self, pt2canon_golden):
                pt2canon_golden.check(torch.export.export(M(), (torch.randn(2),)))
        """
    )
    result = run(pytester, "--pt2canon-update")
    result.assert_outcomes(passed=2, failed=1)
    assert (
        "golden file test_clash/test_p_a_b.pt2canon.json is checked by both "
        "test_clash.py::test_p[a b] and test_clash.py::test_p[a_b]; give one of them another name="
    ) in result.stdout.str()
    names = sorted(p.name for p in (pytester.path / "test_clash").iterdir())
    assert names == ["TestA.test_p.pt2canon.json", "test_p_a_b.pt2canon.json"]


# -- comparing -------------------------------------------------------------------------------------


def test_a_reexport_in_another_node_order_saved_under_another_file_name_still_passes(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PT2CANON_TEST_FILE", "first.pt2")
    run(suite, "--pt2canon-update").assert_outcomes(passed=1)
    monkeypatch.setenv("PT2CANON_TEST_FILE", "another_name_entirely.pt2")
    run(suite).assert_outcomes(passed=1)
    monkeypatch.setenv("PT2CANON_TEST_SWAP", "1")  # nodes, names and stack-trace lines all differ now
    run(suite).assert_outcomes(passed=1)
    monkeypatch.delenv("PT2CANON_TEST_FILE")
    run(suite).assert_outcomes(passed=1)  # the in-memory program matches the archive's golden too


def test_the_node_order_swap_really_changes_the_serialized_program(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Guards the test above: the swapped export is not byte-identical before canonicalization.
    mod = suite.path / "test_model.py"
    ns: dict[str, object] = {}
    exec(compile(mod.read_text(), str(mod), "exec"), ns)
    plain = pt2canon.load(ns["export"]())  # type: ignore[operator]
    monkeypatch.setenv("PT2CANON_TEST_SWAP", "1")
    swapped = pt2canon.load(ns["export"]())  # type: ignore[operator]
    targets = [[n["target"] for n in art.model.program["graph_module"]["graph"]["nodes"]] for art in (plain, swapped)]
    assert targets[0] != targets[1] and sorted(targets[0]) == sorted(targets[1])
    assert pt2canon.hash(plain) == pt2canon.hash(swapped)


def test_a_changed_program_fails_with_the_structural_diff_naming_the_changed_node(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(suite, "--pt2canon-update").assert_outcomes(passed=1)
    monkeypatch.setenv("PT2CANON_TEST_ACT", "sigmoid")
    result = run(suite)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert f"program differs from pt2canon golden file {GOLDEN} at level graph" in out
    assert "aten.relu.default" in out and "aten.sigmoid.default" in out
    assert "Traceback" not in out and "pt2canon_golden.check(ep" not in out  # the diff, not a trace
    result.stdout.fnmatch_lines(['*accept it with: pytest --pt2canon-update "test_model.py::test_model"*'])


def test_update_rewrites_a_golden_that_differs_and_the_new_program_then_passes(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(suite, "--pt2canon-update").assert_outcomes(passed=1)
    monkeypatch.setenv("PT2CANON_TEST_ACT", "tanh")
    result = run(suite, "--pt2canon-update")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["1 golden file(s) written (0 created, 1 updated):", f"  updated {GOLDEN}"])
    assert "aten.tanh.default" in (suite.path / GOLDEN).read_text()
    run(suite).assert_outcomes(passed=1)
    monkeypatch.delenv("PT2CANON_TEST_ACT")
    run(suite).assert_outcomes(failed=1)


def test_the_structure_level_ignores_a_shape_change_that_the_graph_level_catches(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(suite, "--pt2canon-update").assert_outcomes(passed=1)
    monkeypatch.setenv("PT2CANON_TEST_ROWS", "5")
    monkeypatch.setenv("PT2CANON_TEST_LEVEL", "structure")
    run(suite).assert_outcomes(passed=1)
    monkeypatch.setenv("PT2CANON_TEST_LEVEL", "graph")
    result = run(suite)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*program differs from pt2canon golden file*at level graph*"])


def test_an_unreadable_golden_fails_with_a_message_and_update_repairs_it(suite: pytest.Pytester) -> None:
    golden = suite.path / GOLDEN
    golden.parent.mkdir()
    golden.write_text("{ not json")
    result = run(suite)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*pt2canon golden file {GOLDEN} is unreadable: it is not JSON*"])
    result = run(suite, "--pt2canon-update")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"  updated {GOLDEN}"])
    run(suite).assert_outcomes(passed=1)


def test_a_golden_edited_into_a_broken_graph_fails_with_the_reason(suite: pytest.Pytester) -> None:
    run(suite, "--pt2canon-update").assert_outcomes(passed=1)
    golden = suite.path / GOLDEN
    doc = json.loads(golden.read_text())
    doc["graph_module"]["graph"]["nodes"][0]["inputs"][0]["arg"] = {"as_tensor": {"name": "nowhere"}}
    golden.write_text(json.dumps(doc, indent=2))
    result = run(suite)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*pt2canon golden file {GOLDEN} is unreadable: *nowhere*"])
    assert "Traceback" not in result.stdout.str()


def test_the_full_level_is_refused_because_goldens_hold_no_weights(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PT2CANON_TEST_LEVEL", "full")
    result = run(suite, "--pt2canon-update")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*UsageError: level='full': golden files are checked at structure or graph*"])
    assert not (suite.path / GOLDEN).exists()


def test_a_bad_ini_level_is_a_usage_error(suite: pytest.Pytester) -> None:
    suite.makeini("[pytest]\npt2canon_level = weights\n")
    result = run(suite)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pt2canon_level='weights': expected one of structure, graph*"])


# -- plugin hygiene --------------------------------------------------------------------------------


def test_importing_the_plugin_imports_neither_torch_nor_the_rest_of_pt2canon() -> None:
    code = (
        "import sys, pt2canon.pytest_plugin\n"
        "heavy = [m for m in ('torch', 'networkx', 'sympy', 'pt2canon.canon', 'pt2canon.serde.archive') "
        "if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_files_written_on_xdist_workers_are_reported_by_the_controller(suite: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    suite.makepyfile(
        test_second="""
        import torch

        class M(torch.nn.Module):
            def forward(self, x):
                return x.cos()

        def test_second(pt2canon_golden):
            pt2canon_golden.check(torch.export.export(M(), (torch.randn(2),)))
        """
    )
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--pt2canon-update")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "2 golden file(s) written (2 created, 0 updated):",
            f"  created {Path('test_model') / 'test_model.pt2canon.json'}",
            f"  created {Path('test_second') / 'test_second.pt2canon.json'}",
        ]
    )
