"""Build hook for the compiled parts, four optional extensions.

- ``pt2canon.diff._fused``: the diff's one-pass float32 comparison
  (``pt2canon/diff/fused.py``; without it, numpy alone);
- ``pt2canon.serde._plain``: the schema checks' fast path
  (``pt2canon/serde/plain.py``; without it, the Python predicates there);
- ``pt2canon.serde._builder``: the graph model's op-node loop
  (``pt2canon/serde/graph.py``; without it, ``_Builder.op`` in Python);
- ``pt2canon.canon._emit``: the canonical JSON's node loop
  (``pt2canon/canon/emit.py``; without it, ``_NodeEmitter.node`` in Python).

Everything else about the package is in ``pyproject.toml``. All four are
optional: where one does not build (no C compiler, a compiler without GCC's
vector extensions), the install goes on and the pure-Python path, the
reference, does its work.
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

#: No fused multiply-add: ``s * rtol + atol`` rounds twice, as numpy computes it.
UNIX_FLAGS = ["-O3", "-ffp-contract=off", "-Wno-psabi"]


class BuildExt(build_ext):
    """``build_ext`` with the flags the kernel's exactness needs, for GCC and Clang."""

    def build_extensions(self) -> None:
        if self.compiler.compiler_type in ("unix", "mingw32", "cygwin"):  # GCC or Clang
            for ext in self.extensions:
                ext.extra_compile_args = [*UNIX_FLAGS, *ext.extra_compile_args]
        super().build_extensions()


setup(
    ext_modules=[
        Extension("pt2canon.diff._fused", ["pt2canon/diff/_fused.c"], optional=True),
        Extension("pt2canon.serde._plain", ["pt2canon/serde/_plain.c"], optional=True),
        Extension("pt2canon.serde._builder", ["pt2canon/serde/_builder.c"], optional=True),
        Extension("pt2canon.canon._emit", ["pt2canon/canon/_emit.c"], optional=True),
    ],
    cmdclass={"build_ext": BuildExt},
)
