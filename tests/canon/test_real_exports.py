"""The canonical form and hash on real ``torch.export`` programs."""

from __future__ import annotations

import random
from pathlib import Path

import torch
from corpus import CorpusEntry, run_and_compare
from variants import valid_orders

import pt2canon
from pt2canon._json import canonical_bytes
from pt2canon.canon.program import canonicalize_program
from pt2canon.cli import main
from pt2canon.serde.archive import read_artifact
from pt2canon.serde.writer import write_archive

LEVELS = ("structure", "graph", "full")


def _hashes(path: Path | str) -> dict[str, str]:
    return {level: pt2canon.hash(str(path), level=level) for level in LEVELS}


def test_the_canonical_archive_loads_and_computes_what_the_original_computes(
    corpus_entry: CorpusEntry, tmp_path: Path
) -> None:
    out = tmp_path / "canon.pt2"
    assert main(["canon", str(corpus_entry.path), "-o", str(out)]) == 0
    run_and_compare(corpus_entry.path, out, corpus_entry.args, corpus_entry.kwargs)
    # ... and is itself canonical: hashing it gives the original's hash.
    assert _hashes(out) == _hashes(corpus_entry.path)


def test_the_same_module_exported_twice_and_saved_under_two_names_has_equal_hashes(
    corpus: dict, tmp_path: Path
) -> None:
    entry = corpus["transformer_layer"]
    again = torch.export.export(entry.module, entry.args)
    other = tmp_path / "a different name.pt2"
    torch.export.save(again, other)
    assert read_artifact(other).root != read_artifact(entry.path).root  # torch derives the root from the name
    assert _hashes(other) == _hashes(entry.path)


def test_canonical_archives_of_two_exports_of_one_module_are_byte_identical(corpus: dict, tmp_path: Path) -> None:
    entry = corpus["mlp"]
    torch.export.save(torch.export.export(entry.module, entry.args), tmp_path / "again.pt2")
    assert main(["canon", str(entry.path), "-o", str(tmp_path / "c1.pt2")]) == 0
    assert main(["canon", str(tmp_path / "again.pt2"), "-o", str(tmp_path / "c2.pt2")]) == 0
    assert (tmp_path / "c1.pt2").read_bytes() == (tmp_path / "c2.pt2").read_bytes()


class _Small(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.lin(x)) * 2


class _SmallMoved(torch.nn.Module):
    """The same program as ``_Small``; its source sits on other lines.



    (These blank lines move the stack trace's line numbers.)
    """

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(4, 3)

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        # a comment that shifts the next line
        return torch.relu(self.lin(inp)) * 2


def _export(module: torch.nn.Module, path: Path, *args: torch.Tensor, **kw: object) -> Path:
    torch.export.save(torch.export.export(module, args, **kw), path)  # type: ignore[arg-type]
    return path


def test_moved_source_lines_and_a_renamed_argument_give_an_equal_hash(tmp_path: Path) -> None:
    torch.manual_seed(0)
    a = _Small()
    torch.manual_seed(0)
    b = _SmallMoved()
    x = torch.randn(2, 4)
    pa, pb = _export(a, tmp_path / "a.pt2", x), _export(b, tmp_path / "b.pt2", x)
    traces = [
        n["metadata"].get("stack_trace", "")
        for p in (pa, pb)
        for n in read_artifact(p).model.program["graph_module"]["graph"]["nodes"]
    ]
    assert any("_SmallMoved" in t or "test_real_exports" in t for t in traces)
    assert _hashes(pa) == _hashes(pb)


def test_changing_one_weight_changes_only_the_full_hash(tmp_path: Path) -> None:
    torch.manual_seed(0)
    m = _Small()
    x = torch.randn(2, 4)
    before = _hashes(_export(m, tmp_path / "before.pt2", x))
    with torch.no_grad():
        m.lin.weight[0, 0] += 1.0
    after = _hashes(_export(m, tmp_path / "after.pt2", x))
    assert before["structure"] == after["structure"]
    assert before["graph"] == after["graph"]
    assert before["full"] != after["full"]
    d1 = pt2canon.digest(str(tmp_path / "before.pt2"), level="full")
    d2 = pt2canon.digest(str(tmp_path / "after.pt2"), level="full")
    assert [k for k in d1.layers if d1.layers[k] != d2.layers[k]] == ["weights"]


class _Counted(torch.nn.Module):
    """Two linear layers and a call counter buffer updated in place; names sort fc1 < fc2 < n."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = torch.nn.Linear(4, 8), torch.nn.Linear(8, 2)
        self.register_buffer("n", torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.n.add_(1)
        return self.fc2(torch.relu(self.fc1(x)))


class _CountedRenamed(torch.nn.Module):
    """:class:`_Counted` with its submodules and buffer renamed so the names sort the other way."""

    def __init__(self) -> None:
        super().__init__()
        self.proj, self.head = torch.nn.Linear(4, 8), torch.nn.Linear(8, 2)
        self.register_buffer("a_calls", torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.a_calls.add_(1)
        return self.head(torch.relu(self.proj(x)))


def test_renaming_submodules_and_buffers_changes_only_the_signature_layer(tmp_path: Path) -> None:
    x = torch.randn(3, 4)
    torch.manual_seed(0)
    pa = _export(_Counted(), tmp_path / "a.pt2", x)
    torch.manual_seed(0)
    pb = _export(_CountedRenamed(), tmp_path / "b.pt2", x)
    da, db = pt2canon.digest(str(pa), level="full"), pt2canon.digest(str(pb), level="full")
    assert [k for k in da.layers if da.layers[k] != db.layers[k]] == ["signature", "weights"]  # FQN-keyed
    assert pt2canon.hash(str(pa), level="structure") == pt2canon.hash(str(pb), level="structure")
    # The canonical graphs are the same text: only the FQNs in the signature differ.
    ca, cb = pt2canon.canonicalize(str(pa)).doc, pt2canon.canonicalize(str(pb)).doc
    assert ca["graph_module"]["graph"] == cb["graph_module"]["graph"]
    fqns = {
        n: [next(v for k, v in b.items() if k.endswith("_name")) for s in d["graph_module"]["signature"]["input_specs"]
            for b in s.values() if any(k.endswith("_name") for k in b)]
        for n, d in (("a", ca), ("b", cb))
    }  # fmt: skip
    # By first use: the weight and bias of the first layer, of the second, then the buffer (read by add_ first).
    assert fqns == {
        "a": ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "n"],
        "b": ["proj.weight", "proj.bias", "head.weight", "head.bias", "a_calls"],
    }


def test_a_dynamic_batch_exported_at_8_and_at_16_and_with_a_renamed_argument_hashes_equal(tmp_path: Path) -> None:
    torch.manual_seed(0)
    a = _Small()
    torch.manual_seed(0)
    b = _SmallMoved()
    batch = torch.export.Dim("batch", min=2, max=64)
    p8 = _export(a, tmp_path / "b8.pt2", torch.randn(8, 4), dynamic_shapes=({0: batch},))
    p16 = _export(a, tmp_path / "b16.pt2", torch.randn(16, 4), dynamic_shapes=({0: batch},))
    pn = _export(b, tmp_path / "renamed.pt2", torch.randn(8, 4), dynamic_shapes=({0: batch},))
    symbols = {tuple(read_artifact(p).model.program["range_constraints"]) for p in (p8, pn)}
    assert len(symbols) == 2, "torch names the symbol after the argument: the two exports differ in it"
    assert _hashes(p8) == _hashes(p16) == _hashes(pn)
    for p in (p8, pn):
        (old,) = read_artifact(p).model.program["range_constraints"]
        assert pt2canon.canonicalize(str(p)).symbols == {old: "s0"}


def test_a_changed_dimension_range_changes_the_graph_hash_but_not_the_structure(tmp_path: Path) -> None:
    m = _Small()
    x = torch.randn(8, 4)
    p1 = _export(m, tmp_path / "r1.pt2", x, dynamic_shapes=({0: torch.export.Dim("b", min=2, max=64)},))
    p2 = _export(m, tmp_path / "r2.pt2", x, dynamic_shapes=({0: torch.export.Dim("b", min=2, max=128)},))
    h1, h2 = _hashes(p1), _hashes(p2)
    assert h1["structure"] == h2["structure"] and h1["graph"] != h2["graph"]


# --------------------------------------------------------------------------- side effects


def test_every_valid_reordering_of_a_module_with_side_effects_canonicalizes_alike_and_computes_alike(
    corpus: dict, tmp_path: Path
) -> None:
    entry = corpus["effects"]
    art = read_artifact(entry.path)
    doc = art.model.program
    targets = [n["target"] for n in doc["graph_module"]["graph"]["nodes"]]
    assert any(t.endswith("add_.Tensor") for t in targets) and sum("rand" in t for t in targets) >= 2
    assert any("_assert_scalar" in t or "sym_constrain_range" in t for t in targets)
    expected = canonical_bytes(canonicalize_program(doc).doc)
    rnd = random.Random(1234)
    reorders = valid_orders(doc, rnd, 12)
    assert len({canonical_bytes(r["graph_module"]["graph"]["nodes"]) for r in reorders}) > 1, (
        "the reorderings must differ"
    )
    for i, reordered in enumerate(reorders):
        assert canonical_bytes(canonicalize_program(reordered).doc) == expected
        if i < 3:
            # A reordering that respects the constraints computes what the original computes ...
            path = tmp_path / f"reordered{i}.pt2"
            write_archive(path, art, {"model": reordered})
            run_and_compare(entry.path, path, entry.args, entry.kwargs)
    # ... and so does the canonical archive (same seed: same random stream).
    canon = tmp_path / "canon.pt2"
    write_archive(canon, art, {"model": canonicalize_program(doc).doc})
    run_and_compare(entry.path, canon, entry.args, entry.kwargs)


class _ReadMutateRead(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("buf", torch.ones(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = torch.tanh(self.buf)
        self.buf.add_(1)
        return x + a


def test_a_read_before_an_in_place_update_stays_before_it(tmp_path: Path) -> None:
    """torch's canonicalize moves ``buf.add_(1)`` ahead of ``tanh(buf)``; pt2canon must not."""
    m = _ReadMutateRead()
    x = torch.randn(3)
    path = _export(m, tmp_path / "rmr.pt2", x)
    nodes = pt2canon.canonicalize(str(path)).doc["graph_module"]["graph"]["nodes"]
    targets = [n["target"].split(".")[-2] for n in nodes]
    assert targets.index("tanh") < targets.index("add_")
    canon = tmp_path / "canon.pt2"
    assert main(["canon", str(path), "-o", str(canon)]) == 0
    run_and_compare(path, canon, (x,))


# --------------------------------------------------------------------------- torch's own test


def test_torch_seed_test_canonicalize_holds_for_pt2canon() -> None:
    """Port of ``test_canonicalize`` (test/export/test_serialize.py)."""

    class Module(torch.nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            a = y + x
            b = x + y
            return b + a

    ep = torch.export.export(Module(), (torch.randn(3, 2), torch.randn(3, 2)), strict=True)
    c = pt2canon.canonicalize(ep)
    nodes = c.doc["graph_module"]["graph"]["nodes"]
    # torch's assertion: the first node's first input sorts before the second node's.
    first, second = (n["inputs"][0]["arg"]["as_tensor"]["name"] for n in nodes[:2])
    assert (int(first[1:]), first) < (int(second[1:]), second)
    # pt2canon's names are positional and the numbering is data-flow order.
    assert [i["as_tensor"]["name"] for i in c.doc["graph_module"]["graph"]["inputs"]] == ["v0", "v1"]


# --------------------------------------------------------------------------- names inside strings, metadata


def test_runtime_assert_messages_follow_the_symbol_and_node_renaming(corpus: dict) -> None:
    path = str(corpus["effects"].path)
    original = read_artifact(path).model.program["graph_module"]["graph"]["nodes"]
    canon = pt2canon.canonicalize(path)
    asserts = [n for n in canon.doc["graph_module"]["graph"]["nodes"] if n["target"].endswith("_assert_scalar.default")]
    assert asserts
    old_names = {n["name"] for n in original}
    new_names = {n["name"] for n in canon.doc["graph_module"]["graph"]["nodes"]}
    for node in asserts:
        message = node["inputs"][1]["arg"]["as_string"]
        quoted = message.rsplit("'", 2)[1]
        assert quoted in new_names and quoted not in old_names - new_names
        for old, new in canon.symbols.items():
            if old != new:
                assert f" {old} " not in f" {message} ".replace(",", " ")
    assert any(" s0" in n["inputs"][1]["arg"]["as_string"] for n in asserts)


def test_canonicalizing_leaves_the_input_document_as_it_was(corpus: dict) -> None:
    # The canonical document shares unchanged parts with its input; renaming must replace, not edit.
    for name in ("effects", "cond", "dynamic_batch", "conv_bn_train"):
        program = read_artifact(str(corpus[name].path)).model.program
        before = canonical_bytes(program)
        canonicalize_program(program)
        assert canonical_bytes(program) == before, name


def test_kept_metadata_keys_stay_in_the_canonical_nodes_and_count_in_the_hash(corpus: dict, tmp_path: Path) -> None:
    entry = corpus["mlp"]
    path = str(entry.path)
    kept = pt2canon.canonicalize(path, keep_metadata=["nn_module_stack"])
    stacks = [n["metadata"].get("nn_module_stack") for n in kept.doc["graph_module"]["graph"]["nodes"]]
    assert any(stacks) and all(
        set(n["metadata"]) <= {"nn_module_stack"} for n in kept.doc["graph_module"]["graph"]["nodes"]
    )
    plain = pt2canon.canonicalize(path)
    assert all(n["metadata"] == {} for n in plain.doc["graph_module"]["graph"]["nodes"])
    assert pt2canon.hash(path, keep_metadata=["nn_module_stack"]) != pt2canon.hash(path)
    again = tmp_path / "again.pt2"
    torch.export.save(torch.export.export(entry.module, entry.args), again)
    assert pt2canon.hash(str(again), keep_metadata=["nn_module_stack"]) == pt2canon.hash(
        path, keep_metadata=["nn_module_stack"]
    )


def test_two_training_batch_norms_registered_in_either_order_canonicalize_alike(tmp_path: Path) -> None:
    # After run_decompositions the running-statistics updates are buffer-mutation outputs, listed in
    # registration order; which of them comes first must not decide the canonical order.
    def export(swap: bool) -> Path:
        class Two(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                if swap:
                    self.b, self.a = torch.nn.BatchNorm1d(4), torch.nn.BatchNorm1d(4)
                else:
                    self.a, self.b = torch.nn.BatchNorm1d(4), torch.nn.BatchNorm1d(4)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.a(x) * self.b(x)

        path = tmp_path / f"two{swap}.pt2"
        torch.export.save(torch.export.export(Two().train(), (torch.randn(3, 4),)).run_decompositions(), path)
        return path

    pa, pb = export(False), export(True)
    mutations = [
        [s["buffer_mutation"]["buffer_name"] for s in read_artifact(p).model.program["graph_module"]["signature"]["output_specs"] if "buffer_mutation" in s]
        for p in (pa, pb)
    ]  # fmt: skip
    assert mutations[0] != mutations[1]  # torch lists them in registration order
    assert canonical_bytes(pt2canon.canonicalize(str(pa)).doc) == canonical_bytes(pt2canon.canonicalize(str(pb)).doc)
    assert _hashes(pa) == _hashes(pb)


def test_real_exports_are_ordered_without_the_canonical_labelling(corpus: dict) -> None:
    # The exact fallback (BLISS through igraph) is for symmetries colour refinement leaves;
    # none of the corpus needs it, so the common case never imports igraph.
    import subprocess
    import sys

    paths = [str(entry.path) for entry in corpus.values()]
    code = "import sys, pt2canon\nfor p in sys.argv[1:]: pt2canon.hash(p, level='full')\nprint('igraph' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
