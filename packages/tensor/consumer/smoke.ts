// Run by the release dry run (scripts/release/dry-run.mjs) in a scratch project that installed
// the packed tarball with npm, and type-checked there with skipLibCheck false and lib es2023.
// `webgpu` (Dawn) is an optional peer and is not installed there: asking for it must say how.
import { init, type Tensor, tensor } from '@kiln/tensor';
import { parseSafetensors, tensorsToSafetensors } from '@kiln/tensor/safetensors';

const info = await init({ backend: 'cpu' });
const a: Tensor = tensor([
  [1, 2],
  [3, 4],
]);
const product = await a.matmul(a.T).toArray();
if (JSON.stringify(product) !== '[[5,11],[11,25]]') throw new Error(`matmul gave ${JSON.stringify(product)}`);

const bytes = await tensorsToSafetensors({ a });
if (!parseSafetensors(bytes).tensors.has('a')) throw new Error('safetensors round trip lost a');

let message = '';
try {
  await init({ backend: 'webgpu' });
} catch (error) {
  message = (error as Error).message;
}
if (!navigatorHasGpu() && !message.includes('npm install webgpu')) {
  throw new Error(
    `init({ backend: 'webgpu' }) without the webgpu package should name its install, got: ${message}`,
  );
}
console.log(
  `@kiln/tensor on ${info.name}: matmul, safetensors; webgpu without Dawn says: ${message.slice(0, 60)}…`,
);

function navigatorHasGpu(): boolean {
  return typeof (globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu === 'object';
}
