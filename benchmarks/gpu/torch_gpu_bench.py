#!/usr/bin/env python3
"""PyTorch on the same GPU as kiln-gpu-bench.ts (benchmarks/gpu/run.sh): the same matrix
products (float32, TF32 off, so cuBLAS does true f32 like Kiln's WGSL), and a GPT-2 124M
training step (transformers' GPT2LMHeadModel, SDPA attention, AdamW lr 6e-4 betas 0.9/0.95,
weight decay 0.1) in three settings: fp32 eager with TF32 off (the issue's yardstick), fp32 with
TF32 on, and bf16 autocast. Same batch, context and random tokens as Kiln's run.

  torch_gpu_bench.py [--sizes 256,1024] [--batch 8] [--context 1024] [--steps 10]

Prints one JSON object as its last line.
"""

import argparse
import json
import time

import torch


def median(xs):
    s = sorted(xs)
    return s[len(s) // 2]


def matmul_rows(sizes):
    torch.backends.cuda.matmul.allow_tf32 = False
    rows = []
    for n in sizes:
        a = torch.randn(n, n, device="cuda")
        b = torch.randn(n, n, device="cuda")
        for layout, fn in [("A·B", lambda: a @ b), ("A·Bᵀ", lambda: a @ b.t()), ("Aᵀ·B", lambda: a.t() @ b)]:
            reps = max(2, min(200, round(2e11 / (2 * n**3))))
            fn()
            torch.cuda.synchronize()
            ms = []
            for _ in range(7):
                start = time.perf_counter()
                for _ in range(reps):
                    fn()
                torch.cuda.synchronize()
                ms.append((time.perf_counter() - start) * 1000 / reps)
            m = median(ms)
            rows.append(dict(n=n, layout=layout, msMedian=m, gflops=2 * n**3 / (m / 1000) / 1e9))
    return rows


def train_step_rate(setting, batch, context, steps):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.backends.cuda.matmul.allow_tf32 = setting == "fp32-tf32"
    torch.backends.cudnn.allow_tf32 = setting == "fp32-tf32"
    torch.manual_seed(0)
    cfg = GPT2Config(n_positions=context, n_embd=768, n_layer=12, n_head=12, vocab_size=50257,
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = GPT2LMHeadModel(cfg).cuda().train()
    opt = torch.optim.AdamW(model.parameters(), lr=6e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    g = torch.Generator(device="cuda").manual_seed(12345)

    def step():
        ids = torch.randint(0, 50257, (batch, context), device="cuda", generator=g)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=setting == "bf16-autocast"):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    for _ in range(3):
        step()
    ms, losses = [], []
    for _ in range(steps):
        start = time.perf_counter()
        losses.append(step())
        ms.append((time.perf_counter() - start) * 1000)
    m = median(ms)
    params = sum(p.numel() for p in model.parameters())
    del model, opt
    torch.cuda.empty_cache()
    return dict(setting=setting, parameters=params, stepMs=ms, losses=losses,
                tokensPerSecond=batch * context / (m / 1000))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="256,512,1024,2048,4096")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--context", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    out = dict(device=torch.cuda.get_device_name(0), torch=torch.__version__,
               matmul=matmul_rows([int(s) for s in args.sizes.split(",")]), train=[])
    for setting in ["fp32-eager", "fp32-tf32", "bf16-autocast"]:
        out["train"].append(train_step_rate(setting, args.batch, args.context, args.steps))
        print(f"[torch] {setting}: {out['train'][-1]['tokensPerSecond']:.0f} tokens/s", flush=True)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
