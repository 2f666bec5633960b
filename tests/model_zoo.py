"""Small, faithful re-implementations of well-known architectures, for real exports in tests.

torchvision, timm and Hugging Face transformers are not dependencies; these
modules follow their reference code closely enough that ``torch.export``
writes the same kinds of graphs (the same op patterns, views, parameter
layouts and symmetric branches), at toy sizes and with random weights:

``ViT``     timm's ``VisionTransformer``: patch embedding (a strided conv),
            class token and position embedding, pre-norm blocks whose
            attention computes q, k and v with one ``qkv`` linear, then
            ``reshape -> permute -> unbind`` (views at nonzero storage
            offsets), and a head on the class token (``x[:, 0]``).
``GPT2``    Hugging Face's ``GPT2LMHeadModel``: ``Conv1D`` projections
            (``addmm`` on transposed weights), ``c_attn(x).split(d, dim=2)``
            (views at offsets ``d`` and ``2d``), a causal-mask buffer,
            ``gelu_new``, and the LM head tied to the token embedding.
``Llama``   Hugging Face's ``LlamaForCausalLM``: RMSNorm, separate
            ``q_proj``/``k_proj``/``v_proj`` (symmetric branches), rotary
            embeddings with ``rotate_half`` (``x[..., :d/2]`` and
            ``x[..., d/2:]``: a slice at a nonzero offset), grouped-query
            attention (``repeat_kv``), SwiGLU MLP.

:func:`zoo` returns ``name -> (module, example args)`` for all three.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

__all__ = ["GPT2", "Llama", "ViT", "zoo"]


# --------------------------------------------------------------------------- ViT (timm)


class _ViTAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q = q * self.scale
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


class _ViTMlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class _ViTBlock(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = _ViTAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = _ViTMlp(dim, 4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """timm's ``VisionTransformer`` at toy size (16x16 images, 8x8 patches)."""

    def __init__(self, img: int = 16, patch: int = 8, dim: int = 32, depth: int = 2, heads: int = 4) -> None:
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)
        n = (img // patch) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[_ViTBlock(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


# --------------------------------------------------------------------------- GPT-2 (transformers)


class _Conv1D(nn.Module):
    """transformers' ``Conv1D``: a linear layer with transposed weights (``addmm``)."""

    def __init__(self, nf: int, nx: int) -> None:
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.randn(nx, nf) * 0.02)
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size_out = (*x.size()[:-1], self.nf)
        x = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
        return x.view(size_out)


def _gelu_new(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class _GPT2Attention(nn.Module):
    def __init__(self, dim: int, heads: int, positions: int) -> None:
        super().__init__()
        self.embed_dim, self.num_heads, self.head_dim = dim, heads, dim // heads
        self.register_buffer(
            "bias", torch.tril(torch.ones(positions, positions, dtype=torch.bool)).view(1, 1, positions, positions)
        )
        self.c_attn = _Conv1D(3 * dim, dim)
        self.c_proj = _Conv1D(dim, dim)

    def _split_heads(self, t: torch.Tensor) -> torch.Tensor:
        return t.view((*t.size()[:-1], self.num_heads, self.head_dim)).permute(0, 2, 1, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        query, key, value = self.c_attn(x).split(self.embed_dim, dim=2)
        query, key, value = self._split_heads(query), self._split_heads(key), self._split_heads(value)
        w = torch.matmul(query, key.transpose(-1, -2)) / (value.size(-1) ** 0.5)
        q_len, k_len = query.size(-2), key.size(-2)
        causal = self.bias[:, :, k_len - q_len : k_len, :k_len]
        w = torch.where(causal, w, torch.tensor(torch.finfo(w.dtype).min, dtype=w.dtype))
        a = torch.matmul(w.softmax(dim=-1), value).permute(0, 2, 1, 3).contiguous()
        return self.c_proj(a.view((*a.size()[:-2], self.embed_dim)))


class _GPT2Block(nn.Module):
    def __init__(self, dim: int, heads: int, positions: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn = _GPT2Attention(dim, heads, positions)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-5)
        self.c_fc = _Conv1D(4 * dim, dim)
        self.c_proj = _Conv1D(dim, 4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.c_proj(_gelu_new(self.c_fc(self.ln_2(x))))


class GPT2(nn.Module):
    """transformers' ``GPT2LMHeadModel`` at toy size; the LM head is tied to ``wte``."""

    def __init__(self, vocab: int = 50, positions: int = 16, dim: int = 32, depth: int = 2, heads: int = 4) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, dim)
        self.wpe = nn.Embedding(positions, dim)
        self.h = nn.ModuleList([_GPT2Block(dim, heads, positions) for _ in range(depth)])
        self.ln_f = nn.LayerNorm(dim, eps=1e-5)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.lm_head.weight = self.wte.weight

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(input_ids.size(-1), dtype=torch.long).unsqueeze(0)
        x = self.wte(input_ids) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


# --------------------------------------------------------------------------- Llama (transformers)


class _RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.variance_epsilon = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        variance = x.to(torch.float32).pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.variance_epsilon))


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def _repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    b, h, s, d = x.shape
    return x[:, :, None, :, :].expand(b, h, n_rep, s, d).reshape(b, h * n_rep, s, d)


class _LlamaAttention(nn.Module):
    def __init__(self, dim: int, heads: int, kv_heads: int) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, dim // heads
        self.q_proj = nn.Linear(dim, heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(dim, kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(dim, kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(heads * self.head_dim, dim, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        q = self.q_proj(x).view(b, s, -1, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, s, -1, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, s, -1, self.head_dim).transpose(1, 2)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        k, v = _repeat_kv(k, self.heads // self.kv_heads), _repeat_kv(v, self.heads // self.kv_heads)
        w = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_dim)
        mask = torch.full((s, s), float("-inf")).triu(1)
        a = torch.matmul((w + mask).softmax(dim=-1), v)
        return self.o_proj(a.transpose(1, 2).reshape(b, s, -1))


class _LlamaMLP(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden, bias=False)
        self.up_proj = nn.Linear(dim, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class _LlamaLayer(nn.Module):
    def __init__(self, dim: int, heads: int, kv_heads: int) -> None:
        super().__init__()
        self.input_layernorm = _RMSNorm(dim)
        self.self_attn = _LlamaAttention(dim, heads, kv_heads)
        self.post_attention_layernorm = _RMSNorm(dim)
        self.mlp = _LlamaMLP(dim, 2 * dim)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class Llama(nn.Module):
    """transformers' ``LlamaForCausalLM`` at toy size, with grouped-query attention."""

    def __init__(self, vocab: int = 50, dim: int = 32, depth: int = 2, heads: int = 4, kv_heads: int = 2) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList([_LlamaLayer(dim, heads, kv_heads) for _ in range(depth)])
        self.norm = _RMSNorm(dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        head_dim = dim // heads
        self.register_buffer(
            "inv_freq",
            1.0 / (10000 ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)),
            persistent=False,
        )

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(input_ids.shape[1], dtype=torch.float32)
        freqs = torch.outer(pos, self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        x = self.embed_tokens(input_ids)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.lm_head(self.norm(x))


def zoo(seed: int = 0) -> dict[str, tuple[nn.Module, tuple[Any, ...]]]:
    """``name -> (module in eval mode, example args)`` for every architecture here."""
    torch.manual_seed(seed)
    ids = torch.randint(0, 50, (2, 8))
    return {
        "vit": (ViT().eval(), (torch.randn(2, 3, 16, 16),)),
        "gpt2": (GPT2().eval(), (ids,)),
        "llama": (Llama().eval(), (ids,)),
    }
