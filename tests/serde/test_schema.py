"""Shape checks of the serialized ExportedProgram: torch's own output passes, each broken rule is named."""

from __future__ import annotations

import copy
import json
import re
import warnings
from typing import Any

import pytest
from corpus import Corpus, member_bytes
from hypothesis import given, settings
from hypothesis import strategies as st

from pt2canon.errors import SchemaError, UnsupportedVersionError
from pt2canon.serde.schema import (
    ARGUMENT_TAGS,
    SUPPORTED_SCHEMA_MAJOR,
    UnknownFieldsWarning,
    check_graph,
    check_payload_config,
    check_program,
)
from pt2canon.strategies import programs


def _doc(corpus: Corpus, name: str) -> dict[str, Any]:
    return json.loads(member_bytes(corpus[name].path, "models/model.json"))


def test_every_program_torch_saves_passes_without_a_warning(corpus: Corpus) -> None:
    for entry in corpus.values():
        doc = json.loads(member_bytes(entry.path, "models/model.json"))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check_program(doc)


def test_torchs_weights_config_passes(corpus: Corpus) -> None:
    check_payload_config(json.loads(member_bytes(corpus["mlp"].path, "data/weights/model_weights_config.json")))


def test_a_newer_schema_major_is_refused_by_version_not_by_shape(corpus: Corpus) -> None:
    doc = _doc(corpus, "mlp")
    doc["schema_version"]["major"] = SUPPORTED_SCHEMA_MAJOR + 1
    with pytest.raises(UnsupportedVersionError, match=str(SUPPORTED_SCHEMA_MAJOR + 1)):
        check_program(doc)


def test_an_unknown_key_is_one_warning_naming_its_path_and_the_document_still_passes(corpus: Corpus) -> None:
    doc = _doc(corpus, "mlp")
    doc["graph_module"]["graph"]["nodes"][0]["field_from_torch_9"] = 1
    with pytest.warns(UnknownFieldsWarning, match=re.escape("graph_module.graph.nodes[0]: field_from_torch_9")):
        check_program(doc)


def test_an_unknown_argument_tag_is_an_error_naming_the_argument(corpus: Corpus) -> None:
    doc = _doc(corpus, "mlp")
    node = doc["graph_module"]["graph"]["nodes"][0]
    node["inputs"][0]["arg"] = {"as_future_thing": 1}
    assert "as_future_thing" not in ARGUMENT_TAGS
    with pytest.raises(SchemaError, match=re.escape("graph_module.graph.nodes[0].inputs[0].arg")):
        check_program(doc)


def test_check_graph_names_paths_under_the_prefix_it_is_given(corpus: Corpus) -> None:
    graph = copy.deepcopy(_doc(corpus, "mlp")["graph_module"]["graph"])
    graph["nodes"][1]["outputs"] = "x"
    with pytest.raises(SchemaError, match=re.escape("sub.nodes[1].outputs")):
        check_graph(graph, "sub")


def _paths(obj: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(JSON path, parent, key) of every dict entry in the document."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            p = f"{path}.{k}" if path else k
            out.append((p, obj, k))
            out += _paths(v, p)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, f"{path}[{i}]")
    return out


@settings(max_examples=60, deadline=None)
@given(programs(), st.data())
def test_a_required_field_replaced_by_a_wrong_type_is_an_error_at_its_path_or_above(
    doc: dict[str, Any], data: st.DataObject
) -> None:
    check_program(doc)
    structural = [
        (p, parent, k)
        for p, parent, k in _paths(doc)
        if isinstance(parent[k], (dict, list)) and k in ("graph", "nodes", "inputs", "outputs", "tensor_values")
    ]
    path, parent, key = data.draw(st.sampled_from(structural))
    parent[key] = 12345
    with pytest.raises(SchemaError) as info:
        check_program(doc)
    where = str(info.value).split(":", 1)[0]
    assert path.startswith(where), (path, str(info.value))
