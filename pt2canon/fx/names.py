"""Stable names for FX node targets and their arguments.

A node target becomes the ``Node.target`` string of the serialized schema,
spelled so that the same target gets the same name in every process and on
every machine, and never from an ``id()`` or a ``repr`` with an address:

===============================  ===============================================
FX target                        name
===============================  ===============================================
``OpOverload``                   ``torch.ops.aten.add.Tensor`` (as ``torch.export``)
``OpOverloadPacket``             ``torch.ops.aten.add``
higher-order op                  ``torch.ops.higher_order.cond``
builtin                          ``builtins.getattr``
``operator`` function            ``_operator.add`` (its ``__module__``, as ``torch.export``)
``torch`` builtin                ``torch.relu``, ``torch._C._nn.linear``
``torch.Tensor`` method          ``torch.Tensor.add_``
Python function or class         ``module.qualname`` (``torch.nn.functional.relu``);
                                 a local function or lambda gets
                                 ``#<12 hex>``, the digest of its bytecode and names
``call_method``                  ``call_method.<method name>``
``call_module``                  the submodule's class (``torch.nn.modules.linear.Linear``)
===============================  ===============================================

Anything else (a callable object with state, a ``functools.partial``) is
refused with a :class:`~pt2canon.errors.InputError` naming the node.

Arguments are named as torch's op schema names them for ``OpOverload``
targets (keyword-only ones have ``kind`` 2, as ``torch.export`` writes),
by the Python signature for Python functions and module ``forward``
methods (normalized: positional while the parameters given are a prefix of
the signature, keywords after a gap), and ``self``, ``arg1``, ``arg2``, ...
by position for everything else (builtins, methods: ``self`` is the
receiver), keywords by keyword.
"""

from __future__ import annotations

import builtins
import functools
import hashlib
import inspect
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

from pt2canon.errors import InputError

__all__ = ["KEYWORD", "POSITIONAL", "bind_arguments", "callable_name", "module_class_name"]

#: ``ArgumentKind`` values of the schema.
POSITIONAL, KEYWORD = 1, 2


def _torch() -> Any:
    import torch

    return torch


def _code_digest(fn: Any) -> str:
    code = getattr(fn, "__code__", None)
    if code is None:
        return ""
    consts = [c for c in code.co_consts if isinstance(c, (int, float, str, bytes, bool, type(None)))]
    h = hashlib.sha256(code.co_code)
    h.update(repr((code.co_names, code.co_varnames, consts)).encode())
    return "#" + h.hexdigest()[:12]


def callable_name(fn: Any, *, where: str = "") -> str:
    """The stable name of a callable FX target (see the module docstring).

    Examples
    --------
    >>> import operator
    >>> callable_name(operator.add), callable_name(getattr)
    ('_operator.add', 'builtins.getattr')
    """
    if "torch" in sys.modules:
        torch = _torch()
        if isinstance(fn, (torch._ops.OpOverload, torch._ops.OpOverloadPacket)):
            return f"torch.ops.{fn}"
        if isinstance(fn, torch._ops.HigherOrderOperator):
            return f"torch.ops.{fn.namespace}.{fn.name()}"
        if isinstance(fn, (types.MethodDescriptorType, types.WrapperDescriptorType)):
            name = getattr(fn, "__name__", "")
            if getattr(torch.Tensor, name, None) is fn:
                return f"torch.Tensor.{name}"
    name = getattr(fn, "__name__", None)
    if isinstance(name, str) and getattr(builtins, name, None) is fn:
        return f"builtins.{name}"
    if isinstance(fn, types.BuiltinFunctionType):
        module = fn.__module__ or getattr(fn.__self__, "__name__", None) or "builtins"
        if module.startswith("torch._C._VariableFunctions"):
            module = "torch"
        return f"{module}.{fn.__name__}"
    if isinstance(fn, (types.MethodDescriptorType, types.WrapperDescriptorType, types.ClassMethodDescriptorType)):
        owner = fn.__objclass__
        return f"{owner.__module__}.{owner.__qualname__}.{fn.__name__}"
    if isinstance(fn, (types.FunctionType, type)):
        qualname = fn.__qualname__
        suffix = _code_digest(fn) if ("<locals>" in qualname or "<lambda>" in qualname) else ""
        return f"{fn.__module__}.{qualname}{suffix}"
    raise InputError(
        f"target is a {type(fn).__module__}.{type(fn).__qualname__} object: pt2canon names callables by module "
        "and qualified name and cannot see this object's state (a callable instance or functools.partial); "
        "use a plain function or an op",
        where=where or None,
    )


def module_class_name(module: Any) -> str:
    """The name of a ``call_module`` target: its class, ``module.qualname``."""
    cls = type(module)
    return f"{cls.__module__}.{cls.__qualname__}"


def _positional(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[tuple[str, Any, int]]:
    out = [("self" if i == 0 else f"arg{i}", a, POSITIONAL) for i, a in enumerate(args)]
    out += [(k, v, KEYWORD) for k, v in kwargs.items()]
    return out


@functools.lru_cache(maxsize=2048)
def _signature(fn: Callable[..., Any]) -> inspect.Signature | None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    kinds = {p.kind for p in sig.parameters.values()}
    if inspect.Parameter.VAR_POSITIONAL in kinds or inspect.Parameter.VAR_KEYWORD in kinds:
        return None
    return sig


def _by_signature(
    sig: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Iterator[tuple[str, Any, int]]:
    bound = sig.bind(*args, **kwargs).arguments
    prefix = True
    for name, param in sig.parameters.items():
        if name not in bound:
            prefix = False
            continue
        keyword = param.kind == inspect.Parameter.KEYWORD_ONLY or not prefix
        yield name, bound[name], KEYWORD if keyword else POSITIONAL


def _by_schema(schema: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[tuple[str, Any, int]]:
    out = []
    for i, a in enumerate(schema.arguments):
        if a.name in kwargs:
            value = kwargs[a.name]
        elif not a.kwarg_only and i < len(args):
            value = args[i]
        else:
            continue
        out.append((a.name, value, KEYWORD if a.kwarg_only else POSITIONAL))
    return out


def bind_arguments(
    target: Any, args: tuple[Any, ...], kwargs: dict[str, Any], *, method: bool = False
) -> list[tuple[str, Any, int]]:
    """``(name, value, kind)`` for each argument of a call, named as the module docstring says.

    ``method`` names a ``call_method`` call (the receiver is ``self``).

    Examples
    --------
    >>> def f(x, p=0.5, training=True, *, inplace=False):
    ...     return x
    >>> bind_arguments(f, ("x", 0.1), {"inplace": True})
    [('x', 'x', 1), ('p', 0.1, 1), ('inplace', True, 2)]
    >>> bind_arguments(f, ("x",), {"training": False})
    [('x', 'x', 1), ('training', False, 2)]
    >>> bind_arguments(len, ("x",), {})
    [('self', 'x', 1)]
    """
    if method:
        return _positional(args, kwargs)
    schema = getattr(target, "_schema", None)
    if schema is not None and hasattr(schema, "arguments"):
        return _by_schema(schema, args, kwargs)
    sig = None
    if isinstance(target, types.FunctionType):
        sig = _signature(target)
    elif isinstance(target, types.MethodType) and isinstance(target.__func__, types.FunctionType):
        sig = _signature(target.__func__)
        if sig is not None:  # drop the bound ``self``
            sig = sig.replace(parameters=list(sig.parameters.values())[1:])
    if sig is not None:
        try:
            return list(_by_signature(sig, args, kwargs))
        except TypeError:
            pass
    return _positional(args, kwargs)
