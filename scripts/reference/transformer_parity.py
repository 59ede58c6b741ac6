#!/usr/bin/env python3
"""Parity fixtures for @kiln/transformer's GPT, written with the PyTorch reference model (gpt.py).

    transformer_parity.py                 write the fixtures (default: packages/transformer/test/fixtures/parity-{gpt2,llama}/)
    transformer_parity.py --check DIR...  load model directories written by Kiln's saveModel with gpt.py
                                          and print, as JSON, their logits for the ids in DIR/ids.json

Each fixture directory holds a tiny random model as a Hugging Face checkpoint (model.safetensors
with GPT2LMHeadModel / LlamaForCausalLM names + config.json) and expected.safetensors with:

    ids, targets        int32 [2, T] inputs (some targets are -100: ignored by the loss)
    logits              float32 [2, T, vocab]
    loss                float32 [] mean cross-entropy over the targets that are not -100
    grad.<hf name>      float32 gradients of the loss for a few parameters, in the HF layout

Weights are drawn in float32 (so they are exact in Kiln's float32), with larger spreads than the
training init and non-trivial norm gains and biases, so every parameter visibly matters; the
forward and backward then run in float64, so the fixtures are the exact answer for those weights.
packages/transformer/test/parity.test.ts compares Kiln's results on every backend. Regenerate
(and commit) after changing gpt.py's model or the cases below:

    /usr/bin/python3 scripts/reference/transformer_parity.py
"""

import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True  # importing gpt.py must not leave __pycache__ in the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt import GPT, atomic_write, hf_config, hf_state_dict, load_hf_state_dict, make_model_config, read_safetensors, write_safetensors  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "packages", "transformer", "test", "fixtures")

CASES = {
    # GPT-2: learned positions, LayerNorm, GELU (tanh), biases, tied head (Conv1D [in, out] weights in the file).
    "gpt2": dict(
        model=dict(arch="gpt2", vocabSize=64, contextLength=16, nLayer=2, nHead=2, dModel=16),
        grads=["transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.attn.c_attn.weight",
               "transformer.h.0.attn.c_attn.bias", "transformer.h.1.mlp.c_proj.weight", "transformer.ln_f.weight"],
    ),
    # Llama: RoPE (θ = 500, not the default, to check it is read), RMSNorm, SwiGLU, GQA (4 query / 2 kv heads), untied head.
    "llama": dict(
        model=dict(arch="llama", vocabSize=64, contextLength=16, nLayer=2, nHead=4, nKvHead=2, dModel=16, dFf=32,
                   ropeTheta=500.0),
        grads=["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
               "model.layers.0.self_attn.k_proj.weight", "model.layers.1.mlp.gate_proj.weight",
               "model.layers.1.input_layernorm.weight", "lm_head.weight"],
    ),
}


def randomize(model, gen):
    """Spreads that make every parameter matter: matrices N(0, 0.3²), norm gains 1 ± 0.2, biases ± 0.1."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if p.dim() >= 2:
                p.copy_(noise * 0.3)
            elif "norm" in name:
                p.copy_(1.0 + 0.2 * noise)
            else:
                p.copy_(0.1 * noise)


def write_case(name, case, out_root):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    cfg = make_model_config(case["model"])
    model = GPT(cfg)
    randomize(model, gen)
    out = os.path.join(out_root, f"parity-{name}")
    os.makedirs(out, exist_ok=True)
    write_safetensors(os.path.join(out, "model.safetensors"), hf_state_dict(model), {"format": "pt"})
    atomic_write(os.path.join(out, "config.json"), [json.dumps(hf_config(cfg), indent=2).encode() + b"\n"])

    B, T, V = 2, cfg["contextLength"], cfg["vocabSize"]
    ids = torch.randint(0, V, (B, T), generator=gen)
    targets = torch.randint(0, V, (B, T), generator=gen)
    targets[1, :5] = -100  # e.g. a prompt that SFT does not train on
    model = model.double()
    logits, loss = model(ids, targets)
    loss.backward()
    # Gradients in the HF layout: hf_state_dict of a copy whose parameters are the gradients.
    grads_model = GPT(cfg).double()
    with torch.no_grad():
        for p, g in zip(grads_model.parameters(), model.parameters()):
            p.copy_(g.grad)
    grads = hf_state_dict(grads_model)
    expected = {"ids": ids.to(torch.int32), "targets": targets.to(torch.int32),
                "logits": logits.detach().float(), "loss": loss.detach().float()}
    for g in case["grads"]:
        expected[f"grad.{g}"] = grads[g].float()
    write_safetensors(os.path.join(out, "expected.safetensors"), expected, {"producer": "transformer_parity.py"})
    size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f"{out}: loss {loss.item():.6f}, {size / 1024:.1f} KiB")


def cfg_from_hf(config):
    """gpt.py's camelCase config from a config.json (the HF keys; kiln_config is ignored on purpose)."""
    if config["model_type"] == "gpt2":
        return make_model_config(dict(arch="gpt2", vocabSize=config["vocab_size"], contextLength=config["n_positions"],
                                      nLayer=config["n_layer"], nHead=config["n_head"], dModel=config["n_embd"],
                                      dFf=config.get("n_inner"), normEps=config["layer_norm_epsilon"],
                                      tieEmbeddings=config.get("tie_word_embeddings", True)))
    return make_model_config(dict(arch="llama", vocabSize=config["vocab_size"],
                                  contextLength=config["max_position_embeddings"], nLayer=config["num_hidden_layers"],
                                  nHead=config["num_attention_heads"], nKvHead=config["num_key_value_heads"],
                                  dModel=config["hidden_size"], dFf=config["intermediate_size"],
                                  normEps=config["rms_norm_eps"], ropeTheta=config["rope_theta"],
                                  tieEmbeddings=config.get("tie_word_embeddings", False)))


def check(dirs):
    """Logits of Kiln-written checkpoints as gpt.py computes them (float64), as JSON {dir: [...]}."""
    result = {}
    for d in dirs:
        with open(os.path.join(d, "config.json")) as f:
            cfg = cfg_from_hf(json.load(f))
        with open(os.path.join(d, "ids.json")) as f:
            ids = torch.tensor(json.load(f), dtype=torch.int64)
        tensors, _ = read_safetensors(os.path.join(d, "model.safetensors"))
        model = GPT(cfg)
        load_hf_state_dict(model, {k: v.float() for k, v in tensors.items()})
        with torch.no_grad():
            logits, _ = model.double()(ids)
        result[d] = logits.flatten().tolist()
    json.dump(result, sys.stdout)


def main():
    torch.set_num_threads(2)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=FIXTURES, help="fixture root (default: packages/transformer/test/fixtures)")
    parser.add_argument("--check", nargs="+", metavar="DIR", help="print gpt.py's logits for Kiln-written checkpoints")
    args = parser.parse_args()
    if args.check:
        check(args.check)
        return
    for name, case in CASES.items():
        write_case(name, case, args.out)


if __name__ == "__main__":
    main()
