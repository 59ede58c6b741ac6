#!/usr/bin/env bash
# The whole GPU run, in one command on the device machine (see README.md beside this file):
#   run({ command: 'bash benchmarks/gpu/run.sh', carry: ['.gpu', '.gl'], timeout_s: 560 })
# after `bash benchmarks/gpu/prepare.sh` here. Writes to $OUT (the device's result folder):
#   interop.jsonl  one line per check: Kiln ⇄ transformers/peft logits (hf_interop.py)
#   torch.json     PyTorch matmul GFLOP/s and GPT-2 124M steps (fp32 eager, TF32, bf16 autocast)
#   kiln.json      Kiln matmul GFLOP/s and the GPT-2 124M step through Dawn's Vulkan backend
#   summary.json   the headline numbers and ratios; log.txt everything printed
# Each part has its own time limit, so one that hangs leaves the others' results.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/kiln-gpu-out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
export PYTHONUNBUFFERED=1
SIZES=${SIZES:-256,512,1024,2048,4096}
BATCH=${BATCH:-8}
CONTEXT=${CONTEXT:-1024}
STEPS=${STEPS:-10}
stamp() { echo "[run.sh $(date +%T)] $*"; }

stamp "Vulkan loader and Node"
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES=$icd
mkdir -p /tmp/kiln-node && xz -dc .gpu/node.xz > /tmp/kiln-node/node && chmod +x /tmp/kiln-node/node
export PATH=/tmp/kiln-node:$PATH
dawn=.gpu/node_modules/webgpu/dist/linux-x64/dawn.node
[ -f "$dawn.xz" ] && xz -dc "$dawn.xz" > "$dawn"
node --version
nvidia-smi -L || true
python3 -c 'import torch, transformers, peft; print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__)'

stamp "1. interop with transformers and peft (Kiln on ${INTEROP_BACKEND:=webgpu})"
dir=$(mktemp -d)
(
  export KILN_BACKEND=$INTEROP_BACKEND
  timeout 120 node .gpu/bundle/kiln-interop.mjs export "$dir" &&
    timeout 120 python3 benchmarks/gpu/hf_interop.py check-kiln "$dir" &&
    timeout 120 python3 benchmarks/gpu/hf_interop.py make-hf "$dir" &&
    timeout 120 node .gpu/bundle/kiln-interop.mjs import "$dir" &&
    timeout 120 python3 benchmarks/gpu/hf_interop.py check-import "$dir"
) | tee "$OUT/interop-raw.txt"
grep '^{"check"' "$OUT/interop-raw.txt" > "$OUT/interop.jsonl" || true

stamp "2. PyTorch on the GPU"
timeout 180 python3 benchmarks/gpu/torch_gpu_bench.py --sizes "$SIZES" --batch "$BATCH" --context "$CONTEXT" --steps "$STEPS" |
  tee "$OUT/torch-raw.txt"
tail -n 1 "$OUT/torch-raw.txt" > "$OUT/torch.json"

stamp "3. Kiln on the GPU (Dawn, Vulkan)"
timeout "${KILN_TIMEOUT:-300}" node .gpu/bundle/kiln-gpu-bench.mjs ${SMALL:+--small} --sizes "$SIZES" --batch "$BATCH" --context "$CONTEXT" --steps "$STEPS" |
  tee "$OUT/kiln-raw.txt"
tail -n 1 "$OUT/kiln-raw.txt" > "$OUT/kiln.json"

stamp "summary"
python3 benchmarks/gpu/summarize.py "$OUT" | tee "$OUT/summary.txt"
stamp "done"
