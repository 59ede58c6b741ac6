#!/usr/bin/env python3
"""PyTorch (CPU) reference for the training-step benchmark (benchmarks/src/suites/train.ts).

The model is scripts/reference/gpt.py's GPT (imported, not copied), configured like the Kiln and
TF.js runs: GPT-2 family, vocab 256, context 128, 4 layers, 4 heads, d 128; batch 16; AdamW
(lr 1e-3, betas 0.9/0.95, eps 1e-8, weight decay 0.1 on every parameter), no clipping. Batches
come from the token file the suite wrote (int32 rows of context + 1 tokens), so all
implementations see the same tokens.

Usage: /usr/bin/python3 train_step.py <tokens file> <warmup> <steps>
Prints one JSON line in the TrainResult format of benchmarks/src/train/config.ts.
"""

import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "reference"))
from gpt import GPT, make_model_config  # noqa: E402

BATCH, CONTEXT = 16, 128


def main():
    tokens_path, warmup, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(2)
    torch.manual_seed(0)
    cfg = make_model_config(dict(arch="gpt2", vocabSize=256, contextLength=CONTEXT, nLayer=4, nHead=4, dModel=128))
    model = GPT(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    rows = np.fromfile(tokens_path, dtype="<i4").reshape(-1, BATCH, CONTEXT + 1)

    def step(i):
        batch = torch.from_numpy(rows[i % len(rows)].astype(np.int64))
        _, loss = model(batch[:, :-1], batch[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    warmup_ms, step_ms, losses = [], [], []
    for i in range(warmup):
        start = time.perf_counter()
        step(i)
        warmup_ms.append((time.perf_counter() - start) * 1000)
    for i in range(steps):
        start = time.perf_counter()
        losses.append(step(warmup + i))
        step_ms.append((time.perf_counter() - start) * 1000)
    print(json.dumps(dict(
        stepMs=step_ms, losses=losses, warmupMs=warmup_ms,
        parameters=sum(p.numel() for p in model.parameters()),
        notes=[f"torch {torch.__version__}, {torch.get_num_threads()} threads"],
    )))


if __name__ == "__main__":
    main()
