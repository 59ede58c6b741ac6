#!/usr/bin/env python3
"""Exports the initial (untrained) weights of a gpt.py run as a Hugging Face directory.

gpt.py's `train` seeds torch with train.seed and builds the model before anything else draws
random numbers, so the weights written here are exactly the ones that run starts from. Kiln
can start from them too (examples/pretrain --init-from DIR), which makes the two runs
comparable step by step: same weights, same batches, same learning rates.

    /usr/bin/python3 scripts/reference/export_init.py --config run.json --out runs/init
"""

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpt  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, help="gpt.py config JSON {model: {...}, train: {...}}")
    parser.add_argument("--out", required=True, help="output directory (model.safetensors, config.json)")
    args = parser.parse_args()
    with open(args.config) as f:
        config = json.load(f)
    model_cfg = gpt.make_model_config(config.get("model", {}))
    tc = gpt.make_train_config(config.get("train", {}))
    torch.manual_seed(tc["seed"])  # as gpt.train() does, right before building the model
    model = gpt.GPT(model_cfg)
    os.makedirs(args.out, exist_ok=True)
    gpt.write_safetensors(os.path.join(args.out, "model.safetensors"), gpt.hf_state_dict(model), {"format": "pt"})
    gpt.atomic_write(os.path.join(args.out, "config.json"),
                     [json.dumps(gpt.hf_config(model_cfg), indent=2).encode() + b"\n"])
    print(f"wrote the initial weights of {model_cfg['arch']} (seed {tc['seed']}) to {args.out}")


if __name__ == "__main__":
    main()
