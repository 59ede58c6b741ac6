/**
 * The `moe` feed-forward kind: importing `@kiln/moe` registers it with `@kiln/transformer`, so a
 * `GPTConfig` whose `feedForward` holds `{ kind: 'moe', experts, topK, ... }` builds MoE blocks
 * (and a saved model directory with such a config loads again) without the transformer knowing
 * about experts. `moeFeedForward` writes the per-block specs for "every n-th block is an MoE".
 */
import {
  ConfigError,
  defaultFeedForward,
  type FeedForwardFactory,
  type FeedForwardSpec,
  type GPTConfig,
  type JsonValue,
  registerFeedForward,
} from '@kiln/transformer';
import { MoE } from './moe-layer.js';
import { type MoEOptions, resolveMoEOptions } from './options.js';

/** The registered kind's name. */
export const MOE_KIND = 'moe';

/** The factory behind `{ kind: 'moe' }` (the block's dFF is the default expert width). */
export const moeFactory: FeedForwardFactory = {
  create(spec, dims) {
    const { kind: _kind, ...options } = spec;
    const moe = { ...options, expertDFF: options.expertDFF ?? dims.dFF } as unknown as MoEOptions;
    return new MoE(dims.dModel, moe, { outputStd: dims.outputStd, backend: dims.backend });
  },
  validate(spec, field) {
    // the block's dFF is not known here; 1 stands in for an absent expertDFF
    resolveMoEOptions(spec, field, 1);
  },
};

registerFeedForward(MOE_KIND, moeFactory);

/** Where the MoE blocks go in {@link moeFeedForward}. */
export interface MoEPlacement {
  /** Every n-th block is an MoE (default 1: all of them). */
  everyNLayers?: number;
  /** The first MoE block (default `everyNLayers − 1`, so with 2 the odd blocks, as GShard/Switch alternate). */
  firstLayer?: number;
}

/**
 * `GPTConfig.feedForward` for a model whose chosen blocks are MoE layers and the others the
 * family's dense MLP. Returns one spec per block (or a single spec when every block is MoE).
 *
 * ```ts
 * const config = { ...GPT.config('llama-tiny') };
 * config.feedForward = moeFeedForward(config, { experts: 8, topK: 2, expertDFF: 64 }, { everyNLayers: 2 });
 * ```
 */
export function moeFeedForward(
  config: Pick<GPTConfig, 'family' | 'nLayers'>,
  moe: MoEOptions,
  placement: MoEPlacement = {},
): FeedForwardSpec | FeedForwardSpec[] {
  const every = placement.everyNLayers ?? 1;
  if (!Number.isInteger(every) || every < 1) {
    throw new ConfigError(
      `moeFeedForward: everyNLayers must be a positive integer, got ${JSON.stringify(every)}`,
    );
  }
  const first = placement.firstLayer ?? every - 1;
  if (!Number.isInteger(first) || first < 0 || first >= config.nLayers) {
    throw new ConfigError(
      `moeFeedForward: firstLayer must be a block index in [0, ${config.nLayers}) (nLayers), got ${JSON.stringify(first)}`,
    );
  }
  const spec: FeedForwardSpec = {
    ...(JSON.parse(JSON.stringify(moe)) as Record<string, JsonValue>),
    kind: MOE_KIND,
  };
  if (every === 1 && first === 0) return spec;
  const dense = defaultFeedForward(config.family);
  return Array.from({ length: config.nLayers }, (_, i) =>
    i >= first && (i - first) % every === 0 ? structuredClone(spec) : structuredClone(dense),
  );
}
