#!/usr/bin/env python3
"""Parity fixtures for @kiln/moe's MoE layer, from a small PyTorch Mixtral-style sparse MoE block
written here (softmax router, top-k, renormalised gates, SwiGLU experts w1/w2/w3, the Switch/Mixtral
load-balancing loss of one layer, the ST-MoE z-loss, and Switch-style capacity dropping).

    moe_parity.py        write packages/moe/test/fixtures/moe-parity-<case>/

Each case directory holds:

    model.safetensors   the layer's weights under Mixtral's names (block_sparse_moe.gate.weight,
                        block_sparse_moe.experts.{i}.w1/w2/w3.weight, nn.Linear [out, in] layout)
    config.json         the Mixtral keys (hidden_size, intermediate_size, num_local_experts,
                        num_experts_per_tok, router_aux_loss_coef) plus kiln_moe: the layer's
                        @kiln/moe options for the case
    expected.safetensors
        x               float32 [N, d] the input tokens
        w               float32 [N, d] output weighting of the scalar loss
        out             float32 [N, d] the layer's output
        aux             float32 []     Mixtral's load_balancing_loss (before its coefficient)
        zloss           float32 []     mean logsumexp(logits)^2
        loss            float32 []     sum(out * w) + router_aux_loss_coef * aux + z_coef * zloss
        grad.x, grad.<name>            gradients of loss

Weights are drawn in float32 (exact in Kiln) with spreads that make routing decisive; the layer
runs in float64, so the fixture is the exact answer. packages/moe/test/parity.test.ts compares
Kiln on every backend. Regenerate (and commit) after changing this file:

    /usr/bin/python3 scripts/reference/moe_parity.py
"""

import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt import atomic_write, write_safetensors  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "packages", "moe", "test", "fixtures")

CASES = {
    # Mixtral: 4 experts, 2 per token, renormalised gates, dropless.
    "mixtral": dict(d=8, f=12, experts=4, top_k=2, tokens=20, aux_coef=0.02, z_coef=0.001, capacity=None, seed=11),
    # Switch-style: top-1 without renormalisation, capacity factor 1.0 (overflow dropped).
    "capacity": dict(d=8, f=12, experts=4, top_k=1, tokens=20, aux_coef=0.01, z_coef=0.0, capacity=1.0, seed=12,
                     normalize=False),
}


class Expert(torch.nn.Module):
    """Mixtral's expert: w2(silu(w1 x) * w3 x)."""

    def __init__(self, d, f):
        super().__init__()
        self.w1 = torch.nn.Linear(d, f, bias=False)
        self.w2 = torch.nn.Linear(f, d, bias=False)
        self.w3 = torch.nn.Linear(d, f, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class SparseMoE(torch.nn.Module):
    """A Mixtral-style sparse MoE block, token by token (slow, plain): the reference."""

    def __init__(self, d, f, experts, top_k, normalize=True, capacity=None):
        super().__init__()
        self.gate = torch.nn.Linear(d, experts, bias=False)
        self.experts = torch.nn.ModuleList([Expert(d, f) for _ in range(experts)])
        self.top_k, self.normalize, self.capacity = top_k, normalize, capacity

    def forward(self, x):
        n, _ = x.shape
        e_count = len(self.experts)
        logits = self.gate(x)
        probs = F.softmax(logits, dim=-1)
        gates, chosen = torch.topk(probs, self.top_k, dim=-1)
        if self.normalize:
            gates = gates / gates.sum(dim=-1, keepdim=True)
        # capacity: pairs fill their expert's slots choice by choice (all first choices first)
        slots = math.ceil(self.capacity * n * self.top_k / e_count) if self.capacity else None
        used = [0] * e_count
        kept = torch.ones(n, self.top_k, dtype=torch.bool)
        for j in range(self.top_k):
            for t in range(n):
                e = int(chosen[t, j])
                if slots is not None and used[e] >= slots:
                    kept[t, j] = False
                used[e] += 1
        out = torch.zeros_like(x)
        for t in range(n):
            for j in range(self.top_k):
                if kept[t, j]:
                    out[t] = out[t] + gates[t, j] * self.experts[int(chosen[t, j])](x[t])
        # Mixtral's load_balancing_loss_func for one layer: E * sum_j sum_e f[j, e] * P[e]
        mask = F.one_hot(chosen, e_count).to(x.dtype)  # [n, k, E]
        tokens_per_expert = mask.mean(dim=0)  # [k, E]
        router_prob = probs.mean(dim=0)  # [E]
        aux = (tokens_per_expert * router_prob.unsqueeze(0)).sum() * e_count
        zloss = torch.logsumexp(logits, dim=-1).square().mean()
        return out, aux, zloss, int((~kept).sum())


def write_case(name, c):
    gen = torch.Generator().manual_seed(c["seed"])
    layer = SparseMoE(c["d"], c["f"], c["experts"], c["top_k"], c.get("normalize", True), c["capacity"])
    with torch.no_grad():
        for pname, p in layer.named_parameters():
            std = 0.8 if pname == "gate.weight" else 0.3
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float32) * std)
    x32 = torch.randn(c["tokens"], c["d"], generator=gen, dtype=torch.float32)
    w32 = torch.randn(c["tokens"], c["d"], generator=gen, dtype=torch.float32)
    weights = {f"block_sparse_moe.{k}": v.detach().clone() for k, v in layer.state_dict().items()}
    layer = layer.double()
    x = x32.double().requires_grad_(True)
    out, aux, zloss, dropped = layer(x)
    loss = (out * w32.double()).sum() + c["aux_coef"] * aux + c["z_coef"] * zloss
    loss.backward()
    expected = {"x": x32, "w": w32, "out": out.detach().float(), "aux": aux.detach().float(),
                "zloss": zloss.detach().float(), "loss": loss.detach().float(), "grad.x": x.grad.float()}
    for pname, p in layer.named_parameters():
        expected[f"grad.block_sparse_moe.{pname}"] = p.grad.float()
    kiln = {"experts": c["experts"], "topK": c["top_k"], "expertDFF": c["f"],
            "normalizeTopK": c.get("normalize", True),
            # Mixtral's loss is k * (Kiln's per-pair fractions): the same term needs auxLoss = coef * k
            "balancing": {"auxLoss": c["aux_coef"] * c["top_k"], "zLoss": c["z_coef"]}}
    if c["capacity"]:
        kiln.update(dispatch="capacity", capacityFactor=c["capacity"])
    config = {"model_type": "mixtral", "hidden_size": c["d"], "intermediate_size": c["f"],
              "num_local_experts": c["experts"], "num_experts_per_tok": c["top_k"],
              "router_aux_loss_coef": c["aux_coef"], "dropped_pairs": dropped, "kiln_moe": kiln}
    d = os.path.join(OUT, f"moe-parity-{name}")
    os.makedirs(d, exist_ok=True)
    write_safetensors(os.path.join(d, "model.safetensors"), weights)
    write_safetensors(os.path.join(d, "expected.safetensors"), expected)
    atomic_write(os.path.join(d, "config.json"), [(json.dumps(config, indent=2) + "\n").encode()])
    print(f"{name}: aux {float(aux):.6f} zloss {float(zloss):.6f} dropped {dropped} -> {d}")


def main():
    for name, c in CASES.items():
        write_case(name, c)


if __name__ == "__main__":
    main()
