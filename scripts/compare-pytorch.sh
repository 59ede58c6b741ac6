#!/usr/bin/env bash
# Kiln vs PyTorch: train the same GPT-2-style model on the same token file, with the same
# config and the same batches, with Kiln (examples/pretrain) and with the PyTorch reference
# (scripts/reference/gpt.py), then tabulate and plot the validation losses.
#
#   scripts/compare-pytorch.sh                      # Kiln on cpu
#   BACKENDS=cpu,webgpu scripts/compare-pytorch.sh  # Kiln on both backends
#
# Environment: OUT (default runs/compare), BACKENDS (default cpu), KILN_PYTHON (a Python with
# torch, default /usr/bin/python3), SVG (default docs/img/kiln-vs-pytorch.svg).
# See docs/pretraining.md for the results.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-runs/compare}
BACKENDS=${BACKENDS:-cpu}
PYTHON=${KILN_PYTHON:-/usr/bin/python3}
SVG=${SVG:-docs/img/kiln-vs-pytorch.svg}
CONFIG=examples/pretrain/configs/compare.json

kiln_dirs=()
for backend in ${BACKENDS//,/ }; do
  echo "== Kiln on $backend"
  pnpm --filter @kiln/example-pretrain start -- --config "$CONFIG" --backend "$backend" --out "$OUT/kiln-$backend"
  kiln_dirs+=("$OUT/kiln-$backend")
done

# PyTorch reads the token file (and tokenizer vocabulary) the first Kiln run wrote.
first=${kiln_dirs[0]}
vocab=$("$PYTHON" -c "import json, sys; print(json.load(open(sys.argv[1]))['vocab_size'])" "$first/model/config.json")
pnpm --filter @kiln/example-pretrain compare -- pytorch-config "$CONFIG" "$OUT/pytorch-config.json" --vocab "$vocab"
echo "== PyTorch"
"$PYTHON" scripts/reference/gpt.py train --tokens "$first/moby-dick.kilntok" --config "$OUT/pytorch-config.json" --out "$OUT/pytorch"

echo "== Report"
pnpm --filter @kiln/example-pretrain compare -- report --kiln "$(IFS=,; echo "${kiln_dirs[*]}")" --pytorch "$OUT/pytorch" --svg "$SVG"
