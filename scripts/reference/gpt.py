#!/usr/bin/env python3
"""A small PyTorch reference for Kiln's GPT model and training loop.

One config dict describes either layout:

* ``gpt2``:  learned positions, LayerNorm, GELU (tanh), biases, tied embedding/head.
* ``llama``: RoPE, RMSNorm, SwiGLU, grouped-query attention, no biases.

The training loop mirrors what @kiln/trainer does, so the two can be run on the same token file
and config and their validation-loss curves compared: AdamW, linear warmup + cosine decay (the
same formula as ``schedule.ts``), gradient clipping by global norm, and random training windows
drawn with the same counter-based sampler as ``WindowSampler`` (identical batches for a seed).

Weights are saved as safetensors with Hugging Face names plus a HF ``config.json``, so
``GPT2LMHeadModel`` / ``LlamaForCausalLM`` can load them.

Runs on torch 1.13 (no ``scaled_dot_product_attention``) on two CPU cores. See README.md.
"""

import argparse
import json
import math
import os
import struct
import sys
import time
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ----------------------------------------------------------------------------------------------
# Config

MODEL_DEFAULTS = {
    "gpt2": dict(arch="gpt2", vocabSize=50257, contextLength=1024, nLayer=12, nHead=12, dModel=768,
                 dFf=None, normEps=1e-5, tieEmbeddings=True),
    "llama": dict(arch="llama", vocabSize=32000, contextLength=2048, nLayer=12, nHead=12, nKvHead=None,
                  dModel=768, dFf=None, normEps=1e-5, ropeTheta=10000.0, tieEmbeddings=False),
}

TRAIN_DEFAULTS = dict(seed=1337, batchSize=8, steps=1000, gradAccum=1,
                      schedule=dict(kind="cosine", maxLr=6e-4, minLr=6e-5, warmupSteps=100, totalSteps=1000),
                      weightDecay=0.1, betas=[0.9, 0.95], eps=1e-8, gradClip=1.0,
                      validationFraction=0.1, evalInterval=100, evalWindows=64, evalBatchSize=8, logInterval=10)

# Tiny configs for smoke tests.
PRESETS = {
    "tiny-gpt2": dict(arch="gpt2", vocabSize=256, contextLength=32, nLayer=2, nHead=2, dModel=32),
    "tiny-llama": dict(arch="llama", vocabSize=256, contextLength=32, nLayer=2, nHead=4, nKvHead=2, dModel=32),
}


def make_model_config(user):
    """Fills in defaults for the chosen arch and checks the combination is valid."""
    arch = user.get("arch", "gpt2")
    if arch not in MODEL_DEFAULTS:
        raise ValueError(f"model.arch must be 'gpt2' or 'llama', got {arch!r}")
    cfg = dict(MODEL_DEFAULTS[arch])
    unknown = set(user) - set(cfg)
    if unknown:
        raise ValueError(f"unknown model config keys for {arch}: {sorted(unknown)}; known: {sorted(cfg)}")
    cfg.update(user)
    d, h = cfg["dModel"], cfg["nHead"]
    if d % h:
        raise ValueError(f"dModel ({d}) must be divisible by nHead ({h})")
    if arch == "gpt2":
        cfg["dFf"] = cfg["dFf"] or 4 * d
    else:
        cfg["nKvHead"] = cfg["nKvHead"] or h
        if h % cfg["nKvHead"]:
            raise ValueError(f"nHead ({h}) must be a multiple of nKvHead ({cfg['nKvHead']})")
        if (d // h) % 2:
            raise ValueError(f"RoPE needs an even head dimension, got {d // h}")
        # Llama's SwiGLU width: about 8/3·d (same parameter count as a 4·d GELU MLP), rounded up to 32.
        cfg["dFf"] = cfg["dFf"] or 32 * math.ceil(8 * d / 3 / 32)
    return cfg


def make_train_config(user):
    unknown = set(user) - set(TRAIN_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown train config keys: {sorted(unknown)}; known: {sorted(TRAIN_DEFAULTS)}")
    return {**TRAIN_DEFAULTS, **user}


# ----------------------------------------------------------------------------------------------
# Model

class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(seq_len, head_dim, theta):
    """cos/sin of shape [seq_len, head_dim] in the Hugging Face (rotate-half) layout."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def apply_rope(x, cos, sin):
    """Rotates pairs (i, i + head_dim/2) of x [B, heads, T, head_dim] by position-dependent angles."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_head = cfg["nHead"]
        self.n_kv_head = cfg.get("nKvHead") or cfg["nHead"]
        self.head_dim = cfg["dModel"] // cfg["nHead"]
        bias = cfg["arch"] == "gpt2"
        d = cfg["dModel"]
        self.q = nn.Linear(d, self.n_head * self.head_dim, bias=bias)
        self.k = nn.Linear(d, self.n_kv_head * self.head_dim, bias=bias)
        self.v = nn.Linear(d, self.n_kv_head * self.head_dim, bias=bias)
        self.o = nn.Linear(self.n_head * self.head_dim, d, bias=bias)

    def forward(self, x, rope):
        B, T, _ = x.shape
        q = self.q(x).view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        k = self.k(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        v = self.v(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        if rope is not None:
            cos, sin = rope
            q, k = apply_rope(q, cos[:T], sin[:T]), apply_rope(k, cos[:T], sin[:T])
        if self.n_kv_head != self.n_head:
            # Query head j attends with key/value head j // group (the Hugging Face convention).
            group = self.n_head // self.n_kv_head
            k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        scores = scores.masked_fill(~causal, float("-inf"))
        y = F.softmax(scores, dim=-1) @ v
        return self.o(y.transpose(1, 2).reshape(B, T, self.n_head * self.head_dim))


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, f = cfg["dModel"], cfg["dFf"]
        self.swiglu = cfg["arch"] == "llama"
        if self.swiglu:
            self.gate = nn.Linear(d, f, bias=False)
            self.up = nn.Linear(d, f, bias=False)
            self.down = nn.Linear(f, d, bias=False)
        else:
            self.fc = nn.Linear(d, f)
            self.proj = nn.Linear(f, d)

    def forward(self, x):
        if self.swiglu:
            return self.down(F.silu(self.gate(x)) * self.up(x))
        return self.proj(F.gelu(self.fc(x), approximate="tanh"))

    def output_layer(self):
        return self.down if self.swiglu else self.proj


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        norm = (lambda: nn.LayerNorm(cfg["dModel"], eps=cfg["normEps"])) if cfg["arch"] == "gpt2" \
            else (lambda: RMSNorm(cfg["dModel"], cfg["normEps"]))
        self.norm1, self.attn, self.norm2, self.mlp = norm(), Attention(cfg), norm(), MLP(cfg)

    def forward(self, x, rope):
        x = x + self.attn(self.norm1(x), rope)
        return x + self.mlp(self.norm2(x))


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d = cfg["dModel"]
        self.tok_emb = nn.Embedding(cfg["vocabSize"], d)
        self.pos_emb = nn.Embedding(cfg["contextLength"], d) if cfg["arch"] == "gpt2" else None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg["nLayer"]))
        self.norm = nn.LayerNorm(d, eps=cfg["normEps"]) if cfg["arch"] == "gpt2" else RMSNorm(d, cfg["normEps"])
        self.head = nn.Linear(d, cfg["vocabSize"], bias=False)
        if cfg["tieEmbeddings"]:
            self.head.weight = self.tok_emb.weight
        if cfg["arch"] == "llama":
            cos, sin = rope_tables(cfg["contextLength"], d // cfg["nHead"], cfg["ropeTheta"])
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.reset_parameters()

    def reset_parameters(self):
        """nanoGPT-style init: N(0, 0.02) weights, zero biases, residual outputs scaled by 1/sqrt(2·layers)."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        # Each block adds two outputs to the residual stream; scaling keeps its variance flat with depth.
        residual_std = 0.02 / math.sqrt(2 * self.cfg["nLayer"])
        for block in self.blocks:
            nn.init.normal_(block.attn.o.weight, mean=0.0, std=residual_std)
            nn.init.normal_(block.mlp.output_layer().weight, mean=0.0, std=residual_std)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        if T > self.cfg["contextLength"]:
            raise ValueError(f"sequence of {T} tokens is longer than contextLength {self.cfg['contextLength']}")
        x = self.tok_emb(idx)
        if self.pos_emb is not None:
            x = x + self.pos_emb(torch.arange(T, device=idx.device))
        rope = (self.rope_cos, self.rope_sin) if self.cfg["arch"] == "llama" else None
        for block in self.blocks:
            x = block(x, rope)
        logits = self.head(self.norm(x))
        loss = None if targets is None else F.cross_entropy(logits.reshape(B * T, -1), targets.reshape(B * T))
        return logits, loss


# ----------------------------------------------------------------------------------------------
# Hugging Face names and config.json

def hf_state_dict(model):
    """Our parameters under GPT2LMHeadModel / LlamaForCausalLM names (GPT-2 Conv1D weights transposed to [in, out])."""
    cfg, out = model.cfg, {}
    if cfg["arch"] == "gpt2":
        out["transformer.wte.weight"] = model.tok_emb.weight
        out["transformer.wpe.weight"] = model.pos_emb.weight
        for i, b in enumerate(model.blocks):
            p = f"transformer.h.{i}."
            out[p + "ln_1.weight"], out[p + "ln_1.bias"] = b.norm1.weight, b.norm1.bias
            out[p + "attn.c_attn.weight"] = torch.cat([b.attn.q.weight, b.attn.k.weight, b.attn.v.weight], 0).t()
            out[p + "attn.c_attn.bias"] = torch.cat([b.attn.q.bias, b.attn.k.bias, b.attn.v.bias], 0)
            out[p + "attn.c_proj.weight"], out[p + "attn.c_proj.bias"] = b.attn.o.weight.t(), b.attn.o.bias
            out[p + "ln_2.weight"], out[p + "ln_2.bias"] = b.norm2.weight, b.norm2.bias
            out[p + "mlp.c_fc.weight"], out[p + "mlp.c_fc.bias"] = b.mlp.fc.weight.t(), b.mlp.fc.bias
            out[p + "mlp.c_proj.weight"], out[p + "mlp.c_proj.bias"] = b.mlp.proj.weight.t(), b.mlp.proj.bias
        out["transformer.ln_f.weight"], out["transformer.ln_f.bias"] = model.norm.weight, model.norm.bias
    else:
        out["model.embed_tokens.weight"] = model.tok_emb.weight
        for i, b in enumerate(model.blocks):
            p = f"model.layers.{i}."
            out[p + "input_layernorm.weight"] = b.norm1.weight
            for ours, theirs in [("q", "q_proj"), ("k", "k_proj"), ("v", "v_proj"), ("o", "o_proj")]:
                out[p + f"self_attn.{theirs}.weight"] = getattr(b.attn, ours).weight
            out[p + "post_attention_layernorm.weight"] = b.norm2.weight
            for ours, theirs in [("gate", "gate_proj"), ("up", "up_proj"), ("down", "down_proj")]:
                out[p + f"mlp.{theirs}.weight"] = getattr(b.mlp, ours).weight
        out["model.norm.weight"] = model.norm.weight
    # Like save_pretrained, a tied head is not stored twice; loaders re-tie it from the embedding.
    if not cfg["tieEmbeddings"]:
        out["lm_head.weight"] = model.head.weight
    return {name: t.detach().contiguous() for name, t in out.items()}


@torch.no_grad()
def load_hf_state_dict(model, state):
    """Inverse of hf_state_dict: copies HF-named tensors into the model; every parameter must be present."""
    cfg, used = model.cfg, set()

    def take(name):
        if name not in state:
            raise KeyError(f"missing tensor {name!r}")
        used.add(name)
        return state[name]

    if cfg["arch"] == "gpt2":
        model.tok_emb.weight.copy_(take("transformer.wte.weight"))
        model.pos_emb.weight.copy_(take("transformer.wpe.weight"))
        d = cfg["dModel"]
        for i, b in enumerate(model.blocks):
            p = f"transformer.h.{i}."
            b.norm1.weight.copy_(take(p + "ln_1.weight")), b.norm1.bias.copy_(take(p + "ln_1.bias"))
            w, bias = take(p + "attn.c_attn.weight").t(), take(p + "attn.c_attn.bias")
            for j, lin in enumerate([b.attn.q, b.attn.k, b.attn.v]):
                lin.weight.copy_(w[j * d:(j + 1) * d]), lin.bias.copy_(bias[j * d:(j + 1) * d])
            b.attn.o.weight.copy_(take(p + "attn.c_proj.weight").t()), b.attn.o.bias.copy_(take(p + "attn.c_proj.bias"))
            b.norm2.weight.copy_(take(p + "ln_2.weight")), b.norm2.bias.copy_(take(p + "ln_2.bias"))
            b.mlp.fc.weight.copy_(take(p + "mlp.c_fc.weight").t()), b.mlp.fc.bias.copy_(take(p + "mlp.c_fc.bias"))
            b.mlp.proj.weight.copy_(take(p + "mlp.c_proj.weight").t()), b.mlp.proj.bias.copy_(take(p + "mlp.c_proj.bias"))
        model.norm.weight.copy_(take("transformer.ln_f.weight")), model.norm.bias.copy_(take("transformer.ln_f.bias"))
    else:
        model.tok_emb.weight.copy_(take("model.embed_tokens.weight"))
        for i, b in enumerate(model.blocks):
            p = f"model.layers.{i}."
            b.norm1.weight.copy_(take(p + "input_layernorm.weight"))
            for ours, theirs in [("q", "q_proj"), ("k", "k_proj"), ("v", "v_proj"), ("o", "o_proj")]:
                getattr(b.attn, ours).weight.copy_(take(p + f"self_attn.{theirs}.weight"))
            b.norm2.weight.copy_(take(p + "post_attention_layernorm.weight"))
            for ours, theirs in [("gate", "gate_proj"), ("up", "up_proj"), ("down", "down_proj")]:
                getattr(b.mlp, ours).weight.copy_(take(p + f"mlp.{theirs}.weight"))
        model.norm.weight.copy_(take("model.norm.weight"))
    if not cfg["tieEmbeddings"]:
        model.head.weight.copy_(take("lm_head.weight"))
    extra = set(state) - used - {"lm_head.weight"}
    if extra:
        raise KeyError(f"unexpected tensors: {sorted(extra)[:5]}")


def hf_config(cfg):
    """config.json in Hugging Face format for our model config."""
    if cfg["arch"] == "gpt2":
        return {
            "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
            "vocab_size": cfg["vocabSize"], "n_positions": cfg["contextLength"], "n_ctx": cfg["contextLength"],
            "n_embd": cfg["dModel"], "n_layer": cfg["nLayer"], "n_head": cfg["nHead"], "n_inner": cfg["dFf"],
            "activation_function": "gelu_new", "layer_norm_epsilon": cfg["normEps"],
            "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0, "initializer_range": 0.02,
            "tie_word_embeddings": cfg["tieEmbeddings"], "torch_dtype": "float32",
        }
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": cfg["vocabSize"], "max_position_embeddings": cfg["contextLength"],
        "hidden_size": cfg["dModel"], "intermediate_size": cfg["dFf"], "num_hidden_layers": cfg["nLayer"],
        "num_attention_heads": cfg["nHead"], "num_key_value_heads": cfg["nKvHead"],
        "head_dim": cfg["dModel"] // cfg["nHead"], "hidden_act": "silu", "rms_norm_eps": cfg["normEps"],
        "rope_theta": cfg["ropeTheta"], "attention_bias": False, "mlp_bias": False,
        "tie_word_embeddings": cfg["tieEmbeddings"], "initializer_range": 0.02, "torch_dtype": "float32",
    }


# ----------------------------------------------------------------------------------------------
# safetensors, written by hand (the `safetensors` package is not needed)

ST_DTYPES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
             torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
             torch.uint8: "U8", torch.bool: "BOOL"}
ST_ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
assert sys.byteorder == "little", "the raw-bytes helpers below assume a little-endian machine"


def atomic_write(path, chunks):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} with tensors sorted by name; the header is space-padded to 8 bytes."""
    header, chunks, offset = ({"__metadata__": metadata} if metadata else {}), [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
        header[name] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * (-(8 + len(js)) % 8)
    atomic_write(path, [struct.pack("<Q", len(js)), js, *chunks])


def read_safetensors(path):
    """Reads a safetensors file into ({name: tensor}, metadata), checking offsets and sizes."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack_from("<Q", blob, 0)
    if n > 100_000_000 or 8 + n > len(blob):
        raise ValueError(f"{path}: bad header length {n}")
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = memoryview(blob)[8 + n:]
    metadata = header.pop("__metadata__", {})
    tensors, spans = {}, []
    for name, info in header.items():
        dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        if end - begin != math.prod(shape) * ST_ITEMSIZE[dtype] or end > len(data):
            raise ValueError(f"{path}: tensor {name!r} has inconsistent offsets {begin}..{end}")
        spans.append((begin, end))
        torch_dtype = {v: k for k, v in ST_DTYPES.items()}[dtype]
        raw = bytearray(data[begin:end])
        if begin == end:
            t = torch.empty(shape, dtype=torch_dtype)
        elif dtype == "BF16":
            t = torch.frombuffer(raw, dtype=torch.int16).view(torch.bfloat16).reshape(shape)
        elif dtype == "BOOL":
            t = torch.frombuffer(raw, dtype=torch.uint8).to(torch.bool).reshape(shape)
        else:
            t = torch.frombuffer(raw, dtype=torch_dtype).reshape(shape)
        tensors[name] = t
    covered = 0
    for begin, end in sorted(spans):
        if begin != covered:
            raise ValueError(f"{path}: data buffer has a gap or overlap at byte {covered}")
        covered = end
    if covered != len(data):
        raise ValueError(f"{path}: {len(data) - covered} unused bytes at the end of the data buffer")
    return tensors, metadata


# ----------------------------------------------------------------------------------------------
# Kiln token files (format: docs/data-format.md)

TOKEN_MAGIC = b"KILNTOK\0"


def write_token_file(path, tokens, vocab_size, metadata=None):
    tokens = np.asarray(tokens)
    if tokens.size and (tokens.min() < 0 or tokens.max() >= vocab_size):
        raise ValueError(f"tokens must be in [0, {vocab_size})")
    data = tokens.astype("<u2" if vocab_size <= 65536 else "<u4").tobytes()
    meta = json.dumps(metadata or {}, separators=(",", ":")).encode()
    head = TOKEN_MAGIC + struct.pack("<IIQIIII", 1, 2 if vocab_size <= 65536 else 4, tokens.size, vocab_size,
                                     len(meta), zlib.crc32(data), 0) + meta
    head += b"\0" * (-len(head) % 8)
    atomic_write(path, [head, data])


def read_token_file(path):
    """Returns (tokens as a numpy array, header dict); validates magic, version, sizes and checksum."""
    with open(path, "rb") as f:
        blob = f.read()
    if blob[:8] != TOKEN_MAGIC:
        raise ValueError(f"{path}: wrong magic {blob[:8]!r}, expected {TOKEN_MAGIC!r}; not a Kiln token file")
    version, width, count, vocab, meta_len, crc, reserved = struct.unpack_from("<IIQIIII", blob, 8)
    if version != 1:
        raise ValueError(f"{path}: unsupported token file version {version}, expected 1")
    if width not in (2, 4) or reserved != 0:
        raise ValueError(f"{path}: corrupt header (token width {width}, reserved {reserved})")
    data_offset = (40 + meta_len + 7) // 8 * 8
    if len(blob) != data_offset + count * width:
        raise ValueError(f"{path}: file is {len(blob)} bytes, header implies {data_offset + count * width}")
    data = blob[data_offset:]
    if zlib.crc32(data) != crc:
        raise ValueError(f"{path}: checksum mismatch; the file is corrupt")
    tokens = np.frombuffer(data, dtype="<u2" if width == 2 else "<u4")
    return tokens, dict(version=version, tokenCount=count, vocabSize=vocab,
                        metadata=json.loads(blob[40:40 + meta_len].decode("utf-8")))


# ----------------------------------------------------------------------------------------------
# Data: the same split, sampler and windows as @kiln/trainer's TokenDataset / WindowSampler

M32 = 0xFFFFFFFF


def fmix32(h):
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & M32
    return h ^ (h >> 16)


def hash_draw(seed, counter, stream):
    h = fmix32((counter & M32) ^ (seed & M32) ^ (((stream + 1) * 0x9E3779B9) & M32))
    h = fmix32(h ^ ((seed >> 32) & M32))
    return fmix32(h ^ ((counter >> 32) & M32))


class WindowSampler:
    """Counter-based sampler: draw c is a hash of (seed, c). Matches WindowSampler in TypeScript."""

    def __init__(self, seed, counter=0):
        self.seed, self.counter = seed, counter

    def next_int(self, n):
        c = self.counter
        self.counter += 1
        unit = (hash_draw(self.seed, c, 0) * 2 ** 21 + (hash_draw(self.seed, c, 1) >> 11)) / 2 ** 53
        return min(math.floor(unit * n), n - 1)


class TokenDataset:
    def __init__(self, tokens, context_length, validation_fraction):
        self.tokens = torch.from_numpy(tokens.astype(np.int64))
        self.ctx = context_length
        self.n_val = math.floor(len(tokens) * validation_fraction)
        self.n_train = len(tokens) - self.n_val
        if self.n_train < self.ctx + 1 or (validation_fraction > 0 and self.n_val < self.ctx + 1):
            raise ValueError(f"{len(tokens)} tokens are too few for windows of {self.ctx + 1}")

    def windows(self, starts):
        rows = torch.stack([self.tokens[s:s + self.ctx + 1] for s in starts])
        return rows[:, :-1], rows[:, 1:]

    def train_batch(self, batch_size, sampler):
        return self.windows([sampler.next_int(self.n_train - self.ctx) for _ in range(batch_size)])

    def validation_batches(self, batch_size, max_windows):
        total = min((self.n_val - 1) // self.ctx, max_windows)
        for first in range(0, total, batch_size):
            yield self.windows([self.n_train + w * self.ctx for w in range(first, min(first + batch_size, total))])


# ----------------------------------------------------------------------------------------------
# Training

def lr_at(step, s):
    """The learning rate for 0-based step `step`; same formulas as schedule.ts."""
    warmup = s.get("warmupSteps", 0)
    peak = s["lr"] if s["kind"] == "constant" else s["maxLr"]
    if step < warmup:
        return peak * (step + 1) / warmup
    if s["kind"] == "constant":
        return peak
    lo = s.get("minLr", 0.0)
    decay_steps = s["totalSteps"] - warmup
    # a run with no decay phase (e.g. --steps 0) stays at the end of the schedule
    progress = 1.0 if decay_steps <= 0 else min(1.0, max(0.0, (step - warmup) / decay_steps))
    if s["kind"] == "cosine":
        return lo + 0.5 * (peak - lo) * (1 + math.cos(math.pi * progress))
    if s["kind"] == "linear":
        return peak + (lo - peak) * progress
    raise ValueError(f"unknown schedule kind {s['kind']!r}")


@torch.no_grad()
def evaluate(model, data, tc):
    """Mean validation loss over all target tokens of the first evalWindows validation windows."""
    model.eval()
    total, count = 0.0, 0
    for x, y in data.validation_batches(tc["evalBatchSize"], tc["evalWindows"]):
        _, loss = model(x, y)
        total += loss.item() * y.numel()
        count += y.numel()
    model.train()
    return total / count


def train(model_cfg, tc, tokens_path, out_dir, save=False):
    torch.manual_seed(tc["seed"])
    tokens, header = read_token_file(tokens_path)
    if header["vocabSize"] > model_cfg["vocabSize"]:
        raise ValueError(f"token file vocabulary ({header['vocabSize']}) exceeds model vocabSize ({model_cfg['vocabSize']})")
    data = TokenDataset(tokens, model_cfg["contextLength"], tc["validationFraction"])
    model = GPT(model_cfg)
    # Weight decay on matrices (incl. embeddings), not on biases and norm gains.
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": tc["weightDecay"]},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=lr_at(0, tc["schedule"]), betas=tuple(tc["betas"]), eps=tc["eps"])
    sampler = WindowSampler(tc["seed"])
    os.makedirs(out_dir, exist_ok=True)
    metrics_path = os.path.join(out_dir, "metrics.jsonl")
    n_params = sum(p.numel() for p in params)
    print(f"{model_cfg['arch']}: {n_params / 1e6:.2f}M parameters, {data.n_train} train / {data.n_val} validation tokens")
    tokens_per_step = tc["batchSize"] * tc["gradAccum"] * model_cfg["contextLength"]
    start = time.time()
    with open(metrics_path, "w") as log:
        def record(entry):
            log.write(json.dumps(entry) + "\n")
            log.flush()

        for step in range(tc["steps"] + 1):  # `step` = optimizer steps completed so far
            if step % tc["evalInterval"] == 0 or step == tc["steps"]:
                val = evaluate(model, data, tc)
                record({"step": step, "valLoss": val, "tokens": step * tokens_per_step, "elapsedSeconds": time.time() - start})
                print(f"step {step:5d} | val loss {val:.4f}")
            if step == tc["steps"]:
                break
            lr = lr_at(step, tc["schedule"])
            for group in opt.param_groups:
                group["lr"] = lr
            opt.zero_grad(set_to_none=True)
            train_loss = 0.0
            for _ in range(tc["gradAccum"]):
                x, y = data.train_batch(tc["batchSize"], sampler)
                _, loss = model(x, y)
                (loss / tc["gradAccum"]).backward()
                train_loss += loss.item() / tc["gradAccum"]
            if tc["gradClip"]:
                torch.nn.utils.clip_grad_norm_(params, tc["gradClip"])
            opt.step()
            if (step + 1) % tc["logInterval"] == 0 or step == 0:
                elapsed = time.time() - start
                record({"step": step + 1, "loss": train_loss, "lr": lr, "tokens": (step + 1) * tokens_per_step,
                        "elapsedSeconds": elapsed})
                print(f"step {step + 1:5d} | loss {train_loss:.4f} | lr {lr:.2e} | {(step + 1) * tokens_per_step / elapsed:.0f} tok/s")
    if save:
        write_safetensors(os.path.join(out_dir, "model.safetensors"), hf_state_dict(model), {"format": "pt"})
        atomic_write(os.path.join(out_dir, "config.json"), [json.dumps(hf_config(model_cfg), indent=2).encode() + b"\n"])
    return model


# ----------------------------------------------------------------------------------------------
# Command line

def synthetic_tokens(kind, vocab, count, seed):
    """Test data: uniform noise, or a chain where 90% of tokens follow deterministically from the previous one."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, vocab, count)
    if kind == "uniform":
        return noise
    follow = rng.random(count) < 0.9
    tokens = np.empty(count, dtype=np.int64)
    tokens[0] = noise[0]
    for i in range(1, count):
        tokens[i] = (7 * tokens[i - 1] + 3) % vocab if follow[i] else noise[i]
    return tokens


def main():
    torch.set_num_threads(2)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_train = sub.add_parser("train", help="train on a Kiln token file")
    p_train.add_argument("--tokens", required=True, help="Kiln token file")
    p_train.add_argument("--config", help="JSON file {model: {...}, train: {...}}")
    p_train.add_argument("--preset", choices=sorted(PRESETS), help="tiny model for smoke tests (instead of config.model)")
    p_train.add_argument("--steps", type=int, help="override train.steps (and the schedule's totalSteps)")
    p_train.add_argument("--out", required=True, help="output directory (metrics.jsonl, model.safetensors, config.json)")
    p_train.add_argument("--save", action="store_true", help="save HF-named safetensors weights and config.json")
    p_tok = sub.add_parser("make-tokens", help="write a random token file (for smoke tests)")
    p_tok.add_argument("--out", required=True)
    p_tok.add_argument("--vocab", type=int, default=256)
    p_tok.add_argument("--count", type=int, default=20000)
    p_tok.add_argument("--seed", type=int, default=0)
    p_tok.add_argument("--kind", choices=["uniform", "markov"], default="markov",
                       help="uniform noise (loss stays at ln(vocab)) or a learnable Markov chain (loss falls)")
    p_win = sub.add_parser("sample-windows", help="print sampler draws (cross-check with the TypeScript WindowSampler)")
    p_win.add_argument("--seed", type=int, required=True)
    p_win.add_argument("--range", type=int, required=True)
    p_win.add_argument("--count", type=int, default=8)
    p_win.add_argument("--counter", type=int, default=0)
    args = parser.parse_args()

    if args.command == "make-tokens":
        write_token_file(args.out, synthetic_tokens(args.kind, args.vocab, args.count, args.seed), args.vocab,
                         {"source": f"synthetic-{args.kind}", "seed": args.seed})
        return
    if args.command == "sample-windows":
        sampler = WindowSampler(args.seed, args.counter)
        print(json.dumps([sampler.next_int(args.range) for _ in range(args.count)]))
        return
    config = {}
    if args.config:
        with open(args.config) as f:
            config = json.load(f)
    model_cfg = make_model_config(PRESETS[args.preset] if args.preset else config.get("model", {}))
    tc = make_train_config(config.get("train", {}))
    if args.steps is not None:
        tc["steps"] = args.steps
        # Keep the schedule's shape: decay over the new length, warmup at most a tenth of it.
        tc["schedule"] = {**tc["schedule"], "totalSteps": args.steps,
                          "warmupSteps": min(tc["schedule"].get("warmupSteps", 0), args.steps // 10)}
    train(model_cfg, tc, args.tokens, args.out, save=args.save)


if __name__ == "__main__":
    main()
