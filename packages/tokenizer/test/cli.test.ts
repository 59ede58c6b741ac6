import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { type CliIo, runCli } from '../src/cli.js';
import { Tokenizer } from '../src/index.js';
import { mobyDick, tiktokenFile } from './helpers/openai.js';

/** Runs the CLI in-process, capturing its output. */
async function cli(args: string[], stdin = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    stdin: () => Readable.from([Buffer.from(stdin)]),
  };
  const code = await runCli(args, io);
  return { code, stdout, stderr };
}

describe('kiln-tokenizer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-cli-'));
  const corpus = join(dir, 'corpus.txt');
  const other = join(dir, 'other.txt');
  const model = join(dir, 'tokenizer.json');
  writeFileSync(corpus, mobyDick().slice(0, 200_000));
  writeFileSync(other, 'Call me Ishmael. <|endoftext|>');

  it('trains on text files and writes a tokenizer.json', async () => {
    const result = await cli([
      'train',
      corpus,
      other,
      '--vocab-size',
      '800',
      '--special',
      '<|endoftext|>',
      '--out',
      model,
    ]);
    expect(result.stderr).toContain('vocabulary size 800');
    expect(result.code).toBe(0);
    const tokenizer = await Tokenizer.load(model);
    expect(tokenizer.vocabSize).toBe(800);
    expect(tokenizer.specialTokens.get('<|endoftext|>')).toBe(799);
  });

  it('encodes, decodes and counts', async () => {
    const tokenizer = await Tokenizer.load(model);
    const text = 'Call me Ishmael. <|endoftext|>';
    const encoded = await cli(['encode', '--tokenizer', model, other]);
    expect(encoded.code).toBe(0);
    expect(encoded.stdout.trim().split(' ').map(Number)).toEqual(tokenizer.encodeOrdinary(text));

    const special = await cli(['encode', '--tokenizer', model, '--allow-special', '--json', other]);
    expect(JSON.parse(special.stdout)).toEqual(tokenizer.encode(text, { allowedSpecial: 'all' }));

    const decoded = await cli(['decode', '--tokenizer', model], special.stdout);
    expect(decoded.stdout).toBe(text);

    const counted = await cli(['count', '--tokenizer', model, corpus, other]);
    const lines = counted.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(Number(lines[0].split('\t')[0])).toBe(
      tokenizer.encodeOrdinary(readFileSync(corpus, 'utf8')).length,
    );
    expect(lines[2]).toMatch(/^\d+\ttotal$/);
  });

  it('reads standard input and .tiktoken files', async () => {
    const ranks = join(dir, 'cl100k_base.tiktoken');
    writeFileSync(ranks, tiktokenFile('cl100k_base'));
    const result = await cli(['encode', '--tokenizer', ranks, '--pattern', 'cl100k', '-'], 'hello world');
    expect(result.stdout.trim()).toBe('15339 1917');
    expect((await cli(['count', '--tokenizer', ranks, '--pattern', 'cl100k'], 'hello world')).stdout).toBe(
      '2\n',
    );
  });

  it('prints usage and errors', async () => {
    expect((await cli(['--help'])).stdout).toContain('Usage:');
    expect((await cli([])).code).toBe(2);
    expect((await cli(['frobnicate'])).stderr).toContain('Unknown command');
    const missing = await cli(['encode', '--tokenizer', join(dir, 'nope.json')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('nope.json');
    expect((await cli(['train', corpus, '--vocab-size', '10', '--out', model])).stderr).toContain(
      'vocabSize must be',
    );
  });
});
