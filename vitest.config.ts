import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// One vitest project per package/example that has tests. Workspace packages are consumed from
// source through the `@kiln/source` export condition (tests run in Vite's SSR environment, so the
// condition goes into `ssr.resolve.conditions`; plain `resolve.conditions` is ignored there).
const root = import.meta.dirname;
const candidates = [
  'packages/tensor',
  'packages/autograd',
  'packages/tokenizer',
  'packages/transformer',
  'packages/moe',
  'packages/trainer',
  'packages/rlhf',
  'packages/scaling',
  'examples/tensor-tour',
  'examples/pretrain',
  'examples/finetune',
  'examples/chat',
  'examples/scaling',
  'examples/moe',
  'examples/rlhf',
];
const projects = candidates
  .filter((dir) => existsSync(join(root, dir, 'test')))
  .map((dir) => ({
    extends: true as const,
    test: {
      // an example named like a package (examples/scaling and packages/scaling) gets an `example-` prefix
      name:
        dir.startsWith('examples/') && candidates.includes(`packages/${dir.split('/')[1]}`)
          ? `example-${dir.split('/')[1]}`
          : dir.split('/')[1],
      root: join(root, dir),
      include: ['test/**/*.test.ts'],
    },
  }));

export default defineConfig({
  ssr: { resolve: { conditions: ['@kiln/source'] } },
  resolve: { conditions: ['@kiln/source'] },
  test: {
    projects,
    // matmul autotune results stay in memory: tests measure afresh and never write to ~/.cache
    env: { KILN_AUTOTUNE_CACHE: '0' },
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // WebGPU on a software adapter is CPU-bound: running many GPU test files at once only
    // makes them compete for the two cores.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
