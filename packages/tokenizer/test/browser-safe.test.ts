// Everything but the CLI must load in a browser: no static imports of Node built-ins.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const NODE_ONLY = new Set(['cli.ts', 'bin.ts']);

it('core modules do not import node: built-ins', () => {
  const dir = join(import.meta.dirname, '../src');
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts') && !NODE_ONLY.has(f));
  expect(files.length).toBeGreaterThan(10);
  for (const file of files) {
    const source = readFileSync(join(dir, file), 'utf8');
    expect(source, file).not.toMatch(/^import[^;]*from '(node:|fs|path|os)/m);
    expect(source, file).not.toMatch(/\bBuffer\.(from|alloc|concat)/);
  }
  const index = readFileSync(join(dir, 'index.ts'), 'utf8');
  expect(index).not.toContain('./cli.js');
});
