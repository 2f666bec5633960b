"""Which members of an archive hold what, from the layout and the payload configs: :class:`MemberKinds`."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pt2canon import _json
from pt2canon.errors import ArchiveError
from pt2canon.serde.layout import (
    AOTINDUCTOR_DIR,
    CONFIG_PATTERN,
    CONSTANTS_DIR,
    CUSTOM_OBJ_PATTERN,
    EXTRA_DIR,
    LEGACY_BLOBS,
    LEGACY_EXTRA_DIR,
    LEGACY_PROGRAM,
    LEGACY_VERSION,
    MODEL_PATTERN,
    OPAQUE_OBJ_PATTERN,
    OTHER_BACKEND_DIRS,
    PAYLOAD_FILE_PATTERN,
    TEXT_MEMBERS,
    TORCH_LOAD_PATTERNS,
    WEIGHTS_DIR,
    find_roots,
)

if TYPE_CHECKING:  # pragma: no cover
    from pt2canon.audit.scan import Auditor

__all__ = ["MemberKinds"]

_LEGACY_MEMBERS = {
    LEGACY_PROGRAM: "json",
    **{name: ("json" if name.endswith(".json") else "torch.load") for names in LEGACY_BLOBS.values() for name in names},
    LEGACY_VERSION: "text",
}
_TORCH_ZIP_MEMBERS = re.compile(
    r"[^/]+/(data\.pkl|version|\.format_version|\.storage_alignment|byteorder|\.data/version"
    r"|\.data/serialization_id|data/\d+)"
)


class MemberKinds:
    """Which members of an archive hold what, from its structure and payload configs."""

    def __init__(
        self,
        auditor: Auditor,
        zf: zipfile.ZipFile,
        infos: list[zipfile.ZipInfo],
        read: Callable[[zipfile.ZipInfo, int], bytes | None],
    ) -> None:
        self.auditor = auditor
        self._read = read
        self.programs: set[str] = set()
        self.findings: list[tuple[Any, ...]] = []
        self.kinds: dict[str, str] = {}
        names = [i.filename for i in infos]
        roots = find_roots(names)
        if roots:
            self.format = "pt2"
            if len(roots) > 1:
                self.findings.append(
                    (
                        "medium",
                        "multiple-roots",
                        None,
                        f"archive has {len(roots)} root folders ({', '.join(sorted(repr(r) for r in roots))}); "
                        "torch reads one of them and pt2canon refuses the archive",
                    )
                )
            for root in sorted(roots):
                self._pt2(zf, infos, root)
        elif LEGACY_PROGRAM in names:
            self.format = "legacy"
            for name, kind in _LEGACY_MEMBERS.items():
                self.kinds[name] = kind
            for name in names:
                if name.startswith(LEGACY_EXTRA_DIR):
                    self.kinds.setdefault(name, "extra")
        elif any(re.fullmatch(r"[^/]+/data\.pkl", n) for n in names):
            self.format = "torch-zip"
            self._torch_zip(names)
        else:
            raise ArchiveError(
                "zip holds no exported program (<root>/models/<name>.json or serialized_exported_program.json) "
                "and is not a torch.save file (<dir>/data.pkl)",
                file=auditor.label,
            )

    def is_program(self, name: str) -> bool:
        """Whether the member is a serialized program (``models/<name>.json``, the older format's JSON)."""
        return name in self.programs or name == LEGACY_PROGRAM

    def kind(self, name: str) -> str:
        if name.endswith("/"):
            return "dir"
        return self.kinds.get(name, "unknown")

    def _torch_zip(self, names: list[str]) -> None:
        # A torch.save file given directly: torch.load unpickles its data.pkl.
        if any(n == "constants.pkl" or n.endswith("/constants.pkl") for n in names):
            self.findings.append(
                (
                    "high",
                    "torchscript-archive",
                    None,
                    "file is a TorchScript archive (it holds constants.pkl): torch.load hands it to torch.jit.load, "
                    "which compiles and runs the code it carries",
                )
            )
        for name in names:
            if name.endswith(".pkl"):
                self.kinds[name] = "torch.load"
            elif _TORCH_ZIP_MEMBERS.fullmatch(name):
                self.kinds[name] = "raw"

    def _pt2(self, zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], root: str) -> None:
        kinds = self.kinds
        members = [i.filename for i in infos if i.filename.startswith(root)]
        models = set()
        aoti: dict[str, str] = {}
        for name in members:
            rel = name[len(root) :]
            if rel in TEXT_MEMBERS:
                kinds[name] = "text"
            elif m := MODEL_PATTERN.fullmatch(rel):
                kinds[name] = "json"
                models.add(m.group(1))
                self.programs.add(name)
            elif CONFIG_PATTERN.fullmatch(rel):
                kinds[name] = "json"
            elif any(p.fullmatch(rel) for p in TORCH_LOAD_PATTERNS):
                kinds[name] = "torch.load"
            elif CUSTOM_OBJ_PATTERN.fullmatch(rel):
                kinds[name] = "torchscript"
            elif OPAQUE_OBJ_PATTERN.fullmatch(rel):
                kinds[name] = "pickle"
            elif PAYLOAD_FILE_PATTERN.fullmatch(rel):
                kinds[name] = "unreferenced"  # raw or pickled: settled by the configs below
            elif rel.startswith(EXTRA_DIR):
                kinds[name] = "extra"
            elif rel.startswith(OTHER_BACKEND_DIRS):
                kinds[name] = "other"
            elif rel.startswith(AOTINDUCTOR_DIR):
                kinds[name] = "other"
                folder = rel.split("/")[2] if rel.count("/") >= 3 else rel
                aoti.setdefault(folder, name)
        for folder, first in sorted(aoti.items()):
            self.findings.append(
                (
                    "high",
                    "aoti-native-code",
                    first,
                    f"archive carries an AOTInductor package ({root}{AOTINDUCTOR_DIR}{folder}/): torch.export.load "
                    "loads its shared library, which runs native code",
                )
            )
        for config in [n for n in members if kinds.get(n) == "json" and n.endswith("config.json")]:
            self._config(zf, root, config)
        for name in members:
            if kinds.get(name) == "unreferenced":
                kinds[name] = "sniff"

    def _config(self, zf: zipfile.ZipFile, root: str, config: str) -> None:
        folder = WEIGHTS_DIR if f"/{WEIGHTS_DIR}" in f"/{config[len(root) :]}" else CONSTANTS_DIR
        info = zf.getinfo(config)
        lim = self.auditor.limits
        if info.compress_type != zipfile.ZIP_STORED and info.file_size > lim.max_ratio * max(info.compress_size, 1):
            return
        data = self._read(info, lim.max_json_bytes)  # never more than it declares, nor than the limit
        if data is None:
            return
        try:
            doc = _json.loads(data)
            entries = doc["config"].items()
        except Exception as exc:
            self.findings.append(
                (
                    "medium",
                    "malformed-config",
                    config,
                    f"payload config cannot be read ({type(exc).__name__}); weights were sniffed for pickles instead",
                )
            )
            return
        for fqn, meta in entries:
            if not isinstance(meta, dict) or not isinstance(meta.get("path_name"), str):
                self.findings.append(("medium", "malformed-config", config, f"entry {fqn!r} has no path_name"))
                continue
            path_name = meta["path_name"]
            member = f"{root}{folder}{path_name}"
            if "/" in path_name or "\\" in path_name:
                self.findings.append(
                    (
                        "medium",
                        "config-path",
                        config,
                        f"entry {fqn!r} names {path_name!r}, a path outside {folder} (torch joins it to the folder as is)",
                    )
                )
            if meta.get("use_pickle"):
                loader = (
                    "torchscript"
                    if path_name.startswith("custom_obj_")
                    else "pickle"
                    if path_name.startswith("opaque_obj_")
                    else "torch.load"
                )
                self.kinds[member] = loader
            elif self.kinds.get(member) in ("unreferenced", None, "unknown"):
                self.kinds[member] = "raw"
