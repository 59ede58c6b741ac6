// The training-step benchmark's fixed setup, shared by the suite and every implementation
// (Kiln, TF.js, and PyTorch through benchmarks/python/train_step.py, which mirrors these values).
import { readFileSync, writeFileSync } from 'node:fs';

/** GPT-2 family: learned positions, LayerNorm, GELU (tanh) MLP of 4·d, tied head, biases. */
export const MODEL = { vocabSize: 256, contextLength: 128, nLayers: 4, nHeads: 4, dModel: 128 } as const;
export const BATCH = 16;
export const TOKENS_PER_STEP = BATCH * MODEL.contextLength;
/** One parameter group, decay on everything: identical math in all three implementations. */
export const ADAMW = { lr: 1e-3, betas: [0.9, 0.95] as const, eps: 1e-8, weightDecay: 0.1 };

/** What a training child prints as its last line. */
export interface TrainResult {
  /** Milliseconds of each timed step (forward, backward, AdamW update, loss read back). */
  stepMs: number[];
  /** Loss after each timed step (a sanity check that every implementation trains). */
  losses: number[];
  warmupMs: number[];
  parameters: number;
  /** Training FLOPs per token (Kiln's count, used for every implementation's achieved GFLOP/s). */
  flopsPerToken?: number;
  notes: string[];
  /** Optional breakdown of one step (Kiln only). */
  profile?: unknown;
}

/**
 * Writes `batches` random batches of [BATCH, contextLength + 1] tokens (int32, little-endian) to
 * `path`: inputs are the first contextLength columns, targets the last. A fixed LCG seed, so
 * every run and every implementation sees the same tokens.
 */
export function writeTokenBatches(path: string, batches: number): void {
  const row = MODEL.contextLength + 1;
  const tokens = new Int32Array(batches * BATCH * row);
  let state = 12345;
  for (let i = 0; i < tokens.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    tokens[i] = state >>> 24; // top 8 bits: 0..255
  }
  writeFileSync(path, new Uint8Array(tokens.buffer));
}

/** Batch `i` (wrapping) as inputs and targets, each [BATCH · contextLength] row-major. */
export function readTokenBatches(path: string): (i: number) => { inputs: Int32Array; targets: Int32Array } {
  const bytes = readFileSync(path);
  const all = new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const T = MODEL.contextLength;
  const perBatch = BATCH * (T + 1);
  const count = all.length / perBatch;
  return (i) => {
    const base = (i % count) * perBatch;
    const inputs = new Int32Array(BATCH * T);
    const targets = new Int32Array(BATCH * T);
    for (let b = 0; b < BATCH; b++) {
      const row = all.subarray(base + b * (T + 1), base + (b + 1) * (T + 1));
      inputs.set(row.subarray(0, T), b * T);
      targets.set(row.subarray(1), b * T);
    }
    return { inputs, targets };
  };
}

export function envSteps(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got '${raw}'`);
  return n;
}
