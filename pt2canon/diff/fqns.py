"""Renamed FQNs: which module of A is which of B, learned from the tensors paired by the alignment.

When a block is inserted into an ``nn.Sequential``, the modules after it
shift (``features.12`` becomes ``features.13``): the alignment pairs the
tensors through the ops that read them, and :class:`ModuleRenames` reads
off those pairs which module prefix became which, by majority, so that
the tensors no op reads (``num_batches_tracked`` in eval mode), the module
call graph and the weights follow the same renaming.

Examples
--------
>>> r = ModuleRenames.learn([("features.1.0.weight", "features.2.0.weight"), ("features.1.1.bias", "features.2.1.bias")])
>>> r.rename("features.1.1.num_batches_tracked"), r.rename("features.0.1.weight"), r.rename("classifier.weight")
('features.2.1.num_batches_tracked', 'features.0.1.weight', 'classifier.weight')
>>> r.module("features.1")
'features.2'
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["ModuleRenames"]


@dataclass
class ModuleRenames:
    """A's module prefixes that became other prefixes in B (``{"features.12": "features.13"}``).

    Examples
    --------
    A block inserted before ``blocks.3`` shifts it to ``blocks.4``; the
    pairs of its tensors say so, for its submodules too, and names outside
    the shifted module stay as they are:

    >>> r = ModuleRenames.learn([("blocks.3.conv.weight", "blocks.4.conv.weight"),
    ...                          ("blocks.3.bn.bias", "blocks.4.bn.bias"), ("head.weight", "head.weight")])
    >>> sorted(r.prefixes.items())
    [('blocks.3', 'blocks.4'), ('blocks.3.bn', 'blocks.4.bn'), ('blocks.3.conv', 'blocks.4.conv')]
    >>> r.rename("blocks.3.bn.running_mean"), r.rename("blocks.2.conv.weight"), r.module("blocks.3")
    ('blocks.4.bn.running_mean', 'blocks.2.conv.weight', 'blocks.4')

    Nothing renamed is falsy:

    >>> bool(r), bool(ModuleRenames.learn([("head.weight", "head.weight")]))
    (True, False)
    """

    prefixes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def learn(cls, pairs: Iterable[tuple[str, str]]) -> ModuleRenames:
        """Learn from ``(A's FQN, B's FQN)`` pairs of the same tensor.

        Each pair votes, for every module prefix of A's FQN whose trailing
        components agree with B's (``1.0.weight`` / ``2.0.weight``: ``1.0`` ->
        ``2.0`` and ``1`` -> ``2``), for that prefix's counterpart; the most
        voted counterpart wins (the first one voted, on a tie).
        """
        votes: dict[str, Counter[str]] = {}
        for fa, fb in pairs:
            ca, cb = fa.split("."), fb.split(".")
            k = 0
            while k < min(len(ca), len(cb)) - 1 and ca[-1 - k] == cb[-1 - k]:
                k += 1
                pa, pb = ".".join(ca[: len(ca) - k]), ".".join(cb[: len(cb) - k])
                votes.setdefault(pa, Counter())[pb] += 1
        prefixes = {}
        for pa, counter in votes.items():
            pb = counter.most_common(1)[0][0]
            if pb != pa:
                prefixes[pa] = pb
        return cls(prefixes)

    def module(self, name: str) -> str:
        """B's name of A's module ``name``: its longest renamed prefix replaced."""
        parts = name.split(".")
        for k in range(len(parts), 0, -1):
            head = ".".join(parts[:k])
            if head in self.prefixes:
                return ".".join([self.prefixes[head], *parts[k:]])
        return name

    def rename(self, fqn: str) -> str:
        """B's FQN of A's tensor ``fqn``, as its module was renamed (itself when not)."""
        module, dot, leaf = fqn.rpartition(".")
        return f"{self.module(module)}.{leaf}" if dot else fqn

    def __bool__(self) -> bool:
        return bool(self.prefixes)
