"""What a diff compares: :class:`Options` (level and what to ignore), and the hash layers that follow."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Options"]


@dataclass(frozen=True)
class Options:
    """What a comparison looks at (see :func:`pt2canon.diff.diff_programs`)."""

    level: str = "graph"
    ignore_shapes: bool = False
    ignore_weights: bool = False
    include_versions: bool = False

    @property
    def meta(self) -> bool:
        """Compare tensor metadata (dtype, sizes, ...) and symbolic values."""
        return self.level != "structure" and not self.ignore_shapes

    @property
    def names(self) -> bool:
        """Compare signature FQNs and the module call graph."""
        return self.level != "structure"

    @property
    def weights(self) -> bool:
        return self.level == "full" and not self.ignore_weights

    def layers(self) -> tuple[str, ...]:
        """The hash layers whose equality means "no change" under these options."""
        out = ["structure"]
        if self.names:
            out.append("signature")
        if self.meta:
            out += ["tensors", "constraints"]
        if self.weights:
            out += ["weights", "constants"]
        return tuple(out)
