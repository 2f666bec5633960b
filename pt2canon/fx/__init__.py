"""FX graphs: hash, diff and list the graphs ``torch.compile`` captures.

:func:`pt2canon.load` accepts an in-memory ``torch.fx.GraphModule`` or
``fx.Graph`` (Dynamo graphs from a ``torch.compile`` backend, AOTAutograd
forward and backward graphs, ``make_fx``, ``torch.fx.symbolic_trace``) and
turns it into the same serialized-``ExportedProgram`` document an archive
holds, so that hashing, canonicalization, diffing and the listing work on
it unchanged. Modules, one concern each::

    names       stable names of targets and arguments (no id(), no addresses)
    inputs      which signature kind a placeholder is (Dynamo sources, AOT descriptors)
    values      tensor metadata, symbolic values, constants as schema JSON
    signature   the signature: parameters, buffers, constants, modules, mutations
    convert     the graph walk: the program document
    artifact    FxArtifact: the document, weights and constants served from memory
    pickled     GraphPickler payloads: refused unless trusted; what audit says of them
    recording   a torch.compile backend that records every graph it is handed
    runs        the diff of two recorded runs: graphs new, gone or changed

``import pt2canon.fx`` does not import torch; the functions below do.

Examples
--------
>>> import pt2canon                                               # doctest: +SKIP
>>> graphs = []
>>> def backend(gm, example_inputs):                               # doctest: +SKIP
...     graphs.append(pt2canon.load(gm, example_inputs=example_inputs))
...     return gm.forward
>>> torch.compile(model, backend=backend)(x)                      # doctest: +SKIP
>>> pt2canon.hash(graphs[0])                                      # doctest: +SKIP
'sha256:...'
>>> torch.compile(model, backend=pt2canon.fx.recorder("run1"))(x)  # doctest: +SKIP
>>> print(pt2canon.fx.diff_runs("run0", "run1").render("text"))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["FxArtifact", "RunDiff", "diff_runs", "from_graph_module", "load_graph_pickle", "recorder"]

_LAZY = {
    "FxArtifact": "pt2canon.fx.artifact",
    "from_graph_module": "pt2canon.fx.artifact",
    "load_graph_pickle": "pt2canon.fx.pickled",
    "recorder": "pt2canon.fx.recording",
    "RunDiff": "pt2canon.fx.runs",
    "diff_runs": "pt2canon.fx.runs",
}

if TYPE_CHECKING:  # pragma: no cover
    from pt2canon.fx.artifact import FxArtifact, from_graph_module
    from pt2canon.fx.pickled import load_graph_pickle
    from pt2canon.fx.recording import recorder
    from pt2canon.fx.runs import RunDiff, diff_runs


def __getattr__(name: str) -> Any:
    from pt2canon._lazy import lazy_attribute

    return lazy_attribute(globals(), _LAZY, __name__, name)
