/**
 * The model configuration: one `GPTConfig` describes a GPT-2 or a Llama style model. The family
 * picks the architecture (positions, norm, MLP); the optional fields override the family's
 * defaults. `resolveConfig` validates a config and fills in every default, and is the only place
 * that knows the defaults (with `feedForwardSpecs` for the blocks' feed-forward modules).
 */
import { ConfigError } from './config-error.js';
import { checkFeedForwardSpec, type FeedForwardSpec } from './feed-forward-registry.js';

export { ConfigError };

/** Architecture family. */
export type GPTFamily = 'gpt2' | 'llama';

/**
 * A GPT model's shape and options.
 *
 * | family  | positions          | norm      | MLP               | biases | head                 |
 * | ------- | ------------------ | --------- | ----------------- | ------ | -------------------- |
 * | `gpt2`  | learned (`wpe`)    | LayerNorm | GELU (tanh), 4·d  | yes    | tied to embedding    |
 * | `llama` | RoPE (rotate-half) | RMSNorm   | SwiGLU, ≈ 8/3·d   | no     | untied               |
 */
export interface GPTConfig {
  /** `gpt2`: learned positions, LayerNorm, GELU; `llama`: RoPE, RMSNorm, SwiGLU. */
  family: GPTFamily;
  /** Number of token ids (embedding rows and logits). */
  vocabSize: number;
  /** Longest sequence the model sees (positions 0 … contextLength−1). */
  contextLength: number;
  /** Number of transformer blocks. */
  nLayers: number;
  /** Number of query heads; `dModel` must be divisible by it. */
  nHeads: number;
  /** Key/value heads for grouped-query attention (default `nHeads`); must divide `nHeads`. */
  nKvHeads?: number;
  /** Width of the residual stream. */
  dModel: number;
  /** Hidden width of the MLP (default 4·dModel for gpt2, 8/3·dModel rounded up to 32 for llama). */
  dFF?: number;
  /** Dropout rate on embeddings, attention weights and residual branches (default 0). */
  dropout?: number;
  /** RoPE base θ (default 10000; llama only). */
  ropeTheta?: number;
  /** RMS-normalise queries and keys per head before attention (default false). */
  qkNorm?: boolean;
  /** Epsilon of the norms (default 1e-5). */
  normEps?: number;
  /** Share the embedding matrix with the output head (default true for gpt2, false for llama). */
  tieEmbeddings?: boolean;
  /** Biases in the linear layers and LayerNorms (default true for gpt2, false for llama). */
  bias?: boolean;
  /**
   * Each block's feed-forward module: one spec `{ kind, ...options }` for every block, or an
   * array of nLayers specs (one per block, in order). Kinds are registered with
   * `registerFeedForward` (built in: `gelu`, `swiglu`, each taking an optional `dFF`). Default:
   * the family's, `{ kind: 'gelu' }` for gpt2 and `{ kind: 'swiglu' }` for llama, with `dFF`.
   */
  feedForward?: FeedForwardSpec | FeedForwardSpec[];
}

/**
 * A config with every default filled in (what `GPT.config` holds). `feedForward` stays absent
 * when the config did not set it: the blocks then use the family's module (see
 * {@link feedForwardSpecs}), and the config, its `config.json` and the model are the ones a
 * Kiln without the feed-forward slot wrote.
 */
export type ResolvedGPTConfig = Required<Omit<GPTConfig, 'feedForward'>> & {
  /** The validated specs as given (a JSON copy); absent: the family default. */
  feedForward?: FeedForwardSpec | FeedForwardSpec[];
};

const KNOWN_KEYS: readonly (keyof GPTConfig)[] = [
  'family',
  'vocabSize',
  'contextLength',
  'nLayers',
  'nHeads',
  'nKvHeads',
  'dModel',
  'dFF',
  'dropout',
  'ropeTheta',
  'qkNorm',
  'normEps',
  'tieEmbeddings',
  'bias',
  'feedForward',
];

/** Llama's SwiGLU width: about 8/3·d (the parameters of a 4·d GELU MLP), rounded up to 32. */
export function defaultLlamaFF(dModel: number): number {
  return 32 * Math.ceil((8 * dModel) / 3 / 32);
}

/** The family's feed-forward module: GELU (tanh) for gpt2, SwiGLU for llama, both of width dFF. */
export function defaultFeedForward(family: GPTFamily): FeedForwardSpec {
  return { kind: family === 'gpt2' ? 'gelu' : 'swiglu' };
}

/** One feed-forward spec per block (nLayers of them): the config's, or the family default. */
export function feedForwardSpecs(config: ResolvedGPTConfig): FeedForwardSpec[] {
  const { feedForward, family, nLayers } = config;
  if (Array.isArray(feedForward)) return feedForward.map((spec) => structuredClone(spec));
  const spec = (feedForward as FeedForwardSpec | undefined) ?? defaultFeedForward(family);
  return Array.from({ length: nLayers }, () => structuredClone(spec));
}

/** Validates `GPTConfig.feedForward` (one spec or nLayers of them) and returns a JSON copy. */
function resolveFeedForward(value: unknown, nLayers: number): FeedForwardSpec | FeedForwardSpec[] {
  if (!Array.isArray(value)) return checkFeedForwardSpec(value, 'GPTConfig.feedForward');
  if (value.length !== nLayers) {
    throw new ConfigError(
      `GPTConfig.feedForward has ${value.length} spec(s) but nLayers is ${nLayers}; give one spec per block, or a single spec (not an array) for every block`,
    );
  }
  return value.map((spec, i) => checkFeedForwardSpec(spec, `GPTConfig.feedForward[${i}]`));
}

function positiveInteger(config: Record<string, unknown>, key: keyof GPTConfig): number {
  const v = config[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new ConfigError(`GPTConfig.${key} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

function closestDivisor(n: number, near: number): number {
  let best = 1;
  for (let d = 1; d <= n; d++) if (n % d === 0 && Math.abs(d - near) < Math.abs(best - near)) best = d;
  return best;
}

/**
 * Validates `config` and fills in the family defaults. Throws a {@link ConfigError} naming the
 * field and the fix for unknown keys, non-integers, and incompatible sizes (dModel not divisible
 * by nHeads, nHeads not divisible by nKvHeads, an odd RoPE head dimension, …).
 */
export function resolveConfig(config: GPTConfig): ResolvedGPTConfig {
  if (config === null || typeof config !== 'object') {
    throw new ConfigError(`GPTConfig must be an object such as GPT.config('gpt2-tiny'), got ${config}`);
  }
  const raw = config as unknown as Record<string, unknown>;
  const unknown = Object.keys(raw).filter((k) => !KNOWN_KEYS.includes(k as keyof GPTConfig));
  if (unknown.length > 0) {
    throw new ConfigError(
      `GPTConfig has unknown key(s) ${unknown.join(', ')}; known keys: ${KNOWN_KEYS.join(', ')}`,
    );
  }
  const family = raw.family;
  if (family !== 'gpt2' && family !== 'llama') {
    throw new ConfigError(`GPTConfig.family must be 'gpt2' or 'llama', got ${JSON.stringify(family)}`);
  }
  const vocabSize = positiveInteger(raw, 'vocabSize');
  const contextLength = positiveInteger(raw, 'contextLength');
  const nLayers = positiveInteger(raw, 'nLayers');
  const nHeads = positiveInteger(raw, 'nHeads');
  const dModel = positiveInteger(raw, 'dModel');
  if (dModel % nHeads !== 0) {
    const heads = closestDivisor(dModel, nHeads);
    const width = Math.max(nHeads, Math.round(dModel / nHeads) * nHeads);
    throw new ConfigError(
      `GPTConfig.dModel (${dModel}) must be divisible by nHeads (${nHeads}) (each head gets dModel / nHeads dimensions); use e.g. nHeads: ${heads} or dModel: ${width}`,
    );
  }
  const nKvHeads = raw.nKvHeads === undefined ? nHeads : positiveInteger(raw, 'nKvHeads');
  if (nKvHeads > nHeads || nHeads % nKvHeads !== 0) {
    throw new ConfigError(
      `GPTConfig.nHeads (${nHeads}) must be divisible by nKvHeads (${nKvHeads}) (each key/value head serves nHeads / nKvHeads query heads); use e.g. nKvHeads: ${closestDivisor(nHeads, nKvHeads)}`,
    );
  }
  const headDim = dModel / nHeads;
  if (family === 'llama' && headDim % 2 !== 0) {
    throw new ConfigError(
      `GPTConfig: RoPE rotates pairs of dimensions, so the head dimension dModel / nHeads must be even, got ${dModel} / ${nHeads} = ${headDim}; change dModel or nHeads`,
    );
  }
  const dFF =
    raw.dFF === undefined
      ? family === 'gpt2'
        ? 4 * dModel
        : defaultLlamaFF(dModel)
      : positiveInteger(raw, 'dFF');
  const dropout = raw.dropout ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) {
    throw new ConfigError(`GPTConfig.dropout must be a number in [0, 1), got ${JSON.stringify(dropout)}`);
  }
  const ropeTheta = raw.ropeTheta ?? 10000;
  if (typeof ropeTheta !== 'number' || !(ropeTheta > 0) || !Number.isFinite(ropeTheta)) {
    throw new ConfigError(
      `GPTConfig.ropeTheta must be a positive number (e.g. 10000), got ${JSON.stringify(ropeTheta)}`,
    );
  }
  const normEps = raw.normEps ?? 1e-5;
  if (typeof normEps !== 'number' || !(normEps > 0) || !Number.isFinite(normEps)) {
    throw new ConfigError(
      `GPTConfig.normEps must be a small positive number (e.g. 1e-5), got ${JSON.stringify(normEps)}`,
    );
  }
  const flag = (key: 'qkNorm' | 'tieEmbeddings' | 'bias', fallback: boolean): boolean => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'boolean')
      throw new ConfigError(`GPTConfig.${key} must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  const feedForward =
    raw.feedForward === undefined ? undefined : resolveFeedForward(raw.feedForward, nLayers);
  return {
    family,
    vocabSize,
    contextLength,
    nLayers,
    nHeads,
    nKvHeads,
    dModel,
    dFF,
    dropout,
    ropeTheta,
    qkNorm: flag('qkNorm', false),
    normEps,
    tieEmbeddings: flag('tieEmbeddings', family === 'gpt2'),
    bias: flag('bias', family === 'gpt2'),
    ...(feedForward === undefined ? {} : { feedForward }),
  };
}

/**
 * Named configs. The tiny ones are for tests and quick experiments (byte-level vocabulary); the
 * others are the shapes of published checkpoints, so `loadModel` of those checkpoints gives
 * the same config.
 */
export const GPT_PRESETS = {
  /** 2 layers, d 64, byte vocabulary: tests and smoke runs (~0.1M parameters). */
  'gpt2-tiny': { family: 'gpt2', vocabSize: 256, contextLength: 64, nLayers: 2, nHeads: 4, dModel: 64 },
  /** OpenAI GPT-2 small (124M). */
  gpt2: { family: 'gpt2', vocabSize: 50257, contextLength: 1024, nLayers: 12, nHeads: 12, dModel: 768 },
  /** OpenAI GPT-2 medium (355M). */
  'gpt2-medium': {
    family: 'gpt2',
    vocabSize: 50257,
    contextLength: 1024,
    nLayers: 24,
    nHeads: 16,
    dModel: 1024,
  },
  /** OpenAI GPT-2 large (774M). */
  'gpt2-large': {
    family: 'gpt2',
    vocabSize: 50257,
    contextLength: 1024,
    nLayers: 36,
    nHeads: 20,
    dModel: 1280,
  },
  /** OpenAI GPT-2 XL (1.5B). */
  'gpt2-xl': { family: 'gpt2', vocabSize: 50257, contextLength: 1024, nLayers: 48, nHeads: 25, dModel: 1600 },
  /** 2 layers, d 64, grouped-query attention (4 query / 2 key-value heads), byte vocabulary. */
  'llama-tiny': {
    family: 'llama',
    vocabSize: 256,
    contextLength: 64,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    dModel: 64,
  },
  /** SmolLM-135M (a Llama with tied embeddings). */
  'smollm-135m': {
    family: 'llama',
    vocabSize: 49152,
    contextLength: 2048,
    nLayers: 30,
    nHeads: 9,
    nKvHeads: 3,
    dModel: 576,
    dFF: 1536,
    tieEmbeddings: true,
  },
  /** TinyLlama-1.1B. */
  'tinyllama-1.1b': {
    family: 'llama',
    vocabSize: 32000,
    contextLength: 2048,
    nLayers: 22,
    nHeads: 32,
    nKvHeads: 4,
    dModel: 2048,
    dFF: 5632,
  },
} as const satisfies Record<string, GPTConfig>;

/** Names of {@link GPT_PRESETS}. */
export type GPTPresetName = keyof typeof GPT_PRESETS;

/** A fresh copy of a preset, to modify freely: `{ ...presetConfig('gpt2-tiny'), vocabSize: 512 }`. */
export function presetConfig(name: GPTPresetName): GPTConfig {
  const preset = (GPT_PRESETS as Record<string, GPTConfig>)[name];
  if (!preset) {
    throw new ConfigError(`unknown preset '${name}'; presets: ${Object.keys(GPT_PRESETS).join(', ')}`);
  }
  return { ...preset };
}
