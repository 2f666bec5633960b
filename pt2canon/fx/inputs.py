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

A leading ``self`` (the compiled module) is dropped from FQNs, so that a
module compiled directly names its weights as its ``state_dict`` does.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

__all__ = ["InputKind", "input_kind", "kind_from_source_name"]


class InputKind(NamedTuple):
    """A placeholder's signature kind (``user_input``, ``parameter``, ``buffer``, ``tensor_constant``) and FQN."""

    kind: str
    fqn: str | None = None


USER_INPUT = InputKind("user_input")

_TOKEN = re.compile(r"""\.(\w+)|\[\s*(?:'([^']*)'|"([^"]*)"|(-?\d+))\s*\]""")
_ROOT = re.compile(r"""^(L|G)\[\s*(?:'([^']*)'|"([^"]*)")\s*\]""")


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
    scope, root = m.group(1), m.group(2) if m.group(2) is not None else m.group(3)
    parts: list[str] = [] if (scope == "L" and root == "self") else [root]
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
    if scope == "G" or (scope == "L" and root == "self"):
        return InputKind("tensor_constant", name if scope == "G" else fqn)
    return USER_INPUT


_MANGLED = re.compile(r"_(modules|parameters|buffers)_")


def _kind_from_mangled(target: str, is_parameter: bool) -> InputKind | None:
    """Decode ``L_self_modules_l1_parameters_weight_`` (the placeholder name Dynamo made of a source).

    Examples
    --------
    >>> _kind_from_mangled("L_self_modules_self_attn_parameters_in_proj_weight_", False)
    InputKind(kind='parameter', fqn='self_attn.in_proj_weight')
    >>> _kind_from_mangled("L_self_buffers_scale_", False), _kind_from_mangled("L_x_", False)
    (InputKind(kind='buffer', fqn='scale'), None)
    """
    if not (target.startswith("L_self_") and target.endswith("_")):
        return None
    # "_modules_l1_parameters_weight" -> ["", "modules", "l1", "parameters", "weight"]
    pieces = _MANGLED.split("_" + target[len("L_self_") : -1])
    if len(pieces) < 3 or pieces[0]:
        return None
    names = pieces[2::2]
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
