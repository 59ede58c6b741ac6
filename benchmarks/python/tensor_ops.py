#!/usr/bin/env python3
"""PyTorch (CPU) reference for the tensor suite: the same workloads as
benchmarks/src/tensor/kiln-ops.ts, timed the same way (samples of `reps` ops, milliseconds per op).

Usage: /usr/bin/python3 tensor_ops.py '<json list of {id, reps, samples, warmup}>'
Prints one JSON line: {id: {"measurements": [...], "notes": [...]}} for every workload it knows.
"""

import json
import math
import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(0)

ROWS_SHAPE = (4096, 1024)
ATTENTION = dict(B=16, H=4, T=128, D=32)
ADAMW_TENSORS, ADAMW_SHAPE = 10, (1000, 1000)
COPY_SHAPE = (4096, 4096)


def time_ms(fn, reps, samples, warmup):
    """Milliseconds per op for each sample (PyTorch on the CPU is synchronous)."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(samples):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000 / reps)
    return out


def repeat(op, reps):
    def run():
        for _ in range(reps):
            op()
    return run


def attention_step():
    B, H, T, D = (ATTENTION[k] for k in "BHTD")
    q, k, v, d_out = (torch.randn(B, H, T, D) for _ in range(4))
    for t in (q, k, v):
        t.requires_grad_(True)
    mask = torch.triu(torch.full((T, T), -1e9), 1)
    scale = 1 / math.sqrt(D)

    def run():
        loss = ((F.softmax((q @ k.transpose(-2, -1)) * scale + mask, dim=-1) @ v) * d_out).sum()
        torch.autograd.grad(loss, (q, k, v))
    return run


def adamw_step():
    params = [torch.nn.Parameter(torch.randn(*ADAMW_SHAPE)) for _ in range(ADAMW_TENSORS)]
    for p in params:
        p.grad = torch.randn(*ADAMW_SHAPE) * 0.01
    opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    return opt.step


def measure(w):
    wid, reps, samples, warmup = w["id"], w["reps"], w["samples"], w["warmup"]
    with torch.no_grad():
        if wid.startswith("matmul-"):
            n = int(wid[7:])
            a, b = torch.randn(n, n), torch.randn(n, n)
            return [dict(variant="", msPerOp=time_ms(repeat(lambda: a @ b, reps), reps, samples, warmup))]
        if wid == "add":
            x, y = torch.randn(*ROWS_SHAPE), torch.randn(*ROWS_SHAPE)
            return [dict(variant="", msPerOp=time_ms(repeat(lambda: x + y, reps), reps, samples, warmup))]
        if wid == "softmax":
            x = torch.randn(*ROWS_SHAPE)
            return [dict(variant="", msPerOp=time_ms(repeat(lambda: F.softmax(x, dim=-1), reps), reps, samples, warmup))]
        if wid == "layernorm":
            x, w_, b_ = torch.randn(*ROWS_SHAPE), torch.randn(ROWS_SHAPE[1]), torch.randn(ROWS_SHAPE[1])
            op = lambda: F.layer_norm(x, (ROWS_SHAPE[1],), w_, b_, 1e-5)  # noqa: E731
            return [dict(variant="", msPerOp=time_ms(repeat(op, reps), reps, samples, warmup))]
        if wid == "copy":
            src, dst = torch.randn(*COPY_SHAPE), torch.empty(*COPY_SHAPE)
            plain = time_ms(repeat(lambda: dst.copy_(src), reps), reps, samples, warmup)
            transposed = time_ms(repeat(lambda: src.t().contiguous(), reps), reps, samples, warmup)
            return [dict(variant="plain", msPerOp=plain),
                    dict(variant="transposed", msPerOp=transposed)]
    if wid == "attention":
        return [dict(variant="", msPerOp=time_ms(attention_step(), 1, samples, warmup))]
    if wid == "adamw":
        return [dict(variant="", msPerOp=time_ms(adamw_step(), 1, samples, warmup))]
    return None


def main():
    results = {}
    notes = [f"torch {torch.__version__}, {torch.get_num_threads()} threads"]
    for w in json.loads(sys.argv[1]):
        measurements = measure(w)
        if measurements is not None:
            results[w["id"]] = dict(measurements=measurements, notes=notes)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
