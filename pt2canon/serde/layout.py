"""The layout of ``.pt2`` archives, written once: member names, folders, configs, limits.

The reader (:mod:`pt2canon.serde.archive`), the writer
(:mod:`pt2canon.serde.writer`) and the auditor (:mod:`pt2canon.audit`) all
take the archive's shape from here. The names follow torch 2.13's
``torch/csrc/export/pt2_archive_constants.h`` (``torch._C._export.pt2_archive_constants``)::

    <root>/archive_format                               b"pt2"
    <root>/archive_version                              b"0"
    <root>/byteorder                                    b"little"
    <root>/.data/version, <root>/.data/serialization_id
    <root>/models/<model>.json                          one per model
    <root>/data/weights/<model>_weights_config.json     FQN -> weight_N
    <root>/data/weights/weight_N                        raw tensor storage
    <root>/data/constants/<model>_constants_config.json
    <root>/data/constants/{tensor_,custom_obj_,opaque_obj_}N
    <root>/data/sample_inputs/<model>.pt                a pickle (never loaded)
    <root>/extra/<name>                                 torch.export.save(..., extra_files=...)
    <root>/data/aotinductor/<model>/..., data/executorch/, data/mtia/, xl_model_weights/

The older format (torch <= 2.5) holds ``serialized_exported_program.json``,
``serialized_state_dict.pt``, ``serialized_constants.pt``,
``serialized_example_inputs.pt``, ``version`` and ``extra_files/<name>`` at
the top of the zip.

Examples
--------
>>> sorted(find_roots(["m/archive_format", "m/models/model.json", "m/data/weights/weight_0"]))
['m/']
>>> member_name_problem("../evil.sh")
('dotdot', "contains a '..' component")
>>> member_name_problem("m/models/model.json") is None
True
>>> extra_files(["m/extra/notes.txt", "m/extra/cfg/", "m/models/model.json"], "m/extra/")
{'notes.txt': 'm/extra/notes.txt'}
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "ARCHIVE_FORMAT",
    "ARCHIVE_VERSION",
    "CONSTANTS_CONFIG",
    "CONSTANTS_DIR",
    "CONSTANT_PREFIXES",
    "DATA_VERSION",
    "DEFAULT_LIMITS",
    "EXTRA_DIR",
    "LEGACY_BLOBS",
    "LEGACY_EXTRA_DIR",
    "LEGACY_PROGRAM",
    "MODELS_DIR",
    "SAMPLE_INPUTS",
    "TEXT_MEMBERS",
    "WEIGHTS_CONFIG",
    "WEIGHTS_DIR",
    "WEIGHT_PREFIX",
    "Limits",
    "extra_files",
    "find_roots",
    "member_name_problem",
]

#: ``<root>/archive_format`` as torch 2.13 writes it.
ARCHIVE_FORMAT = b"pt2"
#: ``<root>/archive_version`` as torch 2.13 writes it (``load_pt2`` insists on it).
ARCHIVE_VERSION = b"0"
#: ``<root>/.data/version``: the zip container version torch's ``PT2ArchiveWriter`` sets
#: (``set_min_version(6)``); ``PyTorchFileReader`` refuses an archive without it.
DATA_VERSION = b"6\n"

#: Folders and file-name formats inside ``<root>/`` (``{}`` is the model name).
MODELS_DIR = "models/"
MODEL_JSON = "models/{}.json"
WEIGHTS_DIR = "data/weights/"
CONSTANTS_DIR = "data/constants/"
WEIGHTS_CONFIG = "data/weights/{}_weights_config.json"
CONSTANTS_CONFIG = "data/constants/{}_constants_config.json"
#: The payload configs of AOTInductor packages (torch's ``*_PARAM_CONFIG_FORMAT``).
WEIGHTS_PARAM_CONFIG = "data/weights/{}_model_param_config.json"
CONSTANTS_PARAM_CONFIG = "data/constants/{}_model_constants_config.json"
SAMPLE_INPUTS = "data/sample_inputs/{}.pt"
#: torch <= 2.5 inside the current layout: a whole pickled state dict / constants dict.
LEGACY_WEIGHTS_BLOB = "data/weights/{}.pt"
LEGACY_CONSTANTS_BLOB = "data/constants/{}.pt"
#: ``torch.export.save(..., extra_files={name: text})`` writes ``<root>/extra/<name>``.
EXTRA_DIR = "extra/"
AOTINDUCTOR_DIR = "data/aotinductor/"
#: Folders of other backends torch.export.load leaves alone.
OTHER_BACKEND_DIRS = ("data/executorch/", "data/mtia/", "xl_model_weights/")

#: File-name prefixes of weights and of constants (tensors, TorchScript objects, pickled objects).
WEIGHT_PREFIX = "weight_"
CONSTANT_PREFIXES = ("tensor_", "custom_obj_", "opaque_obj_")

#: Small text members of ``<root>/``.
TEXT_MEMBERS = frozenset({"archive_format", "archive_version", "byteorder", ".data/version", ".data/serialization_id"})
#: The text members :attr:`~pt2canon.serde.archive.Artifact.info` keeps, by key.
INFO_MEMBERS = {
    "archive_format": "archive_format",
    "archive_version": "archive_version",
    "byteorder": "byteorder",
    "data_version": ".data/version",
}

#: The older format (torch <= 2.5): the program, and the blobs by kind, first name found wins.
LEGACY_PROGRAM = "serialized_exported_program.json"
LEGACY_BLOBS = {
    "state_dict": ("serialized_state_dict.pt", "serialized_state_dict.json"),
    "constants": ("serialized_constants.pt", "serialized_constants.json"),
    "example_inputs": ("serialized_example_inputs.pt",),
}
LEGACY_VERSION = "version"
#: The older format's extra files: ``extra_files/<name>`` at the top of the zip.
LEGACY_EXTRA_DIR = "extra_files/"


@dataclass(frozen=True)
class Limits:
    """Bounds that keep a hostile archive from exhausting memory or time.

    Parameters
    ----------
    max_json_bytes : int
        Largest JSON member (``model.json``, configs) read into memory. A
        document takes about 23 bytes of memory per byte to canonicalize
        (measured: 1.55 GB of address space for a 68.7 MB, 100,000-node
        program), so the default keeps every command, a ``diff`` of two such
        documents included, within 4 GiB.
    max_member_bytes : int
        Largest declared size of any one member (weights are streamed, but a
        member declared larger than this is refused).
    max_total_bytes : int
        Largest sum of declared member sizes.
    max_members : int
        Most members in one archive.
    max_inflated_bytes : int
        Largest declared size of one compressed member: what decompressing it
        may produce (a member never inflates past its declared size). torch
        writes members stored, so only archives rewritten by other tools have
        compressed members at all.
    max_total_inflated_bytes : int
        Largest sum of the declared sizes of the compressed members.
    max_depth : int
        Deepest nesting of objects and arrays in a JSON member. Every later
        stage (canonical form, diff, writers) can then walk a document
        without running out of stack.
    max_node_values : int
        Most values one node takes and gives: its inputs and outputs, every
        element of a list argument counted (``cat`` of many tensors). Every
        stage is linear in it, the diff with a large constant.
    max_tensor_rank : int
        Most dimensions of one tensor.
    max_ratio : int
        Compression ratio above which ``pt2canon audit`` reports a member as a
        possible zip bomb (``compression-ratio``); the reader bounds what it
        decompresses in bytes instead (``max_inflated_bytes``).

    Examples
    --------
    Lower a bound to refuse more; an archive over one is refused before any
    member is read:

    >>> import io, zipfile
    >>> from pt2canon.serde.archive import read_bytes
    >>> Limits(max_members=2).max_members, Limits().max_depth
    (2, 100)
    >>> buf = io.BytesIO()
    >>> with zipfile.ZipFile(buf, "w") as zf:
    ...     for i in range(3):
    ...         zf.writestr(f"m/x{i}", "")
    >>> read_bytes(buf.getvalue(), label="three.zip", limits=Limits(max_members=2))
    Traceback (most recent call last):
    ...
    pt2canon.errors.UnsafeArchiveError: three.zip: archive has 3 members, over the limit max_members=2
    """

    max_json_bytes: int = 96 << 20
    max_member_bytes: int = 64 << 30
    max_total_bytes: int = 256 << 30
    max_members: int = 200_000
    max_inflated_bytes: int = 1 << 30
    max_total_inflated_bytes: int = 4 << 30
    max_depth: int = 100
    max_node_values: int = 10_000
    max_tensor_rank: int = 1_000
    max_ratio: int = 200


DEFAULT_LIMITS = Limits()


def find_roots(names: Iterable[str]) -> set[str]:
    """The root folders (``"m/"``, or ``""`` for none) that a current-format archive's names imply.

    A root is marked by ``<root>/archive_format`` or ``<root>/models/<name>.json``.

    Examples
    --------
    >>> find_roots(["m/archive_format", "m/data/weights/weight_0"]), find_roots(["models/model.json"])
    ({'m/'}, {''})
    >>> sorted(find_roots(["a/archive_format", "b/models/model.json"]))  # two roots: the reader refuses it
    ['a/', 'b/']
    >>> find_roots(["serialized_exported_program.json", "version"])  # the older format has none
    set()
    """
    roots = set()
    for name in names:
        parts = name.split("/")
        if parts[-1] == "archive_format" and len(parts) <= 2:
            roots.add(parts[0] + "/" if len(parts) == 2 else "")
        elif len(parts) == 3 and parts[1] == "models" and parts[2].endswith(".json"):
            roots.add(parts[0] + "/")
        elif len(parts) == 2 and parts[0] == "models" and parts[1].endswith(".json"):
            roots.add("")
    return roots


def extra_files(names: Iterable[str], folder: str) -> dict[str, str]:
    """The extra files below ``folder`` (``<root>/extra/``, or ``extra_files/``): name -> member, sorted by name.

    Folder entries (names ending in ``/``) are not files. The members
    themselves were checked like every other member when the zip was opened
    (names, sizes, methods, overlaps), and are read only through the same
    bounded, CRC-checked reads.

    Examples
    --------
    >>> extra_files(["m/extra/z.txt", "m/extra/cfg/a.json", "m/extra/cfg/", "m/models/model.json"], "m/extra/")
    {'cfg/a.json': 'm/extra/cfg/a.json', 'z.txt': 'm/extra/z.txt'}
    >>> extra_files(["extra_files/notes", "serialized_exported_program.json"], LEGACY_EXTRA_DIR)
    {'notes': 'extra_files/notes'}
    """
    return dict(sorted((n[len(folder) :], n) for n in names if n.startswith(folder) and not n.endswith("/")))


def is_absolute(name: str) -> bool:
    """Whether a member name is an absolute path (``/x``, ``\\x``, ``C:...``)."""
    return name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":")


def has_dotdot(name: str, *, backslash: bool = False) -> bool:
    """Whether a member name has a ``..`` component (``backslash``: ``\\`` separates too)."""
    return ".." in (name.replace("\\", "/") if backslash else name).split("/")


def member_name_problem(name: str) -> tuple[str, str] | None:
    """``(code, what is wrong)`` for a member name that could escape an extraction folder, else ``None``.

    Codes: ``absolute``, ``backslash``, ``dotdot``, ``nul``, the first that applies.

    Examples
    --------
    >>> [member_name_problem(n)[0] for n in ("/etc/passwd", "C:evil", r"m\\..\\x", "m/../../x", "m/a\\x00.json")]
    ['absolute', 'absolute', 'backslash', 'dotdot', 'nul']
    >>> member_name_problem("m/../x")
    ('dotdot', "contains a '..' component")
    >>> member_name_problem("m/..data/x") is None  # '..' only as a whole component
    True
    """
    if is_absolute(name):
        return "absolute", "is an absolute path"
    if "\\" in name:
        return "backslash", "contains a backslash"
    if has_dotdot(name):
        return "dotdot", "contains a '..' component"
    if "\x00" in name:
        return "nul", "contains a NUL byte"
    return None


_NAME = r"[^/]+"
#: Members of ``<root>/`` by what reads them, as patterns of the name below the root.
MODEL_PATTERN = re.compile(rf"models/({_NAME})\.json")
CONFIG_PATTERN = re.compile(
    rf"data/(weights/{_NAME}_(weights|model_param)_config|constants/{_NAME}_(constants|model_constants)_config)\.json"
)
TORCH_LOAD_PATTERNS = (
    re.compile(rf"data/sample_inputs/{_NAME}\.pt"),
    re.compile(rf"data/(weights|constants)/{_NAME}\.pt"),
)
CUSTOM_OBJ_PATTERN = re.compile(r"data/constants/custom_obj_\d+")
OPAQUE_OBJ_PATTERN = re.compile(r"data/constants/opaque_obj_\d+")
PAYLOAD_FILE_PATTERN = re.compile(r"data/(weights/weight|constants/tensor)_\d+")
