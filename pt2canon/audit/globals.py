"""Which globals a pickle in an archive may import: :data:`ALLOWED_GLOBALS`.

The allowlist is the set torch 2.13's ``torch.load(weights_only=True)``
accepts; :func:`global_allowed` decides, :func:`is_dangerous` words the
message for well-known code-execution primitives.

Examples
--------
>>> global_allowed("torch._utils._rebuild_tensor_v2"), global_allowed("posix.system")
(True, False)
>>> is_dangerous("posix.system"), is_dangerous("builtins.slice")
(True, False)
"""

from __future__ import annotations

__all__ = ["ALLOWED_GLOBALS", "HARMLESS_GLOBALS", "global_allowed", "is_dangerous"]


def _names(prefix: str, names: str) -> frozenset[str]:
    return frozenset(f"{prefix}{n}" for n in names.split())


_STORAGE_KINDS = "BFloat16 Bool Byte Char ComplexDouble ComplexFloat Double Float Half Int Long Short"
_TENSOR_KINDS = "BFloat16 Bool Byte Char Double Float Half Int Long Short"
_SPARSE_KINDS = "BFloat16 Byte Char Double Float Half Int Long Short"

#: Globals a pickle may import: what torch needs to rebuild tensors, storages,
#: parameters and containers. This is exactly the set torch 2.13's
#: ``torch.load(weights_only=True)`` accepts
#: (``torch._weights_only_unpickler._get_allowed_globals()``); the tests check
#: it against that function and against the globals of real torch pickles.
#: Names are ``module.qualname`` as resolved by :mod:`pickle` (``__builtin__``
#: in protocol 0-2 pickles resolves to ``builtins``).
ALLOWED_GLOBALS: frozenset[str] = (
    frozenset(
        {
            "collections.OrderedDict",
            "collections.Counter",
            "torch.nn.parameter.Parameter",
            "torch.serialization._get_layout",
            "torch.Size",
            "torch.Tensor",
            "torch.device",
            "torch._tensor._rebuild_from_type_v2",
            "torch.storage.TypedStorage",
            "torch.storage.UntypedStorage",
            # bytes, bytearray, set and complex values in protocol 0-2 pickles
            "_codecs.encode",
            "builtins.bytearray",
            "builtins.set",
            "builtins.complex",
        }
    )
    | _names(
        "torch._utils.",
        "_rebuild_tensor _rebuild_tensor_v2 _rebuild_tensor_v3 _rebuild_parameter"
        " _rebuild_parameter_with_state _rebuild_qtensor _rebuild_sparse_tensor"
        " _rebuild_meta_tensor_no_storage _rebuild_nested_tensor _rebuild_wrapper_subclass"
        " _rebuild_device_tensor_from_numpy _rebuild_device_tensor_from_cpu_tensor",
    )
    | _names(
        "torch.",
        # dtypes
        "float16 float32 float64 bfloat16 complex32 complex64 complex128 bool"
        " uint8 uint16 uint32 uint64 int8 int16 int32 int64"
        " uint1 uint2 uint3 uint4 uint5 uint6 uint7 int1 int2 int3 int4 int5 int6 int7"
        " qint8 quint8 qint32 quint4x2 quint2x4 bits1x8 bits2x4 bits4x2 bits8 bits16"
        " float8_e4m3fn float8_e5m2 float8_e4m3fnuz float8_e5m2fnuz float8_e8m0fnu float4_e2m1fn_x2"
        # quantization schemes
        " per_tensor_affine per_tensor_symmetric per_channel_affine per_channel_symmetric"
        " per_channel_affine_float_qparams"
        # quantized storages
        " QInt32Storage QInt8Storage QUInt2x4Storage QUInt4x2Storage QUInt8Storage",
    )
    | _names("torch.", " ".join(f"{k}Storage" for k in _STORAGE_KINDS.split()))
    | _names("torch.", " ".join(f"{k}Tensor" for k in _TENSOR_KINDS.split()))
    | _names("torch.cuda.", " ".join(f"{k}Storage" for k in _STORAGE_KINDS.split()))
    | _names("torch.cuda.", " ".join(f"{k}Tensor" for k in _TENSOR_KINDS.split()))
    | _names("torch.sparse.", " ".join(f"{k}Tensor" for k in _SPARSE_KINDS.split()))
    | _names("torch.cuda.sparse.", " ".join(f"{k}Tensor" for k in _SPARSE_KINDS.split()))
)

#: Harmless builtins that torch never needs: reported ``low``, because
#: ``torch.load(weights_only=True)`` refuses them and ``torch.export.load``
#: then retries with ``weights_only=False``.
HARMLESS_GLOBALS = frozenset(
    {"builtins.frozenset", "builtins.slice", "builtins.range", "builtins.Ellipsis", "builtins.NotImplemented"}
)

#: Modules (and builtins) whose globals are well-known code-execution
#: primitives; used to word the message, not to decide the severity.
_DANGEROUS_MODULES = _names(
    "",
    "os posix nt subprocess sys importlib runpy pty socket shutil webbrowser code codeop ctypes"
    " pickle _pickle marshal types platform multiprocessing asyncio pdb bdb timeit profile cProfile"
    " trace commands popen2 operator _operator functools urllib http ftplib smtplib telnetlib"
    " requests pip setuptools distutils",
)
_DANGEROUS_BUILTINS = _names(
    "",
    "eval exec compile open getattr setattr delattr __import__ globals locals vars input"
    " breakpoint apply execfile file reload",
)
_DANGEROUS_TORCH = ("torch.hub", "torch.load", "torch.jit", "torch.utils.cpp_extension", "torch.ops", "torch._C")

#: In pickles read by TorchScript's own unpickler (``custom_obj_N`` constants,
#: ``torch._C._pickle_load_obj``) these name TorchScript classes and list
#: builders, not Python objects.
_TORCHSCRIPT_PREFIXES = ("torch.jit._pickle.", "__torch__.")


def global_allowed(name: str, *, torchscript: bool = False) -> bool:
    """Whether a pickle may import ``name`` (``"module.qualname"``).

    Parameters
    ----------
    name : str
        The global as :mod:`pickle` resolves it.
    torchscript : bool
        The pickle is read by TorchScript's unpickler, which also resolves
        ``torch.jit._pickle.*`` and ``__torch__.*`` (TorchScript classes).
    """
    if name in ALLOWED_GLOBALS:
        return True
    return torchscript and name.startswith(_TORCHSCRIPT_PREFIXES)


def is_dangerous(name: str) -> bool:
    """Whether ``name`` is a well-known code-execution primitive (``os``, ``subprocess``, ``builtins.eval``, ...)."""
    module, _, attr = name.partition(".") if "." in name else (name, "", "")
    if name.startswith(_DANGEROUS_TORCH):
        return True
    if module == "builtins" or module == "__builtin__":
        return attr.split(".")[0] in _DANGEROUS_BUILTINS
    return any(name == m or name.startswith(m + ".") for m in _DANGEROUS_MODULES)
