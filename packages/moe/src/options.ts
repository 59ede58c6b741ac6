/**
 * The options of an MoE layer (what a `{ kind: 'moe', ... }` feed-forward spec holds) and their
 * validation. Every option is plain JSON so a model's config, with its MoE choice, round-trips
 * through `config.json`. `resolveMoEOptions` is the only place that knows the defaults.
 */
import { ConfigError } from '@kiln/transformer';

/** How the router turns logits into scores. */
export type RouterScoring = 'softmax' | 'sigmoid';

/** How tokens reach their experts. */
export type DispatchMode = 'dropless' | 'capacity';

/** The experts' MLP. */
export type ExpertActivation = 'swiglu' | 'gelu';

/** Load-balancing methods; any combination may be on at once. */
export interface BalancingOptions {
  /**
   * Switch Transformer's auxiliary loss `α · E · Σᵢ fᵢ · Pᵢ` over the whole batch of one layer
   * (fᵢ: fraction of routed assignments that chose expert i, Pᵢ: mean router probability of i),
   * reported as the auxiliary loss `balance`. The coefficient α (0 = off; Switch uses 0.01,
   * Mixtral's `router_aux_loss_coef` is 0.02). Default 0.01.
   */
  auxLoss?: number;
  /** ST-MoE's router z-loss `β · mean(logsumexp(logits)²)`, reported as `zloss` (0 = off, default; ST-MoE uses 0.001). */
  zLoss?: number;
  /**
   * DeepSeek-V3's auxiliary-loss-free balancing: a per-expert bias added to the scores for the
   * top-k selection only (never to the gate weights), nudged by `γ · sign(mean load − load)`
   * after each optimizer step (`updateBalancingBias`). γ (0 = off, default; DeepSeek-V3 uses 0.001
   * on sigmoid scores). Softmax scores are about 1/E each, so γ 0.01 outweighs the router within
   * tens of steps; examples/moe (8 experts) balances at 0.003 without the loss 0.01 cost.
   */
  biasUpdateRate?: number;
}

/** The options of an MoE layer (all JSON). */
export interface MoEOptions {
  /** Number of routed experts E (≥ 1). */
  experts: number;
  /** Experts per token k (1 ≤ k ≤ experts). */
  topK: number;
  /**
   * Hidden width of each expert (default: the block's dFF). Fine-grained experts
   * (DeepSeekMoE) split a dense MLP into m narrower ones: dFF/m wide, m·E experts, m·k per token.
   */
  expertDFF?: number;
  /** Always-on shared experts, fused into one MLP of width `sharedExperts · expertDFF` (DeepSeekMoE; default 0). */
  sharedExperts?: number;
  /** `swiglu` (Mixtral, default) or `gelu` (tanh GELU, Switch-style) experts. */
  activation?: ExpertActivation;
  /** `softmax` over experts (Switch, Mixtral; default) or per-expert `sigmoid` (DeepSeek-V3). */
  scoring?: RouterScoring;
  /**
   * Divide the k selected scores by their sum so the gates add to 1 (default true for sigmoid and
   * for k > 1 softmax as in Mixtral; false for k = 1 softmax, where it would make every gate 1
   * and cut the router's gradient, as Switch notes).
   */
  normalizeTopK?: boolean;
  /**
   * Multiplies the routed experts' gate weights (DeepSeek-V3's `routed_scaling_factor`, 2.5 there;
   * default 1). With renormalised top-k gates the k routed outputs are averaged (gates sum to 1)
   * where a dense MLP of width k·expertDFF sums its k slices, so the routed part starts k times
   * smaller and moves k times slower in output space under Adam; a scale of k puts it on the
   * dense MLP's footing. It changes no parameter count.
   */
  routedScale?: number;
  /**
   * Router jitter ε: during training the router's input is multiplied by U(1−ε, 1+ε) noise
   * (Switch Transformer; default 0 = off). Evaluation and generation are never noisy.
   */
  jitter?: number;
  /** `dropless` (every assignment computed; default) or `capacity` (fixed slots per expert, overflow dropped). */
  dispatch?: DispatchMode;
  /**
   * Capacity dispatch: slots per expert = ceil(capacityFactor · tokens · k / E) (default 1.25).
   * Assignments beyond an expert's slots are dropped: they add nothing, so the token passes
   * through the block's residual (and its other experts).
   */
  capacityFactor?: number;
  /**
   * Accepted (a positive integer) and ignored: dropless dispatch used to pad each expert's rows
   * to blocks of this many; the grouped kernel (`groupedMatmul`) needs no padding.
   * @deprecated Has no effect; remove it from configs.
   */
  blockSize?: number;
  /** Load balancing (default `{ auxLoss: 0.01 }`). */
  balancing?: BalancingOptions;
}

/** Options with every default filled in. */
export interface ResolvedMoEOptions {
  /** See {@link MoEOptions.experts}. */
  experts: number;
  /** See {@link MoEOptions.topK}. */
  topK: number;
  /** See {@link MoEOptions.expertDFF}. */
  expertDFF: number;
  /** See {@link MoEOptions.sharedExperts}. */
  sharedExperts: number;
  /** See {@link MoEOptions.activation}. */
  activation: ExpertActivation;
  /** See {@link MoEOptions.scoring}. */
  scoring: RouterScoring;
  /** See {@link MoEOptions.normalizeTopK}. */
  normalizeTopK: boolean;
  /** See {@link MoEOptions.routedScale}. */
  routedScale: number;
  /** See {@link MoEOptions.jitter}. */
  jitter: number;
  /** See {@link MoEOptions.dispatch}. */
  dispatch: DispatchMode;
  /** See {@link MoEOptions.capacityFactor} (filled in for dropless too, unused there). */
  capacityFactor: number;
  /** See {@link MoEOptions.blockSize} (no effect). @deprecated */
  blockSize: number;
  /** Every balancing coefficient (0 = off). */
  balancing: Required<BalancingOptions>;
}

const KEYS = [
  'experts',
  'topK',
  'expertDFF',
  'sharedExperts',
  'activation',
  'scoring',
  'normalizeTopK',
  'routedScale',
  'jitter',
  'dispatch',
  'capacityFactor',
  'blockSize',
  'balancing',
] as const;
const BALANCING_KEYS = ['auxLoss', 'zLoss', 'biasUpdateRate'] as const;

function integer(v: unknown, field: string, min: number, hint: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new ConfigError(`${field} must be an integer ≥ ${min} (${hint}), got ${JSON.stringify(v)}`);
  }
  return v;
}

function nonNegative(v: unknown, field: string, hint: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new ConfigError(`${field} must be a finite number ≥ 0 (${hint}), got ${JSON.stringify(v)}`);
  }
  return v;
}

function oneOf<T extends string>(v: unknown, field: string, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) {
    throw new ConfigError(
      `${field} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(v)}`,
    );
  }
  return v as T;
}

/**
 * Checks MoE options and fills in the defaults. `field` names them in errors (`GPTConfig.feedForward[2]`);
 * `dFF` is the block's hidden width (the default expert width). Throws a `ConfigError` naming
 * the option and the fix (e.g. `topK` larger than `experts`).
 */
export function resolveMoEOptions(
  options: Record<string, unknown>,
  field = 'moe',
  dFF?: number,
): ResolvedMoEOptions {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError(
      `${field} must be an object such as { experts: 8, topK: 2 }, got ${JSON.stringify(options)}`,
    );
  }
  const unknown = Object.keys(options).filter(
    (k) => k !== 'kind' && !(KEYS as readonly string[]).includes(k),
  );
  if (unknown.length > 0) {
    throw new ConfigError(
      `${field} has unknown option(s) ${unknown.join(', ')}; MoE options are ${KEYS.join(', ')}`,
    );
  }
  const o = options as unknown as MoEOptions;
  const experts = integer(o.experts, `${field}.experts`, 1, 'the number of routed experts');
  const topK = integer(o.topK, `${field}.topK`, 1, 'experts per token');
  if (topK > experts) {
    throw new ConfigError(
      `${field}.topK (${topK}) is larger than ${field}.experts (${experts}); each token picks topK distinct experts, so lower topK or add experts`,
    );
  }
  const expertDFF =
    o.expertDFF === undefined
      ? dFF
      : integer(
          o.expertDFF,
          `${field}.expertDFF`,
          1,
          "each expert's hidden width; leave it out for the block's dFF",
        );
  if (expertDFF === undefined) {
    throw new ConfigError(`${field}.expertDFF is required outside a GPT (each expert's hidden width)`);
  }
  const sharedExperts =
    o.sharedExperts === undefined
      ? 0
      : integer(o.sharedExperts, `${field}.sharedExperts`, 0, 'always-on experts');
  const activation =
    o.activation === undefined ? 'swiglu' : oneOf(o.activation, `${field}.activation`, ['swiglu', 'gelu']);
  const scoring =
    o.scoring === undefined ? 'softmax' : oneOf(o.scoring, `${field}.scoring`, ['softmax', 'sigmoid']);
  if (o.normalizeTopK !== undefined && typeof o.normalizeTopK !== 'boolean') {
    throw new ConfigError(
      `${field}.normalizeTopK must be true or false, got ${JSON.stringify(o.normalizeTopK)}`,
    );
  }
  const normalizeTopK = o.normalizeTopK ?? (scoring === 'sigmoid' || topK > 1);
  const routedScale =
    o.routedScale === undefined
      ? 1
      : nonNegative(
          o.routedScale,
          `${field}.routedScale`,
          "the routed gates' multiplier; DeepSeek-V3 uses 2.5",
        );
  if (routedScale <= 0)
    throw new ConfigError(`${field}.routedScale must be above 0 (1 = off), got ${routedScale}`);
  const jitter =
    o.jitter === undefined
      ? 0
      : nonNegative(o.jitter, `${field}.jitter`, 'router input noise; Switch uses 0.01');
  if (jitter >= 1)
    throw new ConfigError(`${field}.jitter must be below 1 (noise is U(1−ε, 1+ε)), got ${jitter}`);
  const dispatch =
    o.dispatch === undefined ? 'dropless' : oneOf(o.dispatch, `${field}.dispatch`, ['dropless', 'capacity']);
  const capacityFactor =
    o.capacityFactor === undefined
      ? 1.25
      : nonNegative(
          o.capacityFactor,
          `${field}.capacityFactor`,
          'slots per expert relative to an even split; Switch uses 1.0–1.25',
        );
  if (capacityFactor <= 0)
    throw new ConfigError(`${field}.capacityFactor must be above 0, got ${capacityFactor}`);
  if (o.capacityFactor !== undefined && dispatch !== 'capacity') {
    throw new ConfigError(
      `${field}.capacityFactor is set but ${field}.dispatch is '${dispatch}'; set dispatch: 'capacity' to use it, or remove capacityFactor`,
    );
  }
  const blockSize =
    o.blockSize === undefined
      ? 16
      : integer(o.blockSize, `${field}.blockSize`, 1, 'rows per block (no effect since the grouped kernel)');
  const b = (o.balancing ?? {}) as Record<string, unknown>;
  if (b === null || typeof b !== 'object' || Array.isArray(b)) {
    throw new ConfigError(
      `${field}.balancing must be an object such as { auxLoss: 0.01 }, got ${JSON.stringify(o.balancing)}`,
    );
  }
  const unknownB = Object.keys(b).filter((k) => !(BALANCING_KEYS as readonly string[]).includes(k));
  if (unknownB.length > 0) {
    throw new ConfigError(
      `${field}.balancing has unknown option(s) ${unknownB.join(', ')}; the methods are auxLoss, zLoss, biasUpdateRate (each a coefficient, 0 = off)`,
    );
  }
  const balancing = {
    auxLoss:
      b.auxLoss === undefined
        ? 0.01
        : nonNegative(b.auxLoss, `${field}.balancing.auxLoss`, 'Switch aux-loss coefficient, 0 = off'),
    zLoss:
      b.zLoss === undefined
        ? 0
        : nonNegative(b.zLoss, `${field}.balancing.zLoss`, 'router z-loss coefficient, 0 = off'),
    biasUpdateRate:
      b.biasUpdateRate === undefined
        ? 0
        : nonNegative(
            b.biasUpdateRate,
            `${field}.balancing.biasUpdateRate`,
            'bias step γ per optimizer step, 0 = off',
          ),
  };
  return {
    experts,
    topK,
    expertDFF,
    sharedExperts,
    activation,
    scoring,
    normalizeTopK,
    routedScale,
    jitter,
    dispatch,
    capacityFactor,
    blockSize,
    balancing,
  };
}
