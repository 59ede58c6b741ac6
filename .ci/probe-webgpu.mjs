// Exits 0 when the `webgpu` package (Dawn) finds an adapter on this machine, 1 otherwise.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const require = createRequire(new URL('../packages/tensor/package.json', import.meta.url));
try {
  const { create } = await import(pathToFileURL(require.resolve('webgpu')).href);
  const adapter = await create([]).requestAdapter();
  if (!adapter) {
    console.log('no WebGPU adapter found');
    process.exit(1);
  }
  const info = adapter.info ?? {};
  console.log(
    `WebGPU adapter: ${[info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'found'}`,
  );
  process.exit(0);
} catch (err) {
  console.log(`WebGPU probe failed: ${err.message}`);
  process.exit(1);
}
