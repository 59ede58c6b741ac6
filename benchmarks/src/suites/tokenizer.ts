// @kiln/tokenizer against its peers.
//   Encoding: MB/s on Moby Dick (1.2 MB) for gpt2, cl100k_base and o200k_base, against tiktoken
//   (WASM), js-tiktoken and gpt-tokenizer. Cold = a fresh process: load the rank data and build
//   the encoder, then encode once. Warm = the same encoder, encoding again.
//   Training: time to vocabulary 4096 and 30000 on a ~34 MB corpus, against Hugging Face's
//   native trainer (npm `tokenizers`), each run in its own process to report peak memory.
// Environment: BENCH_RUNS (warm encodes per peer, default 10), BENCH_COLD_RUNS (default 3),
// BENCH_TRAIN_RUNS (default 2).
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import {
  formatRatio,
  formatSummary,
  measure,
  printTable,
  type Summary,
  summarize,
  writeResults,
} from '../harness.js';
import type { Suite } from '../run.js';
import { ENCODINGS, type Encoding, mobyDick, trainingCorpusPath } from '../tokenizer/data.js';
import { createEncoder, type Encode, importLibrary, PEERS, type Peer } from '../tokenizer/peers.js';

const WARM_RUNS = Number(process.env.BENCH_RUNS ?? 10);
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
  coldLoadCpuMs: Summary;
  coldFirstEncodeCpuMBps: Summary;
  warmMBps: Summary;
  /** MB per CPU second of this process: less sensitive to other processes than wall time. */
  warmCpuMBps: Summary;
}

type Pick = (r: EncodeResult) => Summary;

async function benchEncoding(): Promise<EncodeResult[]> {
  const text = mobyDick();
  const megabytes = new TextEncoder().encode(text).length / MB;
  console.log(`Encoding Moby Dick: ${megabytes.toFixed(2)} MB of UTF-8. Rates in MB/s, median (min–max).`);
  console.log('Warm runs go round-robin over the encoders, so load from other processes hits all alike.\n');
  const rate = (ms: number) => megabytes / (ms / 1000);
  const results: EncodeResult[] = [];
  for (const encoding of ENCODINGS) {
    const encoders: { peer: Peer; encode: Encode; tokens: number; wall: number[]; cpu: number[] }[] = [];
    for (const peer of PEERS) {
      await importLibrary(peer);
      const encode = await createEncoder(peer, encoding);
      encoders.push({ peer, encode, tokens: encode(text).length, wall: [], cpu: [] });
    }
    for (let round = 0; round < WARM_RUNS; round++) {
      for (const e of encoders) {
        const { wallMs, cpuMs } = measure(() => e.encode(text));
        e.wall.push(rate(wallMs));
        e.cpu.push(rate(cpuMs));
      }
    }
    for (const e of encoders) {
      const cold = Array.from({ length: COLD_RUNS }, () =>
        runChild<{ loadMs: number; loadCpuMs: number; firstEncodeMs: number; firstEncodeCpuMs: number }>(
          'cold-child.ts',
          [e.peer, encoding],
        ),
      );
      results.push({
        encoding,
        peer: e.peer,
        tokens: e.tokens,
        coldLoadMs: summarize(cold.map((c) => c.loadMs)),
        coldFirstEncodeMBps: summarize(cold.map((c) => rate(c.firstEncodeMs))),
        coldLoadCpuMs: summarize(cold.map((c) => c.loadCpuMs)),
        coldFirstEncodeCpuMBps: summarize(cold.map((c) => rate(c.firstEncodeCpuMs))),
        warmMBps: summarize(e.wall),
        warmCpuMBps: summarize(e.cpu),
      });
    }
  }
  // Two tables: wall-clock time, and CPU time of the measuring process, which other processes on a
  // busy machine disturb much less.
  const kilnOf = (r: EncodeResult) => results.find((k) => k.encoding === r.encoding && k.peer === 'kiln')!;
  const ratio = (r: EncodeResult, pick: (x: EncodeResult) => Summary) =>
    r.peer === 'kiln' ? '' : formatRatio(pick(kilnOf(r)).median / pick(r).median);
  const table = (label: string, load: Pick, first: Pick, warm: Pick) =>
    printTable(
      [
        'encoding',
        'encoder',
        `cold load ${label}`,
        `cold 1st ${label}`,
        `warm ${label}`,
        'kiln÷peer cold',
        'kiln÷peer warm',
      ],
      results.map((r) => [
        r.encoding,
        r.peer,
        formatSummary(load(r), 0),
        formatSummary(first(r)),
        formatSummary(warm(r)),
        ratio(r, first),
        ratio(r, warm),
      ]),
    );
  console.log('Wall clock (load in ms, encoding in MB/s):');
  table(
    '(wall)',
    (r) => r.coldLoadMs,
    (r) => r.coldFirstEncodeMBps,
    (r) => r.warmMBps,
  );
  console.log('CPU time (load in CPU ms, encoding in MB per CPU second):');
  table(
    '(CPU)',
    (r) => r.coldLoadCpuMs,
    (r) => r.coldFirstEncodeCpuMBps,
    (r) => r.warmCpuMBps,
  );
  for (const encoding of ENCODINGS) {
    const counts = new Set(results.filter((r) => r.encoding === encoding).map((r) => r.tokens));
    if (counts.size === 1) console.log(`${encoding}: every encoder gives ${[...counts][0]} tokens.`);
    else console.log(`WARNING: the encoders disagree on the token count for ${encoding}.`);
  }
  return results;
}

interface TrainResult {
  trainer: 'kiln' | 'huggingface';
  targetVocab: number;
  vocabSize: number;
  seconds: Summary;
  /** CPU seconds of the whole process (all threads), which other load on the machine affects less. */
  cpuSeconds: Summary;
  maxRssMb: Summary;
}

function benchTraining(): TrainResult[] {
  const corpus = trainingCorpusPath();
  const size = statSync(corpus).size;
  console.log(
    `Training on ${(size / MB).toFixed(1)} MB (Spam Assassin mails + Moby Dick), cl100k split pattern.`,
  );
  console.log('Wall seconds, CPU seconds and peak RSS (whole process), median (min–max).\n');
  const results: TrainResult[] = [];
  const runs: [TrainResult['trainer'], number][] = [
    ['kiln', 4096],
    ['kiln', 30000],
    ['huggingface', 30000],
  ];
  for (const [trainer, targetVocab] of runs) {
    const samples = Array.from({ length: TRAIN_RUNS }, () =>
      runChild<{ ms: number; cpuMs: number; vocabSize: number; maxRssMb: number }>('train-child.ts', [
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
      cpuSeconds: summarize(samples.map((s) => s.cpuMs / 1000)),
      maxRssMb: summarize(samples.map((s) => s.maxRssMb)),
    });
  }
  const hf = results.find((r) => r.trainer === 'huggingface')!;
  printTable(
    [
      'vocab',
      'trainer',
      'final vocab',
      'seconds',
      'CPU seconds',
      'peak RSS MB',
      'kiln÷HF time',
      'kiln÷HF CPU',
    ],
    [
      ...results.map((r) => [
        String(r.targetVocab),
        r.trainer,
        String(r.vocabSize),
        formatSummary(r.seconds, 2),
        formatSummary(r.cpuSeconds, 2),
        formatSummary(r.maxRssMb, 0),
        r.trainer === 'kiln' && r.targetVocab === hf.targetVocab
          ? formatRatio(r.seconds.median / hf.seconds.median)
          : '',
        r.trainer === 'kiln' && r.targetVocab === hf.targetVocab
          ? formatRatio(r.cpuSeconds.median / hf.cpuSeconds.median)
          : '',
      ]),
    ],
  );
  console.log(
    "Hugging Face at vocabulary 4096: not measurable, the npm binding's train() only uses its default (30000).\n",
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
