#!/usr/bin/env python3
"""Golden values for @kiln/trainer's optimizers and gradient clipping, computed with PyTorch.

Writes packages/trainer/test/fixtures/optimizer-golden.json. Each case gives the initial
parameters, the gradient fed at every step (fixed numbers, so no model is needed on either
side), the learning rate of every step, and PyTorch's parameters and optimizer state after
every step. packages/trainer/test/optimizers.test.ts replays the same steps with Kiln.

    /usr/bin/python3 scripts/reference/optimizer_golden.py   # needs torch (tested with 1.13)
"""

import json
import os

import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "packages", "trainer", "test", "fixtures",
                   "optimizer-golden.json")
STEPS = 3
LRS = [1e-2, 5e-3, 2e-3]  # a different rate every step, as a schedule sets it


def values(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def make_params(generator):
    """A weight matrix (decayed) and a bias vector (not decayed), as in a transformer's groups."""
    weight = torch.randn(2, 3, generator=generator)
    bias = torch.randn(3, generator=generator)
    return {"weight": weight, "bias": bias}


def run_case(name, make_optimizer, seed):
    g = torch.Generator().manual_seed(seed)
    init = make_params(g)
    params = {k: torch.nn.Parameter(v.clone()) for k, v in init.items()}
    grads = [{k: torch.randn(v.shape, generator=g) for k, v in init.items()} for _ in range(STEPS)]
    opt = make_optimizer(params)
    steps = []
    for step in range(STEPS):
        for group in opt.param_groups:
            group["lr"] = LRS[step]
        for k, p in params.items():
            p.grad = grads[step][k].clone()
        opt.step()
        state = {}
        for k, p in params.items():
            for slot, value in opt.state[p].items():
                if torch.is_tensor(value) and value.dim() > 0:
                    state[f"{k}.{slot}"] = values(value)
        steps.append({"params": {k: values(p) for k, p in params.items()}, "state": state})
    return {
        "name": name,
        "shapes": {k: list(v.shape) for k, v in init.items()},
        "init": {k: values(v) for k, v in init.items()},
        "grads": [{k: values(v) for k, v in step.items()} for step in grads],
        "lrs": LRS,
        "steps": steps,
    }


def adamw(params):
    return torch.optim.AdamW([{"params": [params["weight"]], "weight_decay": 0.1},
                              {"params": [params["bias"]], "weight_decay": 0.0}],
                             lr=LRS[0], betas=(0.9, 0.95), eps=1e-8)


def sgd_momentum(params):
    return torch.optim.SGD([{"params": [params["weight"]], "weight_decay": 0.01},
                            {"params": [params["bias"]], "weight_decay": 0.0}], lr=LRS[0], momentum=0.9)


def sgd_nesterov(params):
    return torch.optim.SGD(list(params.values()), lr=LRS[0], momentum=0.8, nesterov=True)


def sgd_plain(params):
    return torch.optim.SGD(list(params.values()), lr=LRS[0])


def clip_case(seed):
    g = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.zeros(2, 3)), torch.nn.Parameter(torch.zeros(4))]
    cases = []
    for max_norm in [1.0, 100.0]:
        grads = [torch.randn(p.shape, generator=g) * 2 for p in params]
        for p, grad in zip(params, grads):
            p.grad = grad.clone()
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        cases.append({"maxNorm": max_norm, "shapes": [list(p.shape) for p in params],
                      "grads": [values(x) for x in grads], "norm": float(norm),
                      "clipped": [values(p.grad) for p in params]})
    return cases


def main():
    torch.set_num_threads(1)
    golden = {
        "torch": torch.__version__,
        "optimizers": [
            {**run_case("adamw", adamw, 1), "options": {"betas": [0.9, 0.95], "eps": 1e-8},
             "weightDecay": {"weight": 0.1, "bias": 0.0}},
            {**run_case("sgd-momentum", sgd_momentum, 2), "options": {"momentum": 0.9},
             "weightDecay": {"weight": 0.01, "bias": 0.0}},
            {**run_case("sgd-nesterov", sgd_nesterov, 3), "options": {"momentum": 0.8, "nesterov": True},
             "weightDecay": {"weight": 0.0, "bias": 0.0}},
            {**run_case("sgd", sgd_plain, 4), "options": {}, "weightDecay": {"weight": 0.0, "bias": 0.0}},
        ],
        "clip": clip_case(5),
    }
    with open(OUT, "w") as f:
        json.dump(golden, f)
        f.write("\n")
    print(f"wrote {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
