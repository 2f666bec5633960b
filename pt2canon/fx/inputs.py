"""Which signature kind an FX placeholder is: user input, parameter, buffer or constant.

The kind and the FQN come from the first of these that a placeholder has:

1. Dynamo's ``GraphArg`` (``node.meta["grapharg"]``, present while a
   ``torch.compile`` backend runs): its source, ``L['self']._modules['l1']._parameters['weight']``,
   names the parameter ``l1.weight``; ``_buffers[...]`` a buffer; a tensor
   reached from a global or an attribute that is neither a tensor
   constant; a frame local (``L['x']``) a user input;
2. AOTAutograd's descriptor (``node.meta["desc"]``): ``ParamAOTInput`` and
   ``BufferAOTInput`` carry their FQN, everything else is a user input;
3. after compilation (Dynamo drops ``grapharg``), the placeholder name
   Dynamo derived from the source: ``L_self_modules_l1_parameters_weight_``;
4. an ``nn.Parameter`` example value: a parameter named by the placeholder;
5. otherwise a user input.

A leading ``self`` or ``fn`` (the compiled module: ``self`` in its
``forward``, ``fn`` in the wrapper ``torch.compile`` puts around a module
whose ``forward`` Dynamo does not start a frame in, such as
``nn.Sequential``) is dropped from FQNs, so that a module compiled directly
names its weights as its ``state_dict`` does.

Dynamo creates placeholders in the order the code first reads them (a
size symbol just before the first tensor that has it), so swapping two
independent statements can swap two inputs. Inside a backend, where the
sources and the frame are known, user inputs are therefore listed in the
order of the frame's arguments, each argument's size symbols before it
(:func:`user_input_key`): the graph then describes the function as it is
called. A graph read outside a backend (after compilation, or from a
GraphPickler payload) has no sources left and keeps Dynamo's order; both
agree whenever the code first reads its arguments in order.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

__all__ = ["InputKind", "dynamo_frame_code", "input_kind", "kind_from_source_name", "user_input_key"]


class InputKind(NamedTuple):
    """A placeholder's signature kind (``user_input``, ``parameter``, ``buffer``, ``tensor_constant``) and FQN."""

    kind: str
    fqn: str | None = None


USER_INPUT = InputKind("user_input")

#: Frame locals that hold the compiled module (see the module docstring).
_MODULE_ROOTS = frozenset({"self", "fn"})
_TOKEN = re.compile(r"""\.(\w+)|\[\s*(?:'([^']*)'|"([^"]*)"|(-?\d+))\s*\]""")
_ROOT = re.compile(r"""^(L|G)\[\s*(?:'([^']*)'|"([^"]*)")\s*\]""")


def _scope_root(m: re.Match[str]) -> tuple[str, str]:
    """``("L", "x")`` of a match of ``L['x']`` (either quote)."""
    return m.group(1), m.group(2) if m.group(2) is not None else m.group(3)


def kind_from_source_name(name: str, *, is_parameter: bool = False) -> InputKind:
    """The kind of a Dynamo source, from its name.

    Examples
    --------
    >>> kind_from_source_name("L['self']._modules['l1']._parameters['weight']")
    InputKind(kind='parameter', fqn='l1.weight')
    >>> kind_from_source_name("L['self']._modules['bn']._buffers['running_mean']")
    InputKind(kind='buffer', fqn='bn.running_mean')
    >>> kind_from_source_name("L['x']")
    InputKind(kind='user_input', fqn=None)
    >>> kind_from_source_name("G['TABLE']")
    InputKind(kind='tensor_constant', fqn="G['TABLE']")
    """
    m = _ROOT.match(name)
    if m is None:
        return InputKind("parameter", name) if is_parameter else USER_INPUT
    scope, root = _scope_root(m)
    parts: list[str] = [] if (scope == "L" and root in _MODULE_ROOTS) else [root]
    markers: list[str] = []
    pos = m.end()
    for t in _TOKEN.finditer(name, pos):
        if t.start() != pos:
            break  # a call or other syntax: stop at what is understood
        pos = t.end()
        key = next(g for g in t.groups() if g is not None)
        if key in ("_modules", "_parameters", "_buffers"):
            markers.append(key)
        else:
            parts.append(key)
    fqn = ".".join(parts)
    last = markers[-1] if markers else None
    if is_parameter or last == "_parameters":
        return InputKind("parameter", fqn)
    if last == "_buffers":
        return InputKind("buffer", fqn)
    if scope == "G" or (scope == "L" and root in _MODULE_ROOTS):
        return InputKind("tensor_constant", name if scope == "G" else fqn)
    return USER_INPUT


_MANGLED = re.compile(r"_(modules|parameters|buffers)_")
_NUMBERS = re.compile(r"\d+")


def _kind_from_mangled(target: str, is_parameter: bool) -> InputKind | None:
    """Decode ``L_self_modules_l1_parameters_weight_`` (the placeholder name Dynamo made of a source).

    Examples
    --------
    >>> _kind_from_mangled("L_self_modules_self_attn_parameters_in_proj_weight_", False)
    InputKind(kind='parameter', fqn='self_attn.in_proj_weight')
    >>> _kind_from_mangled("L_fn_buffers_scale_", False), _kind_from_mangled("L_x_", False)
    (InputKind(kind='buffer', fqn='scale'), None)
    >>> _kind_from_mangled("L_model_modules_0_parameters_bias_", False)
    InputKind(kind='parameter', fqn='model.0.bias')
    """
    if not (target.startswith("L_") and target.endswith("_")):
        return None
    # "_self_modules_l1_parameters_weight" -> ["_self", "modules", "l1", "parameters", "weight"]
    pieces = _MANGLED.split("_" + target[2:-1])
    if len(pieces) < 3 or len(pieces[0]) < 2:
        return None
    root = pieces[0][1:]
    names = ([] if root in _MODULE_ROOTS else [root]) + pieces[2::2]
    last = pieces[-2]
    fqn = ".".join(names)
    if is_parameter or last == "parameters":
        return InputKind("parameter", fqn)
    if last == "buffers":
        return InputKind("buffer", fqn)
    return None


def input_kind(node: Any, val: Any, *, dynamo: bool) -> InputKind:
    """The signature kind of a tensor placeholder (see the module docstring)."""
    import torch

    is_parameter = isinstance(val, torch.nn.Parameter)
    grapharg = node.meta.get("grapharg")
    source = getattr(grapharg, "source", None)
    if source is not None:
        try:
            return kind_from_source_name(source.name, is_parameter=is_parameter)
        except Exception:  # a source whose name cannot be made: fall through
            pass
    desc = node.meta.get("desc")
    if desc is not None:
        target = getattr(desc, "target", None)
        cls = type(desc).__name__
        if cls == "ParamAOTInput" and isinstance(target, str):
            return InputKind("parameter", target)
        if cls == "BufferAOTInput" and isinstance(target, str):
            return InputKind("buffer", target)
        return USER_INPUT
    if dynamo and isinstance(node.target, str):
        decoded = _kind_from_mangled(node.target, is_parameter)
        if decoded is not None:
            return decoded
    if is_parameter:
        return InputKind("parameter", str(node.target))
    return USER_INPUT


def dynamo_frame_code() -> Any:
    """The code object of the frame Dynamo is compiling (inside a backend), else ``None``."""
    try:
        from torch._dynamo.symbolic_convert import InstructionTranslator

        return InstructionTranslator.current_tx().f_code
    except Exception:  # not inside Dynamo (a backend called by hand, a graph read later)
        return None


def frame_argument_positions(code: Any) -> dict[str, int]:
    """Argument name -> position of a code object (positional, keyword-only, ``*args``, ``**kwargs``)."""
    n = code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & 0x04) + bool(code.co_flags & 0x08)
    return {name: i for i, name in enumerate(code.co_varnames[:n])}


def user_input_key(node: Any, positions: dict[str, int], *, symbol: bool = False) -> tuple[int, int, str] | None:
    """Where a Dynamo user input goes: its root argument's position, symbols first, then its source name.

    ``None`` when the placeholder has no source.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> node = NS(meta={"grapharg": NS(source=NS(name="L['x'].size()[0]"))})
    >>> user_input_key(node, {"x": 1, "w": 0}, symbol=True)
    (1, 0, "L['x'].size()[00000000]")
    """
    source = getattr(node.meta.get("grapharg"), "source", None)
    try:
        name = source.name if source is not None else None
    except Exception:
        return None
    if not isinstance(name, str):
        return None
    m = _ROOT.match(name)
    scope, root = _scope_root(m) if m else ("", "")
    position = positions.get(root, len(positions)) if scope == "L" else len(positions) + 1
    return position, 0 if symbol else 1, _NUMBERS.sub(lambda d: d.group(0).zfill(8), name)  # [10] after [9]
