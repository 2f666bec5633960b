"""Layered, versioned hashes of canonical programs (spec ``pt2canon-hash/3``).

A hash is ``sha256:<64 hex>``. It is computed from per-layer digests, each
the sha256 of the canonical JSON bytes (:func:`pt2canon._json.canonical_bytes`)
of one part of the canonical document, combined as::

    sha256(canonical_bytes({"spec": "pt2canon-hash/3", "level": LEVEL,
                            "layers": {name: digest for the level's layers}}))

Layers (``docs/hashing.md`` is the full specification):

``structure``
    Every graph's inputs, outputs and nodes (target, arguments, outputs)
    with canonical names, subgraphs recursively; signature spec kinds
    (``parameter``, ``buffer`` + persistence, ``user_input``, ...);
    verifiers (IR dialect).
``signature``
    Signature specs with FQNs; module call graph (FQNs, in/out specs,
    argument wiring; *not* ``forward_arg_names``, which change when a user
    renames an argument); named-tuple fields.
``tensors``
    Every graph's value tables: dtype, sizes, strides, device, layout,
    ``requires_grad`` (not the storage offset, which torch's loader
    ignores); symbolic values (canonical symbols, no example hints);
    custom object classes.
``constraints``
    Range constraints keyed by canonical symbol.
``weights`` / ``constants``
    For each FQN: sha256 of the payload bytes, the payload's tensor
    metadata, ``is_param``/``use_pickle``, and which FQNs share a file.
``extra_files``
    For each of the archive's extra files (``extra/<name>``): its sha256
    and size (the same for every model of an archive).
``sample_inputs`` (only with ``include_sample_inputs``)
    sha256 of the pickled sample-input bytes (never unpickled).
``versions`` (only with ``include_versions``)
    torch version, schema version, opset versions.

Levels: ``structure`` = [structure]; ``graph`` (default) = structure +
signature + tensors + constraints; ``full`` = graph + weights + constants +
extra_files.
An artifact with several models hashes each and combines the per-layer
digests keyed by model name.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pt2canon._json import canonical_bytes
from pt2canon.canon.layers import program_layers, program_versions
from pt2canon.canon.program import CanonicalProgram
from pt2canon.errors import UsageError

__all__ = [
    "HASH_SPEC",
    "LAYERS",
    "LEVELS",
    "NO_SAMPLE_INPUTS",
    "PROGRAM_LAYERS",
    "HashResult",
    "combine",
    "extra_file_digests",
    "hash_layers",
    "layer_digests",
    "level_layers",
    "payload_digests",
    "program_versions",
]

#: Version of the hash specification; part of every combined digest.
HASH_SPEC = "pt2canon-hash/3"

Level = Literal["structure", "graph", "full"]

#: Layers each level includes.
LEVELS: dict[str, tuple[str, ...]] = {
    "structure": ("structure",),
    "graph": ("structure", "signature", "tensors", "constraints"),
    "full": ("structure", "signature", "tensors", "constraints", "weights", "constants", "extra_files"),
}

#: Layers computed from the canonical document alone (:func:`program_layers`).
PROGRAM_LAYERS = ("structure", "signature", "tensors", "constraints", "versions")

#: Every layer, in the order results list them.
LAYERS = (
    "structure",
    "signature",
    "tensors",
    "constraints",
    "weights",
    "constants",
    "extra_files",
    "sample_inputs",
    "versions",
)


@dataclass(frozen=True)
class HashResult:
    """A hash with the digests it was combined from.

    Attributes
    ----------
    hash : str
        ``sha256:<hex>`` at ``level``.
    level : str
    spec : str
        :data:`HASH_SPEC`.
    layers : dict
        Layer name -> ``sha256:<hex>`` for every layer that was computed
        (the level's layers plus any optional ones included).
    models : dict
        For several models: model name -> their own layer digests.
    versions : dict
        torch/schema/opset versions, shown, hashed only on request.
    included : tuple of str
        The layers the hash covers, in the order they were combined.

    Examples
    --------
    >>> import pt2canon
    >>> from pt2canon.canon.program import canonicalize_program
    >>> artifact = pt2canon.load("examples/mlp_v1.pt2")
    >>> r = hash_layers({"model": canonicalize_program(artifact.model.program)}, level="graph")
    >>> r.level, r.spec, r.included
    ('graph', 'pt2canon-hash/3', ('structure', 'signature', 'tensors', 'constraints'))
    >>> str(r) == r.hash == r.to_json()["hash"], r.hash.startswith("sha256:"), len(r.hash)
    (True, True, 71)
    >>> r.versions == program_versions(artifact.model.program)
    True

    :meth:`explain` marks the layers the hash includes; ``versions`` is
    computed and shown but not hashed unless asked for:

    >>> [line.split()[:-1] for line in r.explain()][1:]
    [['*', 'structure'], ['*', 'signature'], ['*', 'tensors'], ['*', 'constraints'], ['versions']]
    """

    hash: str
    level: str
    spec: str
    layers: dict[str, str]
    models: dict[str, dict[str, str]] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    included: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.hash

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: ``hash``, ``level``, ``spec``, ``layers``, ``included``, ``versions`` (and ``models`` for several)."""
        out = {
            "hash": self.hash,
            "level": self.level,
            "spec": self.spec,
            "layers": dict(self.layers),
            "included": list(self.included),
            "versions": self.versions,
        }
        if self.models:
            out["models"] = self.models
        return out

    def explain(self) -> Iterator[str]:
        """Lines naming each layer's digest, for ``--explain``."""
        yield f"spec {self.spec}  level {self.level}"
        for name, digest in self.layers.items():
            mark = "*" if name in self.included else " "
            yield f"  {mark} {name:<14} {digest}"


def _sha(obj: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_bytes(obj)).hexdigest()


#: The ``sample_inputs`` layer of a model that has no sample inputs.
NO_SAMPLE_INPUTS = _sha(None)


def _hash_members(artifact: Any, members: list[str], sizes: list[int], cache: dict[str, str]) -> None:
    todo = [(m, n) for m, n in zip(members, sizes) if m not in cache]
    if not todo:
        return
    # hashlib releases the GIL on large buffers: hash big members on threads.
    if sum(n for _, n in todo) > (64 << 20) and len(todo) > 1:
        from concurrent.futures import ThreadPoolExecutor

        workers = min(len(todo), max(2, os.cpu_count() or 2))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for member, digest in zip((m for m, _ in todo), pool.map(artifact.sha256_member, (m for m, _ in todo))):
                cache[member] = digest
    else:
        for member, _ in todo:
            cache[member] = artifact.sha256_member(member)


def payload_digests(
    artifact: Any, payloads: Mapping[str, Any], *, cache: dict[str, str] | None = None
) -> dict[str, Any]:
    """Per-FQN content digests of weights or constants, streamed from the archive.

    Payloads sharing a member are hashed once; ``shares`` records which FQN
    each aliases (the first FQN, in sorted order, stored in the same file).
    Memory stays bounded: each member is read through a fixed 4 MiB buffer,
    on up to ``os.cpu_count()`` threads.

    Examples
    --------
    The weights of the bundled MLP (``fc1`` is ``Linear(16, 32)`` in float32):

    >>> import hashlib
    >>> import pt2canon
    >>> artifact = pt2canon.load("examples/mlp_v1.pt2")
    >>> weights = artifact.model.weights
    >>> digests = payload_digests(artifact, weights)
    >>> list(digests)
    ['fc1.bias', 'fc1.weight', 'fc2.bias', 'fc2.weight', 'head.bias', 'head.weight']
    >>> d = digests["fc1.weight"]
    >>> d["size"] == 32 * 16 * 4, d["is_param"], d["shares"]
    (True, True, None)
    >>> d["sha256"] == "sha256:" + hashlib.sha256(artifact.read_member(weights["fc1.weight"].member)).hexdigest()
    True

    Two FQNs stored in one file (tied weights): the later one names the first.

    >>> w = weights["fc1.weight"]
    >>> tied = payload_digests(artifact, {"lm_head.weight": w, "embed.weight": w})
    >>> tied["embed.weight"]["shares"], tied["lm_head.weight"]["shares"]
    (None, 'embed.weight')
    """
    cache = {} if cache is None else cache
    ordered = sorted(payloads)
    _hash_members(artifact, [payloads[f].member for f in ordered], [payloads[f].size for f in ordered], cache)
    first_owner: dict[str, str] = {}
    out: dict[str, Any] = {}
    for fqn in ordered:
        p = payloads[fqn]
        owner = first_owner.setdefault(p.member, fqn)
        out[fqn] = {
            "sha256": cache[p.member],
            "size": p.size,
            "tensor_meta": p.tensor_meta,
            "is_param": p.is_param,
            "use_pickle": p.use_pickle,
            "shares": owner if owner != fqn else None,
        }
    return out


def level_layers(level: str, *, include_sample_inputs: bool = False, include_versions: bool = False) -> list[str]:
    """The layers combined into the hash at ``level``, optional layers last.

    Examples
    --------
    >>> level_layers("structure", include_versions=True)
    ['structure', 'versions']

    Raises
    ------
    UsageError
        On an unknown level.
    """
    if level not in LEVELS:
        raise UsageError(f"level={level!r} is not one of {', '.join(LEVELS)}")
    return [
        *LEVELS[level],
        *(["sample_inputs"] if include_sample_inputs else []),
        *(["versions"] if include_versions else []),
    ]


def layer_digests(
    canon: CanonicalProgram,
    *,
    weights: Mapping[str, Any] | None = None,
    constants: Mapping[str, Any] | None = None,
    extra_files: Mapping[str, Any] | None = None,
    sample_inputs: str | None = None,
) -> dict[str, str]:
    """The digest of each layer of one model: :data:`PROGRAM_LAYERS`, and the payload layers given.

    Parameters
    ----------
    canon : CanonicalProgram
    weights, constants : Mapping, optional
        Per-FQN digests from :func:`payload_digests`; each given one adds its layer.
    extra_files : Mapping, optional
        The archive's :func:`extra_file_digests` (the ``extra_files`` layer).
    sample_inputs : str, optional
        The ``sha256:`` digest of the sample-input bytes (the ``sample_inputs`` layer as it is).

    Returns
    -------
    dict
        Layer name -> ``sha256:<hex>``.

    Examples
    --------
    ``y = neg(x)`` under two sets of names, and with another dtype (7 is
    float32, 6 float16):

    >>> from pt2canon.canon.program import canonicalize_program
    >>> def program(x, y, dtype=7):
    ...     ref = lambda v: {"as_tensor": {"name": v}}
    ...     meta = {"dtype": dtype, "sizes": [{"as_int": 3}], "strides": [{"as_int": 1}], "layout": 7,
    ...             "storage_offset": {"as_int": 0}, "requires_grad": False, "device": {"type": "cpu", "index": None}}
    ...     node = {"target": "torch.ops.aten.neg.default", "name": y, "metadata": {}, "outputs": [ref(y)],
    ...             "inputs": [{"name": "self", "arg": ref(x), "kind": 1}]}
    ...     graph = {"inputs": [ref(x)], "outputs": [ref(y)], "nodes": [node], "tensor_values": {x: meta, y: meta}}
    ...     signature = {"input_specs": [{"user_input": {"arg": ref(x)}}],
    ...                  "output_specs": [{"user_output": {"arg": ref(y)}}]}
    ...     return canonicalize_program({"graph_module": {"graph": graph, "signature": signature}})
    >>> a = layer_digests(program("x", "y"))
    >>> list(a) == list(PROGRAM_LAYERS)
    True
    >>> a == layer_digests(program("input", "neg"))
    True
    >>> [layer for layer in a if a[layer] != layer_digests(program("x", "y", dtype=6))[layer]]
    ['tensors']
    >>> "weights" in layer_digests(program("x", "y"), weights={})
    True
    """
    objs = program_layers(canon)
    digests = {k: _sha(objs[k]) for k in PROGRAM_LAYERS}
    if weights is not None:
        digests["weights"] = _sha(weights)
    if constants is not None:
        digests["constants"] = _sha(constants)
    if extra_files is not None:
        digests["extra_files"] = _sha(extra_files)
    if sample_inputs is not None:
        digests["sample_inputs"] = sample_inputs
    return digests


def combine(
    per_model: Mapping[str, Mapping[str, str]],
    *,
    level: str,
    wanted: Iterable[str],
    versions: Mapping[str, Any] | None = None,
) -> HashResult:
    """Combine the layer digests of one or several models into the hash at ``level``.

    One model's layers are used as they are; several models' layers are
    combined per layer, keyed by model name (``per_model`` in any order).
    The hash is ``sha256(canonical_bytes({"spec", "level", "layers": the
    wanted layers}))``.

    Parameters
    ----------
    per_model : Mapping
        Model name -> its :func:`layer_digests`.
    level : str
    wanted : iterable of str
        The layers the hash includes (:func:`level_layers`).
    versions : Mapping, optional
        Model name -> its versions, shown in the result.

    Raises
    ------
    UsageError
        When a wanted layer was not computed.

    Examples
    --------
    Digests of one model (made up here) are used as they are:

    >>> import hashlib
    >>> from pt2canon._json import canonical_bytes
    >>> one = {"structure": "sha256:" + "1" * 64, "signature": "sha256:" + "2" * 64}
    >>> r = combine({"model": one}, level="structure", wanted=["structure"])
    >>> r.layers == one, r.models
    (True, {})
    >>> top = {"spec": HASH_SPEC, "level": "structure", "layers": {"structure": one["structure"]}}
    >>> r.hash == "sha256:" + hashlib.sha256(canonical_bytes(top)).hexdigest()
    True

    Several models are combined per layer, whatever their order:

    >>> other = {"structure": "sha256:" + "3" * 64, "signature": "sha256:" + "4" * 64}
    >>> both = combine({"encoder": one, "decoder": other}, level="structure", wanted=["structure"])
    >>> both.hash == combine({"decoder": other, "encoder": one}, level="structure", wanted=["structure"]).hash
    True
    >>> sorted(both.models), both.layers["structure"] in (one["structure"], other["structure"])
    (['decoder', 'encoder'], False)
    >>> combine({"model": one}, level="graph", wanted=level_layers("graph"))
    Traceback (most recent call last):
    ...
    pt2canon.errors.UsageError: layers tensors, constraints were not computed; level='graph' needs them

    Every model needs every wanted layer:

    >>> combine({"encoder": one, "decoder": {"structure": other["structure"]}}, level="signature",
    ...         wanted=["structure", "signature"])
    Traceback (most recent call last):
    ...
    pt2canon.errors.UsageError: model 'decoder': layers signature were not computed; level='signature' needs them for every model
    """
    wanted = list(wanted)
    versions = dict(versions or {})
    if len(per_model) == 1:
        layers: Mapping[str, str] = next(iter(per_model.values()))
        models: dict[str, dict[str, str]] = {}
        shown: Any = next(iter(versions.values()), {})
    else:
        keys = {k for d in per_model.values() for k in d}
        layers = {k: _sha({m: d.get(k) for m, d in sorted(per_model.items())}) for k in sorted(keys)}
        models = {m: dict(d) for m, d in per_model.items()}
        shown = versions
    missing = [k for k in wanted if k not in layers]
    if missing:
        raise UsageError(f"layers {', '.join(missing)} were not computed; level={level!r} needs them")
    for m, d in sorted(per_model.items()):
        lacking = [k for k in wanted if k not in d]
        if lacking:
            raise UsageError(
                f"model {m!r}: layers {', '.join(lacking)} were not computed; level={level!r} needs them for every model"
            )
    top = _sha({"spec": HASH_SPEC, "level": level, "layers": {k: layers[k] for k in wanted}})
    ordered = {k: layers[k] for k in LAYERS if k in layers}
    return HashResult(
        hash=top, level=level, spec=HASH_SPEC, layers=ordered, models=models, versions=shown, included=tuple(wanted)
    )


def extra_file_digests(artifact: Any, *, cache: dict[str, str] | None = None) -> dict[str, Any]:
    """``{name: {"sha256", "size"}}`` of the archive's extra files (``extra/<name>``), streamed.

    Examples
    --------
    The bundled MLP archive with an extra file added:

    >>> import hashlib, io, zipfile
    >>> import pt2canon
    >>> buf = io.BytesIO()
    >>> with zipfile.ZipFile("examples/mlp_v1.pt2") as src, zipfile.ZipFile(buf, "w") as dst:
    ...     for member in src.infolist():
    ...         dst.writestr(member, src.read(member))
    ...     dst.writestr("mlp_v1/extra/notes.txt", b"hello")
    >>> extra_file_digests(pt2canon.load("examples/mlp_v1.pt2"))
    {}
    >>> digests = extra_file_digests(pt2canon.load(buf.getvalue()))
    >>> list(digests), digests["notes.txt"]["size"]
    (['notes.txt'], 5)
    >>> digests["notes.txt"]["sha256"] == "sha256:" + hashlib.sha256(b"hello").hexdigest()
    True
    """
    cache = {} if cache is None else cache
    files = getattr(artifact, "extra_files", None) or {}
    members = [files[n] for n in sorted(files)]
    _hash_members(artifact, members, [artifact.member_size(m) for m in members], cache)
    return {n: {"sha256": cache[files[n]], "size": artifact.member_size(files[n])} for n in sorted(files)}


def hash_layers(
    canons: Mapping[str, CanonicalProgram],
    *,
    level: str = "graph",
    artifact: Any = None,
    include_sample_inputs: bool = False,
    include_versions: bool = False,
) -> HashResult:
    """Hash canonical programs (one per model) at ``level``.

    Parameters
    ----------
    canons : Mapping[str, CanonicalProgram]
        Model name -> canonical program.
    level : {"structure", "graph", "full"}
    artifact : Artifact, optional
        Needed for ``full`` (weights and constants are read from it) and
        for ``include_sample_inputs``.
    include_sample_inputs, include_versions : bool
        Add those layers to the combined digest.

    Examples
    --------
    The bundled archives: ``mlp_v1_again`` is the same module exported
    with another example batch size, ``mlp_v2`` the same weights with one
    more activation.

    >>> import pt2canon
    >>> from pt2canon.canon.program import canonicalize_program
    >>> def full(name):
    ...     artifact = pt2canon.load(f"examples/{name}.pt2")
    ...     canons = {"model": canonicalize_program(artifact.model.program)}
    ...     return hash_layers(canons, level="full", artifact=artifact)
    >>> v1, again, v2 = full("mlp_v1"), full("mlp_v1_again"), full("mlp_v2")
    >>> v1.hash == again.hash, v1.hash == v2.hash
    (True, False)
    >>> [layer for layer in v1.included if v1.layers[layer] != v2.layers[layer]]
    ['structure', 'signature', 'tensors']
    >>> hash_layers({"model": canonicalize_program(pt2canon.load("examples/mlp_v1.pt2").model.program)}, level="full")
    Traceback (most recent call last):
    ...
    pt2canon.errors.UsageError: level='full' needs the artifact the weights are read from
    """
    wanted = level_layers(level, include_sample_inputs=include_sample_inputs, include_versions=include_versions)
    if level == "full" and artifact is None:
        raise UsageError("level='full' needs the artifact the weights are read from")
    if include_sample_inputs and artifact is None:
        raise UsageError("include_sample_inputs needs the artifact")
    per_model: dict[str, dict[str, str]] = {}
    versions: dict[str, Any] = {}
    cache: dict[str, str] = {}
    for name, canon in canons.items():
        versions[name] = program_versions(canon.doc)
        model = artifact.models.get(name) if artifact is not None else None
        payloads: dict[str, Any] = {}
        if model is not None:
            if "weights" in wanted:
                payloads["weights"] = payload_digests(artifact, model.weights, cache=cache)
                payloads["constants"] = payload_digests(artifact, model.constants, cache=cache)
                payloads["extra_files"] = extra_file_digests(artifact, cache=cache)
            if include_sample_inputs:
                payloads["sample_inputs"] = (
                    artifact.sha256_member(model.sample_inputs) if model.sample_inputs else NO_SAMPLE_INPUTS
                )
        per_model[name] = layer_digests(canon, **payloads)
    return combine(per_model, level=level, wanted=wanted, versions=versions)
