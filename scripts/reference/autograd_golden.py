#!/usr/bin/python3
"""Golden values for @kiln/autograd: inputs, outputs and gradients of composite functions.

Run with Debian's PyTorch (python3-torch), from the repository root:

    /usr/bin/python3 scripts/reference/autograd_golden.py

It writes one JSON file per case to packages/autograd/test/fixtures/. Inputs are drawn in
float32 from a seeded generator (so they are exactly representable in Kiln's float32), then
every computation runs in float64, so the fixtures are the exact answer for those inputs.
packages/autograd/test/golden.test.ts mirrors each function with Kiln ops and compares on every
backend with the tolerances it states. Regenerate after changing a case here, and change the
TypeScript mirror in the same commit.
"""

import json
import math
import os
import sys

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "packages", "autograd", "test", "fixtures")


class Case:
    """Collects float inputs (leaves to differentiate), integer data, and the results."""

    def __init__(self, name, seed):
        self.name = name
        self.gen = torch.Generator().manual_seed(seed)
        self.inputs = {}
        self.ints = {}

    def randn(self, name, shape, scale=1.0, offset=0.0):
        t = (torch.randn(shape, generator=self.gen, dtype=torch.float32) * scale + offset).to(torch.float32)
        self.inputs[name] = t.double().requires_grad_(True)
        return self.inputs[name]

    def const(self, name, shape):
        """A float input that is data, not a leaf (e.g. a fixed projection)."""
        t = torch.randn(shape, generator=self.gen, dtype=torch.float32).double()
        self.ints[name] = t
        return t

    def int_data(self, name, values):
        self.ints[name] = torch.tensor(values, dtype=torch.int64)
        return self.ints[name]

    def write(self, loss, description):
        loss.backward()
        enc = lambda t: {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1).tolist()]}
        doc = {
            "case": self.name,
            "description": description,
            "generator": "scripts/reference/autograd_golden.py",
            "torch": torch.__version__,
            "inputs": {k: enc(v) for k, v in self.inputs.items()},
            "data": {k: {"shape": list(v.shape), "dtype": "int32" if v.dtype == torch.int64 else "float32",
                         "data": [int(x) if v.dtype == torch.int64 else float(x) for x in v.reshape(-1).tolist()]}
                     for k, v in self.ints.items()},
            "loss": float(loss.detach()),
            "grads": {k: enc(v.grad) for k, v in self.inputs.items()},
        }
        path = os.path.join(OUT, f"{self.name}.json")
        with open(path, "w") as f:
            f.write(format_json(doc) + "\n")
        print(f"wrote {os.path.relpath(path)}: loss {doc['loss']:.6f}")


def format_json(value, indent=0):
    """JSON with one line per tensor (numbers inline), so fixture diffs stay readable."""
    pad = "  " * (indent + 1)
    if isinstance(value, dict) and not ("shape" in value and "data" in value):
        items = [f"{pad}{json.dumps(k)}: {format_json(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    return json.dumps(value, separators=(", ", ": "))


def mlp():
    c = Case("mlp", 1)
    x = c.randn("x", (6, 5))
    w1 = c.randn("w1", (5, 8), 0.5)
    b1 = c.randn("b1", (8,), 0.1)
    w2 = c.randn("w2", (8, 3), 0.5)
    b2 = c.randn("b2", (3,), 0.1)
    y = c.const("y", (6, 3))
    h = F.gelu(x @ w1 + b1)
    out = h @ w2 + b2
    loss = ((out - y) ** 2).mean()
    c.write(loss, "two-layer MLP with exact GELU and a mean squared error")


def attention():
    c = Case("attention", 2)
    B, T, C, H = 2, 5, 8, 2
    D = C // H
    x = c.randn("x", (B, T, C))
    ln_w = c.randn("ln_w", (C,), 0.2, 1.0)  # weights around 1, as in a trained LayerNorm
    ln_b = c.randn("ln_b", (C,), 0.2)
    wq = c.randn("wq", (C, C), 0.4)
    wk = c.randn("wk", (C, C), 0.4)
    wv = c.randn("wv", (C, C), 0.4)
    wo = c.randn("wo", (C, C), 0.4)
    r = c.const("r", (B, T, C))
    h = F.layer_norm(x, (C,), ln_w, ln_b, eps=1e-5)
    heads = lambda t: t.reshape(B, T, H, D).permute(0, 2, 1, 3)
    q, k, v = heads(h @ wq), heads(h @ wk), heads(h @ wv)
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(D))
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    att = torch.where(causal, att, torch.tensor(float("-inf"), dtype=att.dtype))
    y = torch.softmax(att, dim=-1) @ v
    y = y.permute(0, 2, 1, 3).reshape(B, T, C)
    out = x + y @ wo
    loss = (out * r).sum()
    c.write(loss, "pre-LayerNorm causal self-attention block (2 heads) with a residual, projected by fixed weights")


def cross_entropy():
    c = Case("cross_entropy", 3)
    x = c.randn("x", (7, 4))
    w = c.randn("w", (4, 5), 0.8)
    targets = c.int_data("targets", [1, -100, 4, 0, -100, 2, 4])
    logits = x @ w
    loss = F.cross_entropy(logits, targets, ignore_index=-100, reduction="mean")
    c.write(loss, "linear logits and a mean cross-entropy with two ignored targets (ignore_index -100)")


def embedding():
    c = Case("embedding", 4)
    table = c.randn("table", (6, 4))
    scale = c.randn("scale", (4,), 0.3, 1.0)
    ids = c.int_data("ids", [[1, 3, 1, 4], [0, 3, 3, 2]])
    r = c.const("r", (2, 4, 4))
    e = F.embedding(ids, table)
    # RMS normalisation (no torch function in 1.13), then a fixed projection
    h = e * torch.rsqrt((e * e).mean(-1, keepdim=True) + 1e-6) * scale
    loss = (h * r).sum() + (e.sum(1) ** 2).sum()
    c.write(loss, "embedding lookup with repeated ids, RMS normalisation, and a pooled square")


if __name__ == "__main__":
    torch.set_default_dtype(torch.float64)
    os.makedirs(OUT, exist_ok=True)
    for case in (mlp, attention, cross_entropy, embedding):
        case()
    sys.exit(0)
