/** The README's training loop runs as written and learns XOR. */
import { readFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { join } from 'node:path';
import * as tensorApi from '@kiln/tensor';
import { expect, test } from 'vitest';
import { graphStats } from '../src/graph.js';
import * as autogradApi from '../src/index.js';

/** The first ```ts block of the README, with its imports turned into destructuring. */
function readmeExample(): { code: string; lines: number } {
  const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
  const block = /```ts\n([\s\S]*?)```/.exec(readme)![1];
  const code = block.replace(
    /import \{([^}]*)\} from '@kiln\/(tensor|autograd)';/g,
    (_, names: string, pkg: string) => {
      const values = names
        .split(',')
        .map((n) => n.trim())
        .filter((n) => n && !n.startsWith('type '));
      return `const { ${values.join(', ')} } = ${pkg === 'tensor' ? '__tensor' : '__autograd'};`;
    },
  );
  return { code: stripTypeScriptTypes(code), lines: block.trimEnd().split('\n').length };
}

test('the README training loop has fewer than 20 lines, runs, and learns', async () => {
  const { code, lines } = readmeExample();
  expect(lines).toBeLessThan(20);
  const logged: [number, number][] = [];
  const console = { log: (step: number, loss: number) => logged.push([step, loss]) };
  const saved = process.env.KILN_BACKEND;
  process.env.KILN_BACKEND = 'cpu';
  const before = tensorApi.memory().liveTensors;
  try {
    tensorApi.manualSeed(0);
    const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
    await new AsyncFunction('__tensor', '__autograd', 'console', code)(tensorApi, autogradApi, console);
  } finally {
    if (saved === undefined) delete process.env.KILN_BACKEND;
    else process.env.KILN_BACKEND = saved;
  }
  expect(logged.map(([s]) => s)).toEqual([100, 200, 300]);
  expect(logged[2][1]).toBeLessThan(0.05);
  // only the model's 3 parameters and x, y are left; nothing saved for backward
  expect(tensorApi.memory().liveTensors - before).toBe(5);
  expect(graphStats().savedTensors).toBe(0);
});
