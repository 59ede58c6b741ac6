/**
 * `GPT`: a decoder-only transformer language model covering the GPT-2 and Llama families from
 * one config. Embeddings → a stack of pre-norm blocks → final norm → vocabulary head.
 */
import { Module } from '@kiln/autograd';
import {
  type AttentionMask,
  arange,
  attentionMask,
  type Backend,
  crossEntropy,
  type DType,
  keep,
  ShapeError,
  scope,
  Tensor,
  zeros,
} from '@kiln/tensor';
import { AuxiliaryCollector } from './auxiliary-outputs.js';
import type { PaddedCausalLM } from './causal-lm.js';
import {
  feedForwardSpecs,
  GPT_PRESETS,
  type GPTConfig,
  type GPTPresetName,
  presetConfig,
  type ResolvedGPTConfig,
  resolveConfig,
} from './config.js';
import { type GenerateOptions, generate } from './generate.js';
import type { AttentionContext } from './layers/attention.js';
import { Block } from './layers/block.js';
import { Dropout } from './layers/dropout.js';
import { Embedding } from './layers/embedding.js';
import { KVCache } from './layers/kv-cache.js';
import { LayerNorm } from './layers/layer-norm.js';
import { Linear } from './layers/linear.js';
import { RMSNorm } from './layers/rms-norm.js';
import { RotaryEmbedding } from './layers/rope.js';
import { checkTokenTensor } from './token-ids.js';

/** Options of the {@link GPT} constructor. */
export interface GPTOptions {
  /** Backend for the parameters: an initialised backend or its name (default: the default backend). */
  backend?: Backend | string;
}

/** What {@link GPT.forward} returns. */
export interface GPTOutput {
  /** `[B, T, vocabSize]` next-token logits for every position. */
  logits: Tensor;
  /** Mean cross-entropy over the targets that are not -100 (a 0-d tensor), or undefined without targets. */
  loss: Tensor | undefined;
  /**
   * Auxiliary losses reported by the blocks' feed-forward modules, by module path
   * (`blocks.3.mlp.balance`): 0-d tensors already scaled by their coefficients, to be added to
   * the loss by the objective. Empty for the built-in GELU and SwiGLU modules.
   */
  auxLosses: Record<string, Tensor>;
  /** Metrics reported by the blocks' feed-forward modules, keyed like `auxLosses`; empty for the built-in modules. */
  metrics: Record<string, Tensor>;
}

/** Targets equal to this are excluded from the loss (as in PyTorch), e.g. prompt tokens in SFT. */
export const IGNORE_INDEX = -100;

/** Options of {@link GPT.forward}; every tensor is `[B, T]` like the ids. */
export interface GPTForwardOptions {
  /** int32 next-token targets; {@link IGNORE_INDEX} (−100) leaves a position out of the loss. */
  targets?: Tensor;
  /**
   * int32: the document of each token of a packed row. Attention stays inside each document (a
   * run of equal ids) and positions restart at each one, so a packed row computes what its
   * documents would alone. A negative id marks padding.
   */
  segments?: Tensor;
  /**
   * int32: the position of each token (below contextLength). Default: 0, 1, 2, … along the row,
   * restarting at each document and counted from the first token after left padding.
   */
  positions?: Tensor;
  /**
   * bool (or int32, nonzero = pad): true at padding (left padding for batched generation, right
   * padding for pairs). Padding is seen by no token and sees none; give its targets −100.
   */
  padding?: Tensor;
}

/** Options of {@link GPT.forwardCached}. */
export interface GPTCachedOptions {
  /**
   * bool [B, T] left padding of a prompt batch, on the first call (the prefill) only: the
   * cache remembers where each row starts, so later steps never see the padding either.
   */
  padding?: Tensor;
}

/** What the layers need to run ids at some positions: where, what they see, and the cache. */
interface HiddenContext {
  /** Absolute position of the first token (scalar positions: the same for every row). */
  position: number;
  /** int32 [B, T] positions per token, or null for position … position+T−1 in every row. */
  positions: Tensor | null;
  mask: AttentionMask<Tensor>;
  cache: KVCache | null;
  /** Where the blocks' feed-forward modules report auxiliary losses and metrics, or null. */
  reports?: AuxiliaryCollector | null;
}

const CAUSAL: AttentionMask<Tensor> = { causal: true, ranges: null };

/**
 * A GPT-2 or Llama style language model.
 *
 * ```ts
 * const model = new GPT(GPT.config('gpt2-tiny'));
 * const { logits, loss } = model.forward(ids, targets); // int32 [B, T] each
 * ```
 *
 * Parameters are initialised as in nanoGPT: weights and embeddings ~ N(0, 0.02), biases 0, norm
 * gains 1, and the two residual output projections of every block (attention output, MLP
 * down-projection) ~ N(0, 0.02/√(2·nLayers)) so the residual stream's variance does not grow
 * with depth. Draws come from the seeded generator: `manualSeed(s)` before `new GPT` fixes them.
 *
 * Parameter names (for optimizers and `stateDict`): `tokenEmbedding.weight`,
 * `positionEmbedding.weight` (gpt2), `blocks.{i}.norm1.*`, `blocks.{i}.attn.qkv.*`,
 * `blocks.{i}.attn.o.*`, `blocks.{i}.attn.{qNorm,kNorm}.weight` (qkNorm), `blocks.{i}.norm2.*`,
 * `blocks.{i}.mlp.*` (the feed-forward module's own names: `{fc,proj}.*` for GELU, the gpt2
 * default, `{gate,up,down}.*` for SwiGLU, the llama default), `norm.*`,
 * `head.weight` (the token embedding itself when tied). `saveModel` maps them to Hugging
 * Face names.
 */
export class GPT extends Module implements PaddedCausalLM<KVCache> {
  /** The resolved configuration (every default filled in). */
  readonly config: ResolvedGPTConfig;
  /** Token embedding `[vocabSize, dModel]`. */
  tokenEmbedding: Embedding;
  /** Learned position embedding `[contextLength, dModel]` (gpt2), else null. */
  positionEmbedding: Embedding | null;
  embedDropout: Dropout;
  blocks: Block[];
  /** Final norm before the head. */
  norm: LayerNorm | RMSNorm;
  /** Vocabulary head `[vocabSize, dModel]`, no bias; shares the token embedding's weight when tied. */
  head: Linear;
  readonly #rotary: RotaryEmbedding | null;

  /** Named configs: `GPT.presets['gpt2-tiny']`. */
  static readonly presets = GPT_PRESETS;

  /** A copy of a named config, e.g. `GPT.config('llama-tiny')`; see {@link GPT_PRESETS}. */
  static config(name: GPTPresetName): GPTConfig {
    return presetConfig(name);
  }

  /** Builds a randomly initialised model; throws a `ConfigError` naming the field for a bad config. */
  constructor(config: GPTConfig, options: GPTOptions = {}) {
    super();
    const c = resolveConfig(config);
    this.config = c;
    const { backend } = options;
    const isGpt2 = c.family === 'gpt2';
    const headDim = c.dModel / c.nHeads;
    this.tokenEmbedding = new Embedding(c.vocabSize, c.dModel, { backend });
    this.positionEmbedding = isGpt2 ? new Embedding(c.contextLength, c.dModel, { backend }) : null;
    this.embedDropout = new Dropout(c.dropout);
    const outputStd = 0.02 / Math.sqrt(2 * c.nLayers);
    this.blocks = feedForwardSpecs(c).map(
      (feedForward) =>
        new Block(c.dModel, {
          backend,
          norm: isGpt2 ? 'layernorm' : 'rmsnorm',
          normEps: c.normEps,
          dFF: c.dFF,
          feedForward,
          bias: c.bias,
          dropout: c.dropout,
          outputStd,
          attention: {
            nHeads: c.nHeads,
            nKvHeads: c.nKvHeads,
            qkNorm: c.qkNorm,
            ropeTheta: isGpt2 ? undefined : c.ropeTheta,
            maxPositions: c.contextLength,
          },
        }),
    );
    this.norm = isGpt2
      ? new LayerNorm(c.dModel, { eps: c.normEps, bias: c.bias, backend })
      : new RMSNorm(c.dModel, { eps: c.normEps, backend });
    this.head = new Linear(c.dModel, c.vocabSize, {
      bias: false,
      backend,
      weight: c.tieEmbeddings ? this.tokenEmbedding.weight : undefined,
    });
    this.#rotary = isGpt2 ? null : new RotaryEmbedding(headDim, c.contextLength, c.ropeTheta);
  }

  /** The backend holding the parameters. */
  get backend(): Backend {
    return this.tokenEmbedding.weight.backend;
  }

  /** The dtype of the parameters and activations. */
  get dtype(): DType {
    return this.tokenEmbedding.weight.dtype;
  }

  /**
   * Logits for int32 `ids [B, T]` (T ≤ contextLength) and, with `targets`, the mean
   * cross-entropy over targets that are not {@link IGNORE_INDEX} (−100); see
   * {@link GPTForwardOptions} for packed rows (segments), positions and padding. If every target
   * is ignored the loss is NaN, as in PyTorch. `forward(ids, targets)` is short for
   * `forward(ids, { targets })`. Intermediate tensors are freed before it returns; the caller
   * owns `logits`, `loss` and the tensors in `auxLosses` and `metrics` (they belong to the
   * caller's scope like any result).
   */
  forward(ids: Tensor, options: Tensor | GPTForwardOptions = {}): GPTOutput {
    const { targets, segments, positions, padding } =
      options instanceof Tensor ? { targets: options } : options;
    this.#checkIds('GPT.forward', ids, 0);
    this.#checkPerToken(ids, { targets, segments, positions, padding });
    if (targets !== undefined)
      checkTokenTensor('GPT.forward', 'targets', targets, this.config.vocabSize, IGNORE_INDEX);
    return scope(() => {
      const reports = new AuxiliaryCollector();
      try {
        // one mask for every layer: index-only (causal) unless rows are packed or padded
        const mask = attentionMask({ causal: true, segments, padding });
        const perToken = positions ?? (mask.ranges ? documentPositions(mask.ranges.keys) : null);
        const hidden = this.#hidden(ids, { position: 0, positions: perToken, mask, cache: null, reports });
        const logits = this.head.forward(hidden);
        const loss =
          targets === undefined ? undefined : crossEntropy(logits, targets, { ignoreIndex: IGNORE_INDEX });
        return { logits, loss, ...reports.take() };
      } catch (error) {
        reports.dispose();
        throw error;
      }
    });
  }

  /**
   * Incremental forward for generation (inside `noGrad`): runs `ids [B, T]` at positions
   * `cache.length …`, writes their keys/values into `cache`, advances it, and returns the logits
   * of the last position only, `[B, vocabSize]`. A batch of prompts of different lengths is
   * left-padded and prefilled with `{ padding }` (see {@link GPTCachedOptions}). The
   * feed-forward modules get no context here, so nothing is reported.
   */
  forwardCached(ids: Tensor, cache: KVCache, options: GPTCachedOptions = {}): Tensor {
    this.#checkIds('GPT.forwardCached', ids, cache.length);
    if (cache.layers.length !== this.blocks.length || cache.capacity > this.config.contextLength) {
      throw new RangeError(
        'GPT.forwardCached: the cache was not made for this model; create it with model.createCache()',
      );
    }
    if (ids.shape[0] !== cache.batch)
      throw new ShapeError(
        `GPT.forwardCached: ids have ${ids.shape[0]} rows but the cache holds ${cache.batch}; create it with model.createCache(${ids.shape[0]})`,
      );
    const { padding } = options;
    if (padding !== undefined) {
      if (cache.length !== 0)
        throw new RangeError(
          'GPT.forwardCached: padding is given with the prefill (the first call after createCache or reset) only',
        );
      this.#checkPerToken(ids, { padding });
    }
    const logits = scope(() => {
      const context = this.#cachedContext(ids, cache, padding);
      const h = this.#hidden(ids, context);
      const T = ids.shape[1];
      return this.head.forward(h.slice(1, T - 1, T).squeeze(1));
    });
    cache.length += ids.shape[1];
    return logits;
  }

  /** An empty KV cache for `batch` sequences of up to contextLength tokens, on the model's backend. */
  createCache(batch = 1): KVCache {
    const c = this.config;
    return new KVCache(c.nLayers, batch, c.nKvHeads, c.contextLength, c.dModel / c.nHeads, {
      backend: this.backend,
      dtype: this.dtype,
    });
  }

  /**
   * Streams sampled token ids after `prompt` (see {@link GenerateOptions}): KV cache, temperature
   * (0 = greedy), top-k, top-p, stop tokens and a seed. Runs without gradients and in eval mode.
   *
   * ```ts
   * for await (const id of model.generate(tokenizer.encode('Once'), { maxTokens: 50, topK: 40, seed: 1 })) {
   *   process.stdout.write(decoder.decode(id));
   * }
   * ```
   */
  generate(
    prompt: readonly number[],
    options: GenerateOptions = {},
  ): AsyncGenerator<number, void, undefined> {
    return generate(this, prompt, options);
  }

  /**
   * Approximate training FLOPs per token for sequences of `seqLen` (default contextLength):
   * `6·N + 12·nLayers·dModel·seqLen`. N counts the parameters that take part in a matrix product
   * per token (every parameter except the position table, and except the token table when it is
   * not tied to the head); 6 = 2 (multiply-add) × 3 (forward + backward). The second term is the
   * attention scores and weighted sum (2·2·dModel·seqLen per layer forward, ×3), counted over the
   * full sequence as in the PaLM paper's MFU formula (not halved for the causal mask). A forward
   * pass alone is a third of this. N counts active parameters ({@link activeParameters}):
   * for a mixture of experts, the experts a token is routed to, not all of them.
   */
  flopsPerToken(seqLen = this.config.contextLength): number {
    const c = this.config;
    const tables =
      (c.tieEmbeddings ? 0 : c.vocabSize * c.dModel) +
      (this.positionEmbedding ? c.contextLength * c.dModel : 0);
    const n = this.activeParameters() - tables;
    return 6 * n + 12 * c.nLayers * c.dModel * seqLen;
  }

  /**
   * Parameters one token takes part in: {@link numParameters} less what each block's
   * feed-forward module leaves out (`FeedForward.activeParameters`; a mixture of experts counts
   * only the k experts a token is routed to). Equal to `numParameters()` for dense models; the
   * name is the one `@kiln/scaling`'s `countModel` reads.
   */
  activeParameters(): number {
    let n = this.numParameters();
    for (const block of this.blocks) {
      if (block.mlp.activeParameters) n -= block.mlp.numParameters() - block.mlp.activeParameters();
    }
    return n;
  }

  /**
   * Final-norm hidden states `[B, T, dModel]` of `ids` at the context's positions; the blocks'
   * feed-forward modules report into `context.reports` (none: they get no context).
   */
  #hidden(ids: Tensor, context: HiddenContext): Tensor {
    const T = ids.shape[1];
    const { position, positions, mask, cache, reports } = context;
    let x = this.tokenEmbedding.forward(ids);
    if (this.positionEmbedding)
      x = x.add(
        positions
          ? this.positionEmbedding.forward(positions)
          : this.positionEmbedding.weight.slice(0, position, position + T),
      );
    x = this.embedDropout.forward(x);
    // RoPE tables depend only on the positions and the mask is shared: build both once for
    // every layer (the fused attention kernels read the mask as indices or visible ranges).
    const rope = positions
      ? this.#rotary?.tablesAt(positions, x.dtype)
      : this.#rotary?.tables(position, T, x.backend, x.dtype);
    const shared: AttentionContext = { position, mask, rope };
    // 1 for real tokens, 0 for padding (a query that sees no key), for sub-layers that keep statistics
    const tokenMask = reports && mask.ranges ? realTokens(mask.ranges.keys, x.dtype) : undefined;
    this.blocks.forEach((block, i) => {
      x = block.forward(
        x,
        cache ? { ...shared, cache: cache.layers[i] } : shared,
        reports?.context(`blocks.${i}.mlp`, tokenMask),
      );
    });
    return this.norm.forward(x);
  }

  /**
   * Positions and mask of `ids` at the cache's next positions. Without padding every row is at
   * `cache.length …` and sees every cached key; a padded prefill records where the padding is
   * in the cache, and every step builds its mask from that record (the same `attentionMask` as
   * a full forward), so the padding stays hidden and positions count from each row's first token.
   */
  #cachedContext(ids: Tensor, cache: KVCache, padding: Tensor | undefined): HiddenContext {
    const [B, T] = ids.shape;
    const P = cache.length;
    if (padding !== undefined) {
      cache.padding?.dispose();
      cache.padding = keep(zeros([B, cache.capacity], { dtype: 'bool', backend: ids.backend }));
      cache.padding.slice(1, 0, T).assign(padding.dtype === 'bool' ? padding : padding.ne(0));
    }
    if (!cache.padding) return { position: P, positions: null, mask: CAUSAL, cache };
    const mask = attentionMask({ causal: true, padding: cache.padding.slice(1, 0, P + T), queries: T });
    return { position: P, positions: documentPositions(mask.ranges!.keys, P), mask, cache };
  }

  /** Checks the per-token tensors of a forward pass: each `[B, T]` like the ids, of its dtype. */
  #checkPerToken(ids: Tensor, tensors: Record<string, Tensor | undefined>): void {
    for (const [name, t] of Object.entries(tensors)) {
      if (t === undefined) continue;
      const dtypes = name === 'padding' ? ['bool', 'int32'] : ['int32'];
      if (!(t instanceof Tensor) || !dtypes.includes(t.dtype) || t.shape.join() !== ids.shape.join()) {
        const got = t instanceof Tensor ? `${t.dtype} [${t.shape}]` : typeof t;
        const hint = name === 'targets' ? '; use -100 for positions without a target' : '';
        throw new ShapeError(
          `GPT: ${name} must be ${dtypes.join(' or ')} [${ids.shape}] like ids, got ${got}${hint}`,
        );
      }
      if (t.backend !== ids.backend)
        throw new ShapeError(
          `GPT: ${name} are on backend '${t.backend.name}' but ids on '${ids.backend.name}'; create them with { backend: model.backend }`,
        );
    }
  }

  #checkIds(who: string, ids: Tensor, position: number): void {
    if (ids.dtype !== 'int32' || ids.shape.length !== 2) {
      throw new ShapeError(
        `${who}: ids must be an int32 tensor [batch, time], got ${ids.dtype} [${ids.shape}]`,
      );
    }
    const T = ids.shape[1];
    if (T < 1) throw new ShapeError(`${who}: ids must hold at least one token per row`);
    if (position + T > this.config.contextLength) {
      throw new ShapeError(
        position === 0
          ? `${who}: ${T} tokens exceed contextLength ${this.config.contextLength}; split the sequence into windows of at most ${this.config.contextLength}`
          : `${who}: positions ${position}…${position + T - 1} exceed contextLength ${this.config.contextLength}; reset the cache`,
      );
    }
    if (ids.backend !== this.backend) {
      throw new ShapeError(
        `${who}: ids are on backend '${ids.backend.name}' but the model is on '${this.backend.name}'; create ids with { backend: model.backend }`,
      );
    }
    checkTokenTensor(who, 'ids', ids, this.config.vocabSize);
  }
}

/**
 * Positions that restart at each document: the distance of each query from the first key it
 * sees (its document's start, or itself for padding), from visible ranges [B, Tq, 2] whose first
 * query sits at key position `first` (0 without a cache).
 */
function documentPositions(keys: Tensor, first = 0): Tensor {
  const [B, T] = keys.shape;
  const at = arange(first, first + T, 1, { dtype: 'int32', backend: keys.backend }).reshape([1, T]);
  return at.sub(keys.slice(2, 0, 1).reshape([B, T]));
}

/** float [B, T]: 1 where a query sees at least one key (a real token), 0 for padding. */
function realTokens(keys: Tensor, dtype: DType): Tensor {
  const [B, T] = keys.shape;
  return keys
    .slice(2, 1, 2)
    .gt(keys.slice(2, 0, 1))
    .reshape([B, T])
    .cast(dtype);
}
