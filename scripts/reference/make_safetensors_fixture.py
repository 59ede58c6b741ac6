#!/usr/bin/env python3
"""safetensors cross-checks between PyTorch and @kiln/tensor/safetensors.

    make_safetensors_fixture.py [--out PATH]   write the PyTorch-made fixture that Kiln's tests read
                                               (default: packages/tensor/test/fixtures/torch-reference.safetensors)
    make_safetensors_fixture.py --dump PATH    read any safetensors file with PyTorch and print its
                                               tensors as JSON (Kiln's tests use this to check that
                                               files written by Kiln load in PyTorch)

The file is written and read by hand (gpt.py's write_safetensors/read_safetensors); the
`safetensors` Python package is not needed. The values below are also written out in
packages/tensor/test/safetensors-fixture.test.ts: change both together.
"""

import argparse
import json
import math
import os
import sys

import torch

sys.dont_write_bytecode = True  # importing gpt.py must not leave __pycache__ in the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt import read_safetensors, write_safetensors  # noqa: E402

DEFAULT_OUT = os.path.join(os.path.dirname(__file__), "..", "..", "packages", "tensor", "test", "fixtures",
                           "torch-reference.safetensors")


def fixture_tensors():
    """One tensor per dtype Kiln loads, with values that exercise rounding and range edges."""
    return {
        "f32.matrix": torch.arange(6, dtype=torch.float32).reshape(2, 3) * 0.5 - 1.0,
        "f16.values": torch.tensor([[0.1, -2.5], [65504.0, 2.0 ** -24]], dtype=torch.float16),
        "bf16.values": torch.tensor([1.0, math.pi, -1e-3, 3e38], dtype=torch.bfloat16),
        "f64.third": torch.tensor([1.0 / 3.0], dtype=torch.float64),
        "i64.ids": torch.tensor([0, 1, -5, 2 ** 31 - 1], dtype=torch.int64),
        "i32.ids": torch.tensor([[1, -2], [3, -4]], dtype=torch.int32),
        "u8.bytes": torch.tensor([0, 7, 255], dtype=torch.uint8),
        "bool.mask": torch.tensor([True, False, True]),
        "scalar": torch.tensor(3.25, dtype=torch.float32),
        "empty": torch.zeros(0, 4, dtype=torch.float32),
    }


def to_json_value(x):
    """JSON has no NaN/Infinity: encode them as strings."""
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def dump(path):
    tensors, metadata = read_safetensors(path)
    out = {"metadata": metadata, "tensors": {}}
    for name, t in tensors.items():
        values = t.to(torch.float64 if t.is_floating_point() else torch.int64).flatten().tolist()
        out["tensors"][name] = {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
                                "values": [to_json_value(v) for v in values]}
    print(json.dumps(out))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--dump", metavar="PATH", help="print the tensors of a safetensors file as JSON")
    args = parser.parse_args()
    if args.dump:
        dump(args.dump)
        return
    write_safetensors(args.out, fixture_tensors(), {"format": "pt", "producer": "make_safetensors_fixture.py"})
    for name, t in fixture_tensors().items():
        print(name, str(t.dtype).replace("torch.", ""), list(t.shape), t.to(torch.float64).flatten().tolist())


if __name__ == "__main__":
    main()
