"""The top-level functions: what ``digest`` may change, and the options it passes on."""

from __future__ import annotations

import copy

import pytest
from corpus import CorpusEntry

import pt2canon
from pt2canon.errors import UnsafeArchiveError
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
    with pytest.raises(UnsafeArchiveError, match="over the limit of 100 ") as caught:
        pt2canon.digest(path, limits=Limits(max_json_bytes=100))
    assert caught.value.member == member
    assert pt2canon.hash(path, limits=Limits(max_json_bytes=1 << 30)) == pt2canon.hash(path)
