// The run's configuration: defaults here, overridden by a JSON file (--config) and flags.
// One object describes the data (tokenizer), the model, training and sampling, so the whole
// run is reproducible from it; it is stored in every checkpoint.
import { readFile } from 'node:fs/promises';
import type { TrainConfigInput } from '@kiln/trainer';
import type { GPTConfig } from '@kiln/transformer';

export interface PretrainConfig {
  /** Tokenizer training: byte-level BPE on the corpus. */
  data: { vocabSize: number; pattern: 'gpt2' | 'cl100k' | 'o200k' };
  /** The GPT, without vocabSize (that is the tokenizer's). */
  model: Omit<GPTConfig, 'vocabSize'>;
  /** @kiln/trainer's config (see TRAIN_DEFAULTS). */
  train: TrainConfigInput;
  /** Continuations printed and saved after training. */
  sample: { prompts: string[]; maxTokens: number; temperature: number; topK: number; seed: number };
}

/**
 * The default run: a 2-layer GPT-2-style model (~0.17M parameters) on a 512-token BPE
 * vocabulary, 500 steps of 8 windows of 32 tokens (128k tokens, a fifth of the book). It is
 * sized for the 5-minute budget of a two-core machine without a GPU (see README.md for
 * measurements); use --config for bigger runs.
 */
export const DEFAULT_CONFIG: PretrainConfig = {
  data: { vocabSize: 512, pattern: 'gpt2' },
  model: {
    family: 'gpt2',
    contextLength: 32,
    nLayers: 2,
    nHeads: 4,
    dModel: 64,
    // An untied head learns token statistics much faster than one tied to the embedding: in a
    // short run that is worth the extra vocabSize × dModel parameters.
    tieEmbeddings: false,
  },
  train: {
    seed: 1337,
    batchSize: 8,
    steps: 500,
    schedule: { kind: 'cosine', maxLr: 1e-2, minLr: 1e-3, warmupSteps: 20 },
    weightDecay: 0.1,
    gradClip: 1.0,
    evalInterval: 50,
    evalWindows: 64,
    evalBatchSize: 32,
    logInterval: 10,
    checkpointInterval: 100,
  },
  sample: {
    prompts: ['Call me Ishmael.', 'The whale', 'Captain Ahab'],
    maxTokens: 40,
    temperature: 0.8,
    topK: 40,
    seed: 7,
  },
};

const SECTIONS = ['data', 'model', 'train', 'sample'] as const;

/** The default config with the sections of a JSON file merged over it (section by section, key by key). */
export async function loadConfig(path: string | undefined): Promise<PretrainConfig> {
  if (!path) return structuredClone(DEFAULT_CONFIG);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new Error(`--config ${path}: ${(error as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new Error(`--config ${path}: expected a JSON object with sections ${SECTIONS.join(', ')}`);
  }
  const unknown = Object.keys(json).filter((k) => !(SECTIONS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new Error(
      `--config ${path}: unknown section(s) ${unknown.join(', ')}; the sections are ${SECTIONS.join(', ')}`,
    );
  }
  const config = structuredClone(DEFAULT_CONFIG) as unknown as Record<string, Record<string, unknown>>;
  for (const [section, values] of Object.entries(json as Record<string, unknown>)) {
    if (typeof values !== 'object' || values === null || Array.isArray(values)) {
      throw new Error(`--config ${path}: section '${section}' must be an object`);
    }
    Object.assign(config[section], values);
  }
  return config as unknown as PretrainConfig;
}

/** Applies --steps: the run length and the schedule's decay, keeping warmup to at most a tenth of the run (as gpt.py does). */
export function withSteps(config: PretrainConfig, steps: number): PretrainConfig {
  const schedule = config.train.schedule;
  const warmupSteps = Math.min(schedule?.warmupSteps ?? 0, Math.floor(steps / 10));
  return {
    ...config,
    train: {
      ...config.train,
      steps,
      ...(schedule
        ? {
            schedule: {
              ...schedule,
              ...(schedule.kind === 'constant' ? {} : { totalSteps: steps }),
              warmupSteps,
            },
          }
        : {}),
    },
  };
}
