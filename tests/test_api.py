"""The top-level functions: what ``digest`` may change, and the options it passes on."""

from __future__ import annotations

import copy
import io
import json
import sys
from pathlib import Path

import pytest
from corpus import CorpusEntry

import pt2canon
from pt2canon.api import canonicalize_all
from pt2canon.errors import Pt2CanonError, UnsafeArchiveError
from pt2canon.serde.layout import Limits


@pytest.mark.parametrize("keep_metadata", [(), ("nn_module_stack",)])
def test_hashing_a_path_gives_the_digest_of_the_loaded_artifact_and_leaves_a_given_artifact_as_it_was(
    corpus_entry: CorpusEntry, keep_metadata: tuple[str, ...]
) -> None:
    artifact = pt2canon.load(corpus_entry.path)
    before = {name: copy.deepcopy(m.program) for name, m in artifact.models.items()}
    given = pt2canon.digest(artifact, keep_metadata=keep_metadata, level="full").to_json()
    assert {name: m.program for name, m in artifact.models.items()} == before  # read, never changed
    own = pt2canon.digest(corpus_entry.path, keep_metadata=keep_metadata, level="full").to_json()
    from_bytes = pt2canon.digest(corpus_entry.path.read_bytes(), keep_metadata=keep_metadata, level="full")
    assert own == given == from_bytes.to_json()


def test_digest_reads_within_the_limits_it_is_given(corpus: dict[str, CorpusEntry]) -> None:
    path = corpus["mlp"].path
    member = next(n for n in pt2canon.load(path).members if n.endswith("models/model.json"))
    with pytest.raises(UnsafeArchiveError, match="over the limit max_json_bytes=100 ") as caught:
        pt2canon.digest(path, limits=Limits(max_json_bytes=100))
    assert caught.value.member == member
    assert pt2canon.hash(path, limits=Limits(max_json_bytes=1 << 30)) == pt2canon.hash(path)


def test_keep_metadata_given_as_an_iterator_keeps_the_same_keys_as_a_list(corpus: dict[str, CorpusEntry]) -> None:
    from torch.export.pt2_archive._package import package_pt2

    path = corpus["mlp"].path
    keep = ["nn_module_stack"]
    assert pt2canon.hash(path, keep_metadata=keep) != pt2canon.hash(path)  # the key is there to keep
    assert pt2canon.hash(path, keep_metadata=iter(keep)) == pt2canon.hash(path, keep_metadata=keep)
    buf = io.BytesIO()
    package_pt2(buf, exported_programs={"a": corpus["mlp"].ep, "b": corpus["lifted_constant"].ep})
    two = buf.getvalue()
    assert pt2canon.hash(two, keep_metadata=iter(keep)) == pt2canon.hash(two, keep_metadata=keep)
    listed, once = (canonicalize_all(pt2canon.load(two), keep_metadata=k) for k in (keep, iter(keep)))
    assert {n: c.doc for n, c in listed.items()} == {n: c.doc for n, c in once.items()}


def test_a_value_nested_deeper_than_json_can_write_is_an_input_error_naming_the_file(tmp_path: Path) -> None:
    # Only reachable with limits over the defaults (which refuse the document when it is read).
    doc = pt2canon.load("examples/mlp_v1.pt2").model.program
    doc["graph_module"]["graph"]["nodes"][0]["metadata"]["custom"] = "@@DEEP@@"
    depth = 505  # 1010 levels: orjson's writer stops at 255, the standard library's at Python's recursion limit
    text = json.dumps(doc).replace('"@@DEEP@@"', '{"k":[' * depth + "1" + "]}" * depth)
    path = tmp_path / "deep.json"
    path.write_text(text)
    # At Python's default recursion limit: a test before this one may have compiled with Inductor, which
    # raises the limit to 2000 for the rest of the process, and the writer then gets through.
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        with pytest.raises(Pt2CanonError, match="nested too deeply to hash") as caught:
            pt2canon.hash(path, keep_metadata=["custom"], limits=Limits(max_depth=100_000))
    finally:
        sys.setrecursionlimit(old)
    assert caught.value.file == str(path)
    with pytest.raises(Pt2CanonError, match="over the limit max_depth=100"):  # the default limits refuse it on reading
        pt2canon.hash(path, keep_metadata=["custom"])
