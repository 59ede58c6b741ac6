// @kiln/tokenizer against its peers.
//   Encoding: MB/s on Moby Dick (1.2 MB) for gpt2, cl100k_base and o200k_base, against tiktoken
//   (WASM), js-tiktoken and gpt-tokenizer. Cold = a fresh process: load the rank data and build
//   the encoder, then encode once. Warm = the same encoder, encoding again.
//   Training: time to vocabulary 4096 and 30000 on a ~34 MB corpus, against Hugging Face's
//   native trainer (npm `tokenizers`), each run in its own process to report peak memory.
// Environment: BENCH_RUNS (warm encodes per peer, default 8), BENCH_COLD_RUNS (default 3),
// BENCH_TRAIN_RUNS (default 2).
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import {
  formatRatio,
  formatSummary,
  printTable,
  type Summary,
  summarize,
  timeRuns,
  toRate,
  writeResults,
} from '../harness.js';
import type { Suite } from '../run.js';
import { ENCODINGS, type Encoding, mobyDick, trainingCorpusPath } from '../tokenizer/data.js';
import { createEncoder, importLibrary, PEERS, type Peer } from '../tokenizer/peers.js';

const WARM_RUNS = Number(process.env.BENCH_RUNS ?? 8);
const COLD_RUNS = Number(process.env.BENCH_COLD_RUNS ?? 3);
const TRAIN_RUNS = Number(process.env.BENCH_TRAIN_RUNS ?? 2);
const MB = 1e6;

/** Runs a child script with the same Node flags (TypeScript loader, source condition); parses its JSON line. */
function runChild<T>(script: string, args: string[]): T {
  const result = spawnSync(
    process.execPath,
    [...process.execArgv, join(import.meta.dirname, '..', 'tokenizer', script), ...args],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    },
  );
  const line = result.stdout.trim().split('\n').at(-1) ?? '';
  if (result.status !== 0 || !line.startsWith('{')) {
    throw new Error(`${script} ${args.join(' ')} failed (${result.status}):\n${result.stderr.slice(-2000)}`);
  }
  return JSON.parse(line) as T;
}

interface EncodeResult {
  encoding: Encoding;
  peer: Peer;
  tokens: number;
  coldLoadMs: Summary;
  coldFirstEncodeMBps: Summary;
  warmMBps: Summary;
}

async function benchEncoding(): Promise<EncodeResult[]> {
  const text = mobyDick();
  const bytes = new TextEncoder().encode(text).length;
  console.log(
    `Encoding Moby Dick: ${(bytes / MB).toFixed(2)} MB of UTF-8. Rates in MB/s, median (min–max).\n`,
  );
  const results: EncodeResult[] = [];
  for (const encoding of ENCODINGS) {
    for (const peer of PEERS) {
      const cold = Array.from({ length: COLD_RUNS }, () =>
        runChild<{ loadMs: number; firstEncodeMs: number; tokens: number }>('cold-child.ts', [
          peer,
          encoding,
        ]),
      );
      await importLibrary(peer);
      const encode = await createEncoder(peer, encoding);
      const tokens = encode(text).length;
      const warm = await timeRuns(() => encode(text), WARM_RUNS, 1);
      results.push({
        encoding,
        peer,
        tokens,
        coldLoadMs: summarize(cold.map((c) => c.loadMs)),
        coldFirstEncodeMBps: summarize(cold.map((c) => bytes / MB / (c.firstEncodeMs / 1000))),
        warmMBps: toRate(warm, bytes / MB),
      });
    }
  }
  const rows = results.map((r) => {
    const kiln = results.find((k) => k.encoding === r.encoding && k.peer === 'kiln')!;
    return [
      r.encoding,
      r.peer,
      String(r.tokens),
      formatSummary(r.coldLoadMs, 0),
      formatSummary(r.coldFirstEncodeMBps),
      formatSummary(r.warmMBps),
      r.peer === 'kiln' ? '' : formatRatio(kiln.coldFirstEncodeMBps.median / r.coldFirstEncodeMBps.median),
      r.peer === 'kiln' ? '' : formatRatio(kiln.warmMBps.median / r.warmMBps.median),
    ];
  });
  printTable(
    [
      'encoding',
      'encoder',
      'tokens',
      'cold load ms',
      'cold 1st encode MB/s',
      'warm MB/s',
      'kiln÷peer cold',
      'kiln÷peer warm',
    ],
    rows,
  );
  for (const encoding of ENCODINGS) {
    const counts = new Set(results.filter((r) => r.encoding === encoding).map((r) => r.tokens));
    if (counts.size !== 1) console.log(`WARNING: the encoders disagree on the token count for ${encoding}.`);
  }
  return results;
}

interface TrainResult {
  trainer: 'kiln' | 'huggingface';
  targetVocab: number;
  vocabSize: number;
  seconds: Summary;
  maxRssMb: Summary;
}

function benchTraining(): TrainResult[] {
  const corpus = trainingCorpusPath();
  const size = statSync(corpus).size;
  console.log(
    `Training on ${(size / MB).toFixed(1)} MB (Spam Assassin mails + Moby Dick), cl100k split pattern.`,
  );
  console.log('Seconds and peak RSS (whole process), median (min–max).\n');
  const results: TrainResult[] = [];
  const runs: [TrainResult['trainer'], number][] = [
    ['kiln', 4096],
    ['kiln', 30000],
    ['huggingface', 30000],
  ];
  for (const [trainer, targetVocab] of runs) {
    const samples = Array.from({ length: TRAIN_RUNS }, () =>
      runChild<{ ms: number; vocabSize: number; maxRssMb: number }>('train-child.ts', [
        trainer === 'kiln' ? 'kiln' : 'hf',
        String(targetVocab),
        corpus,
      ]),
    );
    results.push({
      trainer,
      targetVocab,
      vocabSize: samples[0].vocabSize,
      seconds: summarize(samples.map((s) => s.ms / 1000)),
      maxRssMb: summarize(samples.map((s) => s.maxRssMb)),
    });
  }
  const hf = results.find((r) => r.trainer === 'huggingface')!;
  printTable(
    ['vocab', 'trainer', 'final vocab', 'seconds', 'peak RSS MB', 'kiln÷HF time'],
    [
      ...results.map((r) => [
        String(r.targetVocab),
        r.trainer,
        String(r.vocabSize),
        formatSummary(r.seconds, 2),
        formatSummary(r.maxRssMb, 0),
        r.trainer === 'kiln' && r.targetVocab === hf.targetVocab
          ? formatRatio(r.seconds.median / hf.seconds.median)
          : '',
      ]),
      [
        '4096',
        'huggingface',
        'n/a',
        'n/a: the npm binding only trains with its default vocabulary size (30000)',
        '',
        '',
      ],
    ],
  );
  return results;
}

const suite: Suite = {
  name: 'tokenizer',
  async run() {
    const encoding = await benchEncoding();
    const training = benchTraining();
    writeResults('tokenizer', { encoding, training, corpusBytes: statSync(trainingCorpusPath()).size });
  },
};
export default suite;
