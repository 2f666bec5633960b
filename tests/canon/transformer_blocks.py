"""Small re-implementations of well-known transformer blocks, for real ``torch.export`` tests.

No downloads and no heavy dependencies: the model code follows the
published architectures closely enough to give the graphs their
characteristic shape — separate, symmetric Q/K/V projections, norms with
an ``eps`` constant, residual streams:

``Bert``   post-norm encoder layers (``LayerNorm``, GELU feed-forward), as in
           Hugging Face ``BertLayer``.
``Llama``  pre-norm decoder layers with RMSNorm, rotary embeddings applied
           by slicing the head dimension in halves, SwiGLU feed-forward, as
           in ``LlamaDecoderLayer``; a learnable per-channel ``scale``
           whose shape (``[1]`` or ``[d]``) changes only tensor metadata.
``T5``     pre-norm layers with T5's RMS ``LayerNorm`` (no bias, no mean),
           bias-free projections and a ReLU feed-forward, as in ``T5Block``.

Each takes ``eps`` per layer so that a test can change one layer's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["T5", "Bert", "Llama", "example_input"]

D, HEADS, SEQ = 32, 4, 8


def example_input(batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, SEQ, D)


class _Attention(nn.Module):
    """Multi-head attention; ``names`` are the attribute names of the Q, K, V and output projections."""

    def __init__(self, bias: bool = True, names: Sequence[str] = ("query", "key", "value", "out")) -> None:
        super().__init__()
        self.names = tuple(names)
        for name in self.names:
            setattr(self, name, nn.Linear(D, D, bias=bias))

    @property
    def projections(self) -> list[nn.Module]:
        return [getattr(self, name) for name in self.names]

    def heads(self, x: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        return x.view(b, s, HEADS, D // HEADS).transpose(1, 2)

    def forward(self, x: torch.Tensor, rotary: torch.Tensor | None = None) -> torch.Tensor:
        query, key, value, out = self.projections
        q, k, v = self.heads(query(x)), self.heads(key(x)), self.heads(value(x))
        if rotary is not None:
            q, k = _rotate(q, rotary), _rotate(k, rotary)
        scores = q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)
        ctx = torch.softmax(scores, dim=-1) @ v
        b, _, s, _ = ctx.shape
        return out(ctx.transpose(1, 2).reshape(b, s, D))


def _rotate(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    cos, sin = angles.cos(), angles.sin()
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class _BertLayer(nn.Module):
    def __init__(self, eps: float, names: Sequence[str]) -> None:
        super().__init__()
        self.attention = _Attention(names=names)
        self.attention_norm = nn.LayerNorm(D, eps=eps)
        self.intermediate = nn.Linear(D, 2 * D)
        self.output = nn.Linear(2 * D, D)
        self.output_norm = nn.LayerNorm(D, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attention_norm(x + self.attention(x))
        return self.output_norm(x + self.output(nn.functional.gelu(self.intermediate(x))))


class Bert(nn.Module):
    """``names`` renames the attention projections of the last layer."""

    def __init__(
        self, eps: Sequence[float] = (1e-12, 1e-12), names: Sequence[str] = ("query", "key", "value", "out")
    ) -> None:
        super().__init__()
        default = ("query", "key", "value", "out")
        self.layer = nn.ModuleList(_BertLayer(e, names if i == len(eps) - 1 else default) for i, e in enumerate(eps))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layer:
            x = layer(x)
        return x


class _RMSNorm(nn.Module):
    def __init__(self, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(D))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


class _LlamaLayer(nn.Module):
    def __init__(self, eps: float, scale_shape: int) -> None:
        super().__init__()
        self.input_layernorm = _RMSNorm(eps)
        self.self_attn = _Attention(bias=False, names=("q_proj", "k_proj", "v_proj", "o_proj"))
        self.post_attention_layernorm = _RMSNorm(eps)
        self.gate_proj = nn.Linear(D, 2 * D, bias=False)
        self.up_proj = nn.Linear(D, 2 * D, bias=False)
        self.down_proj = nn.Linear(2 * D, D, bias=False)
        self.scale = nn.Parameter(torch.ones(scale_shape))

    def forward(self, x: torch.Tensor, rotary: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), rotary)
        h = self.post_attention_layernorm(x)
        return x + self.scale * self.down_proj(nn.functional.silu(self.gate_proj(h)) * self.up_proj(h))


class Llama(nn.Module):
    def __init__(self, eps: Sequence[float] = (1e-6, 1e-6), scale_shape: int = 1) -> None:
        super().__init__()
        self.layers = nn.ModuleList(_LlamaLayer(e, scale_shape) for e in eps)
        inv = 1.0 / (10000 ** (torch.arange(0, D // HEADS // 2).float() / (D // HEADS // 2)))
        self.register_buffer("angles", torch.outer(torch.arange(SEQ).float(), inv), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, self.angles)
        return x


class _T5Norm(nn.Module):
    def __init__(self, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(D))
        self.variance_epsilon = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        variance = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.variance_epsilon))


class _T5Block(nn.Module):
    def __init__(self, eps: float) -> None:
        super().__init__()
        self.attention_norm = _T5Norm(eps)
        self.attention = _Attention(bias=False)
        self.ff_norm = _T5Norm(eps)
        self.wi = nn.Linear(D, 2 * D, bias=False)
        self.wo = nn.Linear(2 * D, D, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x))
        return x + self.wo(torch.relu(self.wi(self.ff_norm(x))))


class T5(nn.Module):
    def __init__(self, eps: Sequence[float] = (1e-6, 1e-6)) -> None:
        super().__init__()
        self.block = nn.ModuleList(_T5Block(e) for e in eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.block:
            x = block(x)
        return x
