// The README's training snippet must run as written (with the file names pointed at temp files).
import { createReadStream, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { Tokenizer } from '../src/index.js';
import { mobyDick } from './helpers/openai.js';

it('runs the README snippet: train on a text file, save, encode a chat', async () => {
  const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
  const snippet = /```ts\n([\s\S]*?)```/.exec(readme)![1];
  const dir = mkdtempSync(join(tmpdir(), 'kiln-readme-'));
  const corpus = join(dir, 'corpus.txt');
  const saved = join(dir, 'tokenizer.json');
  writeFileSync(corpus, mobyDick().slice(0, 300_000));
  const code = snippet
    .replace(/^import .*$/gm, '')
    .replaceAll("'corpus.txt'", JSON.stringify(corpus))
    .replaceAll("'tokenizer.json'", JSON.stringify(saved));
  const logs: unknown[][] = [];
  const AsyncFunction = (async () => {}).constructor as new (
    ...args: string[]
  ) => (...a: unknown[]) => Promise<void>;
  await new AsyncFunction('createReadStream', 'Tokenizer', 'console', code)(createReadStream, Tokenizer, {
    log: (...args: unknown[]) => logs.push(args),
  });
  expect(existsSync(saved)).toBe(true);
  expect(logs[0][0]).toMatch(/^\d+ merges$/);
  expect(logs[1][1]).toBe('Call me Ishmael.');
  expect(logs[2][1]).toBeGreaterThan(0); // some tokens are the assistant's
});
