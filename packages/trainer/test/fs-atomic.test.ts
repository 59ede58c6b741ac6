import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../src/node.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-atomic-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  it('creates and replaces files from text, bytes or chunks, leaving no temporary files', async () => {
    const path = join(dir, 'state.json');
    await writeFileAtomic(path, '{"a":1}');
    expect(await readFile(path, 'utf8')).toBe('{"a":1}');
    await writeFileAtomic(path, new TextEncoder().encode('bytes'));
    expect(await readFile(path, 'utf8')).toBe('bytes');
    await writeFileAtomic(path, [new Uint8Array([104, 105]), new Uint8Array([]), new Uint8Array([33])]);
    expect(await readFile(path, 'utf8')).toBe('hi!');
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('fails cleanly when the directory does not exist', async () => {
    await expect(writeFileAtomic(join(dir, 'missing', 'x'), 'x')).rejects.toThrow(/ENOENT/);
    expect(await readdir(dir)).toEqual(['state.json']);
  });
});
