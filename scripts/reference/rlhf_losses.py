#!/usr/bin/python3
"""Golden values for @kiln/rlhf's losses: inputs, outputs and gradients, from PyTorch in float64.

Run with Debian's PyTorch (python3-torch), from the repository root:

    /usr/bin/python3 scripts/reference/rlhf_losses.py

It writes packages/rlhf/test/fixtures/rlhf_losses.json. Each function is written here from its
published formula (the paper or TRL's documented definition cited beside it), not from the
TypeScript: the point is an independent answer. Inputs are drawn in float32 from a seeded
generator (so they are exact in Kiln's float32 storage), then everything runs in float64.
Gradients come from torch.autograd: of the scalar losses themselves, and of `sum(out * w)` with
a fixed random cotangent `w` for the per-element outputs (the KL estimators).
packages/rlhf/test/golden.test.ts reads the fixture and compares Kiln's functions, values and
gradients (through @kiln/autograd), on cpu and, where an adapter exists, on webgpu.
Regenerate after changing a case here.
"""

import json
import os

import torch
import torch.nn.functional as F

OUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "packages", "rlhf", "test", "fixtures", "rlhf_losses.json"
)

gen = torch.Generator().manual_seed(20261208)


def randn(shape, scale=1.0, offset=0.0):
    """float32-representable values, as float64 leaves."""
    t = (torch.randn(shape, generator=gen, dtype=torch.float32) * scale + offset).to(torch.float32)
    return t.double().requires_grad_(True)


def enc(t):
    t = torch.as_tensor(t).detach().double()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def grads_of(scalar, inputs):
    """d scalar / d each named input (zeros where it does not depend on one)."""
    names = list(inputs)
    gs = torch.autograd.grad(scalar, [inputs[n] for n in names], allow_unused=True, retain_graph=True)
    return {n: enc(g if g is not None else torch.zeros_like(inputs[n])) for n, g in zip(names, gs)}


cases = []


def add(fn, name, inputs, options, outputs, grads, data=None):
    cases.append(
        {
            "fn": fn,
            "name": name,
            "inputs": {k: enc(v) for k, v in inputs.items()},
            "data": {k: enc(v) for k, v in (data or {}).items()},
            "options": options,
            "outputs": {k: enc(v) for k, v in outputs.items()},
            "grads": grads,
        }
    )


# ---- Bradley–Terry (InstructGPT eq. 1; Llama 2's margin; TRL's center_rewards_coefficient) ----
# loss = -E[log sigma(r_c - r_r - m)] + c * E[(r_c + r_r)^2]
for name, margin, center in [("plain", 0.0, 0.0), ("margin", 0.5, 0.0), ("margin-tensor+center", None, 0.01)]:
    n = 7
    rc, rr = randn([n]), randn([n])
    data = {}
    if margin is None:
        m = torch.rand([n], generator=gen, dtype=torch.float32).double()
        data["margin"] = m
    else:
        m = margin
    loss = -F.logsigmoid(rc - rr - m).mean() + center * ((rc + rr) ** 2).mean()
    diff = (rc - rr).detach()
    add(
        "bradleyTerryLoss",
        name,
        {"chosenRewards": rc, "rejectedRewards": rr},
        {"margin": margin, "centerCoefficient": center},
        {"loss": loss, "accuracy": (diff > 0).double().mean(), "margin": diff.mean()},
        {"loss": grads_of(loss, {"chosenRewards": rc, "rejectedRewards": rr})},
        data,
    )

# ---- DPO (Rafailov et al. 2023, eq. 7), cDPO label smoothing (Mitchell 2023), IPO (Azar et al.
# 2023, eq. 17), hinge (SLiC, Zhao et al. 2023), as TRL defines each ----
for name, loss_type, beta, eps in [
    ("sigmoid", "sigmoid", 0.1, 0.0),
    ("sigmoid-smoothed", "sigmoid", 0.5, 0.2),
    ("ipo", "ipo", 0.3, 0.0),
    ("hinge", "hinge", 2.0, 0.0),
]:
    n = 6
    inputs = {
        "policyChosenLogps": randn([n], 2.0, -6.0),
        "policyRejectedLogps": randn([n], 2.0, -6.0),
        "refChosenLogps": randn([n], 2.0, -6.0),
        "refRejectedLogps": randn([n], 2.0, -6.0),
    }
    pc, pr, rc, rr = inputs.values()
    pi_logratios = pc - pr
    ref_logratios = rc - rr
    logits = pi_logratios - ref_logratios
    if loss_type == "sigmoid":
        losses = -F.logsigmoid(beta * logits) * (1 - eps) - F.logsigmoid(-beta * logits) * eps
    elif loss_type == "ipo":
        losses = (logits - 1 / (2 * beta)) ** 2
    else:
        losses = torch.relu(1 - beta * logits)
    loss = losses.mean()
    add(
        "dpoLoss",
        name,
        inputs,
        {"beta": beta, "lossType": loss_type, "labelSmoothing": eps},
        {"loss": loss, "chosenRewards": beta * (pc - rc).detach(), "rejectedRewards": beta * (pr - rr).detach()},
        {"loss": grads_of(loss, inputs)},
    )

# ---- KL estimators (Schulman 2020, "Approximating KL divergence"): r = pi_ref / pi at tokens
# sampled from pi; k1 = -log r, k2 = (log r)^2 / 2, k3 = (r - 1) - log r ----
for est in ["k1", "k2", "k3"]:
    shape = [3, 5]
    logp, ref = randn(shape, 1.0, -2.0), randn(shape, 1.0, -2.0)
    log_r = ref - logp
    k = {"k1": -log_r, "k2": 0.5 * log_r**2, "k3": torch.exp(log_r) - 1 - log_r}[est]
    w = torch.randn(shape, generator=gen, dtype=torch.float32).double()
    add(
        "klPenalty",
        est,
        {"logp": logp, "refLogp": ref},
        {"estimator": est},
        {"kl": k},
        {"weighted": grads_of((k * w).sum(), {"logp": logp, "refLogp": ref})},
        {"cotangent": w},
    )

# ---- GAE (Schulman et al. 2016, eq. 16): A_t = sum_l (gamma lambda)^l delta_{t+l},
# delta_t = r_t + gamma V_{t+1} - V_t, over each row's completion tokens (the mask), with V = 0
# after the last one; returns A + V on the completion, 0 elsewhere ----
def gae_ref(rewards, values, mask, gamma, lam):
    B, T = rewards.shape
    adv = torch.zeros(B, T, dtype=torch.float64)
    for b in range(B):
        idx = [t for t in range(T) if mask[b, t] > 0]
        for i, t in enumerate(idx):
            total = 0.0
            for l, s in enumerate(idx[i:]):
                v_next = values[b, idx[i + l + 1]] if i + l + 1 < len(idx) else 0.0
                delta = rewards[b, s] + gamma * v_next - values[b, s]
                total = total + (gamma * lam) ** l * delta
            adv[b, t] = total
    returns = (adv + values) * mask
    return adv, returns


for name, gamma, lam in [("gamma1-lambda0.95", 1.0, 0.95), ("gamma0.9-lambda0.8", 0.9, 0.8)]:
    B, T = 3, 6
    rewards = randn([B, T]).detach()
    values = randn([B, T]).detach()
    # completions start after prompts of different lengths and end before the row's padding
    mask = torch.zeros(B, T, dtype=torch.float64)
    for b, (s, e) in enumerate([(1, 5), (2, 6), (0, 3)]):
        mask[b, s:e] = 1
    adv, ret = gae_ref(rewards, values, mask, gamma, lam)
    add(
        "gae",
        name,
        {"rewards": rewards, "values": values},
        {"gamma": gamma, "lambda": lam},
        {"advantages": adv, "returns": ret},
        {},
        {"mask": mask},
    )

# ---- PPO (Schulman et al. 2017, eq. 7; TRL's PPOTrainer): ratio = exp(logp - old);
# policy loss = masked mean of max(-A ratio, -A clip(ratio, 1 - eps, 1 + eps)); value loss =
# 0.5 masked mean of max((V - R)^2, (V_old + clip(V - V_old, -eps_v, eps_v) - R)^2);
# approx KL = 0.5 masked mean (logp - old)^2; clip fractions: where the clipped term is larger ----
def masked_mean(x, m):
    return (x * m).sum() / m.sum()


for name, eps, eps_v in [("clip0.2", 0.2, 0.2), ("clip0.1-value0.5", 0.1, 0.5)]:
    B, T = 3, 5
    inputs = {
        "logps": randn([B, T], 0.3, -1.5),
        "values": randn([B, T]),
    }
    data = {
        "oldLogps": (inputs["logps"].detach() + torch.randn([B, T], generator=gen).double() * 0.25),
        "advantages": torch.randn([B, T], generator=gen).double(),
        "oldValues": inputs["values"].detach() + torch.randn([B, T], generator=gen).double() * 0.4,
        "returns": torch.randn([B, T], generator=gen).double(),
        "entropy": torch.rand([B, T], generator=gen).double() * 2,
        "mask": torch.tensor([[0, 1, 1, 1, 0], [1, 1, 1, 1, 1], [0, 0, 1, 1, 0]], dtype=torch.float64),
    }
    # float32-exact data
    data = {k: v.float().double() for k, v in data.items()}
    logp, v = inputs["logps"], inputs["values"]
    old, A, v_old, R, H, m = (data[k] for k in ["oldLogps", "advantages", "oldValues", "returns", "entropy", "mask"])
    ratio = torch.exp(logp - old)
    pg1 = -A * ratio
    pg2 = -A * torch.clamp(ratio, 1 - eps, 1 + eps)
    policy_loss = masked_mean(torch.max(pg1, pg2), m)
    v_clipped = v_old + torch.clamp(v - v_old, -eps_v, eps_v)
    vf1 = (v - R) ** 2
    vf2 = (v_clipped - R) ** 2
    value_loss = 0.5 * masked_mean(torch.max(vf1, vf2), m)
    add(
        "ppoLosses",
        name,
        inputs,
        {"clipRange": eps, "clipRangeValue": eps_v},
        {
            "policyLoss": policy_loss,
            "valueLoss": value_loss,
            "clipFraction": masked_mean((pg2 > pg1).double(), m),
            "valueClipFraction": masked_mean((vf2 > vf1).double(), m),
            "approxKL": 0.5 * masked_mean((logp - old) ** 2, m),
            "entropy": masked_mean(H, m),
        },
        {"policyLoss": grads_of(policy_loss, inputs), "valueLoss": grads_of(value_loss, inputs)},
        data,
    )

# ---- GRPO advantages (Shao et al. 2024, DeepSeekMath §4.1.2): A_i = (r_i - mean(group)) /
# (std(group) + 1e-4) with the unbiased std, as TRL; the batch's std (TRL scale_rewards='batch');
# none (Dr. GRPO, Liu et al. 2025). RLOO (Ahmadian et al. 2024): r_i minus the mean of the others ----
G = 4
# a mixed group, a group whose rewards all agree (zero advantage, not NaN), a continuous one
noise = torch.rand([4], generator=gen, dtype=torch.float32).double()
rewards = torch.cat([torch.tensor([1.0, 0, 0, 1], dtype=torch.float64), torch.full([4], 0.5, dtype=torch.float64), noise])
grouped = rewards.reshape(-1, G)
centred = grouped - grouped.mean(1, keepdim=True)
for scale in ["group", "batch", "none"]:
    if scale == "group":
        adv = centred / (grouped.std(1, unbiased=True, keepdim=True) + 1e-4)
    elif scale == "batch":
        adv = centred / (rewards.std(unbiased=True) + 1e-4)
    else:
        adv = centred
    add("grpoAdvantages", scale, {}, {"groupSize": G, "scale": scale}, {"advantages": adv.reshape(-1)}, {},
        {"rewards": rewards})
others = (grouped.sum(1, keepdim=True) - grouped) / (G - 1)
add("rlooAdvantages", "rloo", {}, {"groupSize": G}, {"advantages": (grouped - others).reshape(-1)}, {},
    {"rewards": rewards})

os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as f:
    json.dump(
        {
            "generator": "scripts/reference/rlhf_losses.py",
            "torch": torch.__version__,
            "dtype": "float64 arithmetic on float32-exact inputs",
            "cases": cases,
        },
        f,
        indent=1,
    )
    f.write("\n")
print(f"wrote {len(cases)} cases to {os.path.relpath(OUT)}")
