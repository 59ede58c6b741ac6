#!/usr/bin/env python3
"""The Hugging Face half of the interop check (benchmarks/gpu/run.sh; kiln-interop.ts is Kiln's).

  hf_interop.py check-kiln <dir>    Kiln's saved GPT-2 and Llama models load with
                                    transformers' AutoModelForCausalLM.from_pretrained and give
                                    Kiln's logits; Kiln's LoRA adapter loads with peft's
                                    PeftModel.from_pretrained and gives Kiln's logits
  hf_interop.py make-hf <dir>       transformers saves a GPT-2 and a Llama model with random
                                    weights, peft saves a LoRA adapter; their logits are written
  hf_interop.py check-import <dir>  Kiln's logits of those (kiln-interop.mjs import) match

Everything runs in float32 on the CPU, so the comparison is of the formats and the math, not of
GPU kernels. Each check prints one JSON line {check, maxAbsDiff, maxAbsLogit, ok}; the process
exits 1 if any check fails. Tolerance: 1e-4 · max(1, max |logit|).
"""

import json
import os
import sys

import torch

IDS_SHAPE = (2, 16)
failures = 0


def load_json(path):
    with open(path) as f:
        return json.load(f)


def logits_of(model, ids):
    with torch.no_grad():
        return model(input_ids=torch.tensor(ids, dtype=torch.long).reshape(IDS_SHAPE)).logits.float()


def compare(check, ours, theirs):
    global failures
    ours = torch.tensor(ours["logits"], dtype=torch.float32).reshape(theirs.shape)
    diff = (ours - theirs).abs().max().item()
    scale = max(1.0, theirs.abs().max().item())
    ok = diff <= 1e-4 * scale
    failures += 0 if ok else 1
    print(json.dumps(dict(check=check, maxAbsDiff=diff, maxAbsLogit=theirs.abs().max().item(), ok=ok)), flush=True)


def from_pretrained(path):
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    except TypeError:  # transformers before 4.56 names it torch_dtype
        return AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32).eval()


def perturb(params, std, generator):
    with torch.no_grad():
        for p in params:
            p.add_(torch.randn(p.shape, generator=generator) * std)


def check_kiln(d):
    from peft import PeftModel

    for name in ["kiln-gpt2", "kiln-llama"]:
        ours = load_json(os.path.join(d, f"{name}.kiln-logits.json"))
        model = from_pretrained(os.path.join(d, name))
        compare(f"transformers loads {name} ({type(model).__name__})", ours, logits_of(model, ours["ids"]))
    ours = load_json(os.path.join(d, "kiln-gpt2-lora.kiln-logits.json"))
    base = from_pretrained(os.path.join(d, "kiln-gpt2"))
    adapted = PeftModel.from_pretrained(base, os.path.join(d, "kiln-gpt2-lora")).eval()
    compare("peft loads kiln-gpt2-lora onto kiln-gpt2", ours, logits_of(adapted, ours["ids"]))


def write_logits(d, name, model, ids):
    logits = logits_of(model, ids)
    with open(os.path.join(d, f"{name}.hf-logits.json"), "w") as f:
        json.dump(dict(ids=ids, shape=list(logits.shape), logits=logits.flatten().tolist()), f)


def make_hf(d):
    from peft import LoraConfig, get_peft_model
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    ids = [(i * 7919 + 13) % 1000 for i in range(IDS_SHAPE[0] * IDS_SHAPE[1])]
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=1000, n_positions=64, n_embd=64, n_layer=2, n_head=4)).eval()
    llama = LlamaForCausalLM(LlamaConfig(
        vocab_size=1000, hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-5, tie_word_embeddings=False)).eval()
    for name, model in [("hf-gpt2", gpt2), ("hf-llama", llama)]:
        perturb(model.parameters(), 0.02, g)  # no LayerNorm at 1, no bias at 0
        model.save_pretrained(os.path.join(d, name))
        write_logits(d, name, model, ids)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn", "c_proj", "c_fc"], fan_in_fan_out=True)
    adapted = get_peft_model(gpt2, lora).eval()
    perturb([p for n, p in adapted.named_parameters() if "lora_B" in n], 0.05, g)
    adapted.save_pretrained(os.path.join(d, "hf-gpt2-peft"))
    write_logits(d, "hf-gpt2-peft", adapted, ids)
    print(json.dumps(dict(made=["hf-gpt2", "hf-llama", "hf-gpt2-peft"])), flush=True)


def check_import(d):
    for name in ["hf-gpt2", "hf-llama", "hf-gpt2-peft"]:
        ours = load_json(os.path.join(d, f"{name}.kiln-logits.json"))
        theirs = load_json(os.path.join(d, f"{name}.hf-logits.json"))
        compare(f"Kiln loads {name}", ours, torch.tensor(theirs["logits"]).reshape(theirs["shape"]))


if __name__ == "__main__":
    mode, d = sys.argv[1], sys.argv[2]
    {"check-kiln": check_kiln, "make-hf": make_hf, "check-import": check_import}[mode](d)
    sys.exit(1 if failures else 0)
