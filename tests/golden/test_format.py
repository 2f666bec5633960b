"""The golden file format: header in, header out, and the schema checker knows nothing of it."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

import pt2canon
from pt2canon import _json
from pt2canon.errors import UsageError
from pt2canon.golden.format import HEADER_KEY, GoldenFileError, check_level, golden_document, parse_golden
from pt2canon.serde.schema import UnknownFieldsWarning


def _golden_bytes(path: Path) -> tuple[bytes, str]:
    canon = pt2canon.canonicalize(path)
    digest = pt2canon.digest(path)
    return _json.canonical_bytes(golden_document(canon.doc, digest)), digest.hash


def test_parse_golden_takes_the_header_out_before_the_schema_checker_reads_the_program(corpus: Any) -> None:
    data, expected = _golden_bytes(corpus["mlp"].path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownFieldsWarning)  # no warning: the checker never sees the header
        header, artifact = parse_golden(data, "golden.json")
    assert header["hash"] == expected and header["level"] == "graph"
    assert pt2canon.hash(artifact) == expected


def test_the_schema_checker_does_not_know_the_header_key(corpus: Any, tmp_path: Path) -> None:
    data, expected = _golden_bytes(corpus["mlp"].path)
    path = tmp_path / "golden.json"
    path.write_bytes(data)
    with pytest.warns(UnknownFieldsWarning, match=HEADER_KEY):
        artifact = pt2canon.load(path)  # read as a bare model.json: the header is one unknown field
    assert pt2canon.hash(artifact) == expected


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{not json", "it is not JSON"),
        (b"[1, 2]", "it is not a JSON object"),
        (b'{"graph_module": 1}', "graph_module: expected an object"),
    ],
)
def test_bytes_that_are_not_a_golden_file_are_a_golden_file_error(data: bytes, reason: str) -> None:
    with pytest.raises(GoldenFileError, match=reason) as info:
        parse_golden(data, "tests/x/golden.json")
    assert "tests/x/golden.json" in str(info.value)


def test_only_the_levels_without_weights_can_be_checked() -> None:
    assert [check_level(lv) for lv in ("structure", "graph")] == ["structure", "graph"]
    with pytest.raises(UsageError, match=r"level='full'.*hold no weights"):
        check_level("full")


def test_the_header_sorts_first_in_the_written_file(corpus: Any) -> None:
    data, _ = _golden_bytes(corpus["mlp"].path)
    text = json.dumps(json.loads(data), sort_keys=True, indent=2)
    assert text.startswith('{\n  "_pt2canon": {')
