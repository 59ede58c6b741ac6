#!/usr/bin/env bash
# Kiln vs PyTorch: train the same GPT-2-style model on the same token file, with the same
# config, the same batches and (by default) the same initial weights, with Kiln
# (examples/pretrain) and with the PyTorch reference (scripts/reference/gpt.py), then tabulate
# and plot the validation losses. Results and discussion: docs/pretraining.md.
#
#   scripts/compare-pytorch.sh                      # Kiln on cpu, same initial weights
#   BACKENDS=cpu,webgpu scripts/compare-pytorch.sh  # Kiln on both backends
#   INIT=random scripts/compare-pytorch.sh          # each side draws its own initial weights
#
# Environment: OUT (default runs/compare), BACKENDS (default cpu), INIT (same | random),
# CONFIG (default examples/pretrain/configs/compare.json), KILN_PYTHON (a Python with torch,
# default /usr/bin/python3), SVG (default: no plot; docs/img/kiln-vs-pytorch.svg for the docs).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-runs/compare}
BACKENDS=${BACKENDS:-cpu}
INIT=${INIT:-same}
CONFIG=${CONFIG:-examples/pretrain/configs/compare.json}
PYTHON=${KILN_PYTHON:-/usr/bin/python3}
SVG=${SVG:-$OUT/kiln-vs-pytorch.svg}

echo "== Data: tokenizer, token file and the PyTorch config"
pnpm --filter @kiln/example-pretrain compare -- prepare --config "$CONFIG" --out "$OUT"

init_flags=()
if [ "$INIT" = same ]; then
  "$PYTHON" scripts/reference/export_init.py --config "$OUT/pytorch-config.json" --out "$OUT/init"
  init_flags=(--init-from "$OUT/init")
fi

kiln_dirs=()
for backend in ${BACKENDS//,/ }; do
  echo "== Kiln on $backend"
  pnpm --filter @kiln/example-pretrain start -- --config "$CONFIG" --backend "$backend" --out "$OUT/kiln-$backend" "${init_flags[@]}"
  kiln_dirs+=("$OUT/kiln-$backend")
done

echo "== PyTorch"
"$PYTHON" scripts/reference/gpt.py train --tokens "$OUT/data/moby-dick.kilntok" --config "$OUT/pytorch-config.json" --out "$OUT/pytorch"

echo "== Report"
pnpm --filter @kiln/example-pretrain compare -- report --kiln "$(IFS=,; echo "${kiln_dirs[*]}")" --pytorch "$OUT/pytorch" --svg "$SVG"
