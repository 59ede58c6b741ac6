#!/usr/bin/env python3
"""Tabulates a device run's results (benchmarks/gpu/run.sh): writes <out>/summary.json and prints
the tables docs/performance.md takes. Tolerates missing parts (a part that timed out)."""

import json
import os
import sys

# H100 SXM5: 67 TFLOP/s FP32 on the CUDA cores (NVIDIA's datasheet); the PCIe card has 51
FP32_PEAK_TFLOPS = float(os.environ.get("FP32_PEAK_TFLOPS", 67))


def load(path):
    try:
        with open(path) as f:
            text = f.read().strip()
        return json.loads(text) if text else None
    except (OSError, json.JSONDecodeError):
        return None


out = sys.argv[1]
kiln, torch_ = load(os.path.join(out, "kiln.json")), load(os.path.join(out, "torch.json"))
interop = []
if os.path.exists(os.path.join(out, "interop.jsonl")):
    with open(os.path.join(out, "interop.jsonl")) as f:
        interop = [json.loads(line) for line in f if line.strip()]
summary = dict(fp32PeakTflops=FP32_PEAK_TFLOPS, interop=interop, matmul=[], train={})
print("interop:")
for c in interop:
    print(f"  {'ok  ' if c['ok'] else 'FAIL'} {c['check']}: max |Δlogit| {c['maxAbsDiff']:.2e} (max |logit| {c['maxAbsLogit']:.2f})")
if kiln:
    print(f"\nKiln adapter: {kiln['adapter']}")
if torch_:
    print(f"PyTorch {torch_['torch']} on {torch_['device']}")
torch_rows = {(r["n"], r["layout"]): r for r in (torch_ or {}).get("matmul", [])}
print("\nmatmul f32 (GFLOP/s; % of FP32 peak; Kiln / cuBLAS with TF32 off)")
for r in (kiln or {}).get("matmul", []):
    t = torch_rows.get((r["n"], r["layout"]))
    row = dict(n=r["n"], layout=r["layout"], kilnGflops=r["gflops"], torchGflops=t and t["gflops"],
               kilnPeakPercent=100 * r["gflops"] / 1000 / FP32_PEAK_TFLOPS,
               ratio=t and r["gflops"] / t["gflops"])
    summary["matmul"].append(row)
    ratio = f"{row['ratio']:.2f}×" if t else "?"
    torch_text = f"{t['gflops']:.0f}" if t else "?"
    print(f"  {r['n']:>5} {r['layout']:<5} Kiln {r['gflops']:>8.0f} ({row['kilnPeakPercent']:.1f}%)  cuBLAS {torch_text:>8}  {ratio}")
if kiln:
    k = kiln["train"]
    summary["train"]["kiln"] = dict(tokensPerSecond=k["tokensPerSecond"], achievedTflops=k["achievedTflops"],
                                    peakPercent=100 * k["achievedTflops"] / FP32_PEAK_TFLOPS,
                                    batch=k["batch"], context=k["context"], parameters=k["parameters"])
    print(f"\nGPT-2 ({k['parameters'] / 1e6:.0f}M) step, batch {k['batch']} × {k['context']}:")
    print(f"  Kiln webgpu      {k['tokensPerSecond']:>9.0f} tokens/s  ({k['achievedTflops']:.1f} TFLOP/s, "
          f"{100 * k['achievedTflops'] / FP32_PEAK_TFLOPS:.1f}% of FP32 peak)")
for t in (torch_ or {}).get("train", []):
    summary["train"][t["setting"]] = dict(tokensPerSecond=t["tokensPerSecond"])
    ratio = summary["train"].get("kiln", {}).get("tokensPerSecond", 0) / t["tokensPerSecond"]
    summary["train"][t["setting"]]["kilnRatio"] = ratio
    print(f"  PyTorch {t['setting']:<13} {t['tokensPerSecond']:>9.0f} tokens/s  (Kiln is {ratio:.2f}× of it)")
with open(os.path.join(out, "summary.json"), "w") as f:
    json.dump(summary, f, indent=2)
