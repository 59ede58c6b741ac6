#!/usr/bin/env bash
# Prepares the device run (benchmarks/gpu/run.sh) on this machine, then tries it here on lavapipe
# with --small sizes, so that the GPU's 15 minutes go to measuring, not to debugging.
#
# The device machine has CUDA, PyTorch, transformers and peft, but no Node and no network, so
# everything Node needs travels in the ignored folder .gpu/ (about 36 MB, under the 64 MB a call may carry):
#   .gpu/node.xz                      this machine's Node binary, xz-compressed (121 MB → 30 MB)
#   .gpu/node_modules/webgpu/         Dawn for Node, linux-x64 only, dawn.node xz-compressed (the bundles import it at run time)
#   .gpu/bundle/*.mjs                 kiln-gpu-bench.ts and kiln-interop.ts bundled by esbuild
#   .gl/*.deb                         the Vulkan loader (libvulkan1), as /work/.library/device/README.md says
# Then, on the device:  run({ command: 'bash benchmarks/gpu/run.sh', carry: ['.gpu', '.gl'], timeout_s: 560 })
#
#   bash benchmarks/gpu/prepare.sh            # build .gpu/ and .gl/, then the --small rehearsal here
#   SKIP_REHEARSAL=1 bash benchmarks/gpu/prepare.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

for ignored in /.gpu/ /.gl/; do
  grep -qxF "$ignored" .git/info/exclude 2>/dev/null || echo "$ignored" >> .git/info/exclude
done

rm -rf .gpu && mkdir -p .gpu/bundle .gpu/node_modules/webgpu/dist/linux-x64
echo "== bundles"
for entry in kiln-gpu-bench kiln-interop; do
  node_modules/.bin/esbuild "benchmarks/gpu/$entry.ts" --bundle --platform=node --format=esm \
    --target=node22 --conditions=@kiln/source --outfile=".gpu/bundle/$entry.mjs" --log-level=warning \
    --banner:js="import { createRequire as __kilnRequire } from 'node:module'; const require = __kilnRequire(import.meta.url);"
done

echo "== Dawn (webgpu package, linux-x64)"
WEBGPU=$(node -e "console.log(require('node:path').dirname(require.resolve('webgpu/package.json', { paths: ['$ROOT/packages/tensor'] })))")
cp "$WEBGPU/package.json" "$WEBGPU/index.js" .gpu/node_modules/webgpu/
cp "$WEBGPU/dist/linux-x64/dawn.node" .gpu/node_modules/webgpu/dist/linux-x64/

echo "== Node $(node --version) (xz)"
xz -T2 -6 -c "$(command -v node)" > .gpu/node.xz

if ! ls .gl/*.deb > /dev/null 2>&1; then
  echo "== Vulkan loader debs (.gl)"
  mkdir -p .gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  # shellcheck disable=SC2086
  apt-get $o update -qq
  # shellcheck disable=SC2086
  (cd .gl && apt-get $o download libvulkan1 > /dev/null)
fi
du -sh .gpu .gl

if [ "${SKIP_REHEARSAL:-0}" != 1 ]; then
  echo "== rehearsal here (lavapipe, --small): the bundles with the carried Dawn"
  out=$(mktemp -d)
  node .gpu/bundle/kiln-gpu-bench.mjs --small > "$out/bench.json"
  node -e "const r = JSON.parse(require('fs').readFileSync('$out/bench.json', 'utf8').trim().split('\n').at(-1)); console.log(r.adapter, r.matmul.length, 'matmul rows,', r.train.tokensPerSecond.toFixed(0), 'tokens/s')"
  mkdir -p "$out/interop"
  node .gpu/bundle/kiln-interop.mjs export "$out/interop"
  ls "$out/interop"
  rm -rf "$out"
fi
# Dawn travels compressed too (21 MB → 5 MB); run.sh unpacks it
xz -T2 -6 -f .gpu/node_modules/webgpu/dist/linux-x64/dawn.node
du -sh .gpu
echo "ready: run({ command: 'bash benchmarks/gpu/run.sh', carry: ['.gpu', '.gl'], timeout_s: 560 })"
