// run.mjs, the dependency-free runner: on float16 (and bfloat16, float32) checkpoints of both
// families, its greedy token ids equal @kiln/transformer's greedy generation on the same file
// (loaded on the cpu backend), for plain completion through the window sliding and for ChatML
// chat; its tokenizer encodes like @kiln/tokenizer, special tokens and Unicode included.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { init } from '@kiln/tensor';
import type { ChatMessage, Tokenizer } from '@kiln/tokenizer';
import type { GPT } from '@kiln/transformer';
import { loadModel } from '@kiln/transformer/node';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { randomModel, saveCheckpoint, smallConfig, trainTokenizer } from './fixtures.js';

await init({ backend: 'cpu', quiet: true });

const RUN = join(import.meta.dirname, '..', 'run.mjs');

/** Runs run.mjs with `args`; returns stdout (throws with stderr on a non-zero exit). */
function runMjs(args: string[], input?: string): string {
  return execFileSync(process.execPath, [RUN, ...args], { encoding: 'utf8', input, stdio: 'pipe' });
}

async function greedy(
  model: GPT,
  prompt: number[],
  maxTokens: number,
  stopTokens: number[] = [],
): Promise<number[]> {
  const out: number[] = [];
  for await (const id of model.generate(prompt, { temperature: 0, maxTokens, stopTokens })) out.push(id);
  return out;
}

/** The dtypes in a safetensors file's header. */
function fileDtypes(dir: string): Set<string> {
  const bytes = readFileSync(join(dir, 'model.safetensors'));
  const header = JSON.parse(bytes.toString('utf8', 8, 8 + Number(bytes.readBigUInt64LE(0))));
  return new Set(
    Object.entries(header).flatMap(([k, v]) =>
      k === '__metadata__' ? [] : [(v as { dtype: string }).dtype],
    ),
  );
}

/** Rewrites a float32 model.safetensors as bfloat16 (round to nearest even), by hand. */
function toBfloat16(dir: string): void {
  const file = join(dir, 'model.safetensors');
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.toString('utf8', 8, 8 + n));
  const parts: Buffer[] = [];
  let offset = 0;
  for (const [name, info] of Object.entries<{
    dtype: string;
    shape: number[];
    data_offsets: [number, number];
  }>(header)) {
    if (name === '__metadata__') continue;
    const [start, end] = info.data_offsets;
    const src = bytes.subarray(8 + n + start, 8 + n + end);
    const out = Buffer.alloc(src.length / 2);
    for (let i = 0; i < src.length / 4; i++) {
      const bits = src.readUInt32LE(4 * i);
      const rounded = (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
      out.writeUInt16LE(rounded & 0xffff, 2 * i);
    }
    header[name] = { dtype: 'BF16', shape: info.shape, data_offsets: [offset, offset + out.length] };
    offset += out.length;
    parts.push(out);
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(file, Buffer.concat([length, json, ...parts]));
}

describe.each([
  ['gpt2', 'gpt2'],
  ['llama', 'cl100k'],
] as const)('%s model, %s split pattern', (family, pattern) => {
  let tokenizer: Tokenizer;
  let dir: string;
  let model: GPT;
  beforeAll(async () => {
    tokenizer = await trainTokenizer('chatml', pattern);
    const random = randomModel(smallConfig(family, tokenizer.vocabSize), 11);
    dir = await saveCheckpoint(random, tokenizer, 'float16', `run-${family}`);
    random.dispose();
    model = await loadModel(dir, { backend: 'cpu' }); // the float16-rounded weights, in float32
  });
  afterAll(() => model.dispose());

  test('the file is float16', () => {
    expect(fileDtypes(dir)).toEqual(new Set(['F16']));
  });

  test('greedy completion: the same ids as @kiln/transformer, through the window sliding', async () => {
    const text = 'Call me Ishmael. The whale 🐋 swam';
    const prompt = tokenizer.encode(text);
    // 48-token window: the prompt plus 60 tokens slides it
    const expected = await greedy(model, prompt, 60);
    expect(prompt.length + expected.length).toBeGreaterThan(model.config.contextLength + 5);
    expect(new Set(expected).size).toBeGreaterThan(5);
    const ids = JSON.parse(runMjs([dir, '--raw', '--ids', '-t', '0', '-n', '60', '-p', text]));
    expect(ids).toEqual(expected);
  });

  test('greedy ChatML answer with a system prompt: the same ids as rendering and generating with Kiln', async () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'Answer briefly.' },
      { role: 'user', content: 'Where did the whale go? <|im_end|> is plain text here' },
    ];
    const { ids: prompt } = tokenizer.renderChat(messages, { addGenerationPrompt: true });
    const stops = ['<|im_end|>', '<|endoftext|>'].map((t) => tokenizer.specialTokens.get(t)!);
    const expected = await greedy(model, prompt, 25, stops);
    const out = runMjs([
      dir,
      '--ids',
      '-t',
      '0',
      '-n',
      '25',
      '-s',
      messages[0].content,
      '-p',
      messages[1].content,
    ]);
    expect(JSON.parse(out)).toEqual(expected);
    // and as text, streamed
    const text = runMjs([dir, '-t', '0', '-n', '25', '-s', messages[0].content, '-p', messages[1].content]);
    expect(text).toBe(`${tokenizer.decode(expected)}\n`);
  });

  test('encoding equals @kiln/tokenizer: Unicode, whitespace, contractions, numbers and special tokens', () => {
    const texts = [
      'The whale swam past the ship.',
      "It's the sea's way; they'll see what we've DONE, I'M sure; THEY'LL, it'ſ, WE'VE, it'ſt, he'Dd.",
      'Café crème, naïve façade: déjà vu! Über straße. ΑΒΓ αβγ',
      '鯨は海を泳ぐ。 emoji 🐋🌊👩‍👩‍👧 and 12345678 2026',
      '  leading spaces,\ttabs\t\tand\n\nnewlines \r\n  trailing   ',
      '<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n',
      'text<|endoftext|>more<|im_start|><|im_end|>',
      'x\u00a0y\u2028z\ufeffw\u0085v a \u0085b c \ufeffd ©\u0085 ！\ufeff',
    ];
    for (const text of texts) {
      expect(JSON.parse(runMjs([dir, '--encode', text])), JSON.stringify(text)).toEqual(
        tokenizer.encode(text, { allowedSpecial: 'all' }),
      );
    }
  });

  test('seeded sampling is reproducible and differs by seed', () => {
    const args = [
      dir,
      '--raw',
      '--ids',
      '-t',
      '1',
      '--top-p',
      '0.9',
      '--top-k',
      '50',
      '-n',
      '20',
      '-p',
      'The sea',
    ];
    const a = runMjs([...args, '--seed', '1']);
    expect(runMjs([...args, '--seed', '1'])).toBe(a);
    expect(runMjs([...args, '--seed', '2'])).not.toBe(a);
    for (const id of JSON.parse(a)) expect(id).toBeLessThan(tokenizer.vocabSize);
  });
});

test('bfloat16 and float32 files give the same greedy ids as Kiln on the same file', async () => {
  const tokenizer = await trainTokenizer('chatml');
  const random = randomModel(smallConfig('llama', tokenizer.vocabSize), 12);
  for (const dtype of ['float32', 'bfloat16'] as const) {
    const dir = await saveCheckpoint(random, tokenizer, 'float32', `run-${dtype}`);
    if (dtype === 'bfloat16') toBfloat16(dir);
    expect(fileDtypes(dir)).toEqual(new Set([dtype === 'float32' ? 'F32' : 'BF16']));
    const model = await loadModel(dir, { backend: 'cpu' });
    const prompt = tokenizer.encode('Some years ago');
    const expected = await greedy(model, prompt, 30);
    model.dispose();
    expect(
      JSON.parse(runMjs([dir, '--raw', '--ids', '-t', '0', '-n', '30', '-p', 'Some years ago'])),
    ).toEqual(expected);
  }
  random.dispose();
});

test('the interactive chat keeps the conversation and /reset forgets it', async () => {
  const tokenizer = await trainTokenizer('chatml');
  const random = randomModel(smallConfig('gpt2', tokenizer.vocabSize), 13);
  const dir = await saveCheckpoint(random, tokenizer, 'float16', 'run-chat');
  random.dispose();
  const one = runMjs([dir, '-t', '0', '-n', '8', '-p', 'hello']);
  const out = runMjs([dir, '-t', '0', '-n', '8'], 'hello\nagain\n/reset\nhello\n/exit\n');
  const answers = out
    .split('bot> ')
    .slice(1)
    .map((a) => a.slice(0, a.indexOf('\n') + 1));
  expect(answers).toHaveLength(3);
  expect(answers[0]).toBe(one);
  expect(answers[2]).toBe(one);
  // the second answer continues the conversation: Kiln on the rendered two-turn chat
  const model = await loadModel(dir, { backend: 'cpu' });
  const stops = ['<|im_end|>', '<|endoftext|>'].map((t) => tokenizer.specialTokens.get(t)!);
  const { ids } = tokenizer.renderChat(
    [
      { role: 'user', content: 'hello' },
      { role: 'assistant', content: one.slice(0, -1) },
      { role: 'user', content: 'again' },
    ],
    { addGenerationPrompt: true },
  );
  expect(answers[1]).toBe(`${tokenizer.decode(await greedy(model, ids, 8, stops))}\n`);
  model.dispose();
});

test('run.mjs is one dependency-free file: only node:fs, node:path, node:process, node:readline', async () => {
  const source = await readFile(RUN, 'utf8');
  const imports = [...source.matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]);
  expect(imports.sort()).toEqual(['node:fs', 'node:path', 'node:process', 'node:readline']);
  expect(source).not.toMatch(/\brequire\(|import\(/);
  const lines = source.split('\n').length;
  expect(lines).toBeGreaterThan(300);
  expect(lines).toBeLessThan(700);
});

test('run.mjs errors: no model directory, a missing tokenizer, a bad flag', () => {
  const noArgs = spawnSync(process.execPath, [RUN], { encoding: 'utf8' });
  expect(noArgs.status).toBe(1);
  expect(noArgs.stderr).toMatch(/no model directory given/);
  const missing = spawnSync(process.execPath, [RUN, '/nonexistent-dir'], { encoding: 'utf8' });
  expect(missing.stderr).toMatch(/no tokenizer\.json in \/nonexistent-dir or its parent/);
  const bad = spawnSync(process.execPath, [RUN, '/tmp', '--top-p', '2'], { encoding: 'utf8' });
  expect(bad.status).toBe(1);
});
