/**
 * Putting LoRA adapters into a `GPT` and taking them out again: `applyLoRA` wraps the chosen
 * linear layers and freezes everything else, `mergeLoRA` folds the adapters into the weights,
 * `unloadLoRA` drops them, and the parameter helpers hand an optimizer the adapters only.
 */
import { noGrad, type Parameter } from '@kiln/autograd';
import { getRngState, manualSeed, setRngState } from '@kiln/tensor';
import type { GPT } from '../gpt.js';
import { Linear } from '../layers/linear.js';
import { LoRAAdapter, LoRALinear } from './lora-linear.js';
import { type LoRASite, loraSites, siteMatches, validTargetNames } from './sites.js';

/** Options of {@link applyLoRA}. */
export interface LoRAOptions {
  /** Rank r of every adapter (a positive integer; 8 or 16 are usual). */
  rank: number;
  /** α: adapters are scaled by α/r (α/√r with `rsLoRA`). */
  alpha: number;
  /** Dropout on each adapter's input in training mode (default 0). */
  dropout?: number;
  /**
   * Which linear layers get adapters: `'all-linear'` (every linear layer of the blocks, not the
   * head) or names: GPT-2 `qkv`, `o`, `fc`, `proj`; Llama `q`, `k`, `v` (or `qkv` for all three),
   * `o`, `gate`, `up`, `down`. Hugging Face module names work too (`c_attn`, `q_proj`, …); a
   * name selects that layer in every block (so GPT-2's `c_proj` selects both `o` and `proj`).
   */
  targets: readonly string[] | 'all-linear';
  /** Scale by α/√r instead of α/r (rank-stabilised LoRA, Kalajdzievski 2023; default false). */
  rsLoRA?: boolean;
  /**
   * Draw the A matrices from a generator seeded with this, leaving the global one where it was.
   * Default: draw from the global seeded generator (`manualSeed`), which advances it.
   */
  seed?: number;
}

/** One adapter in a model. */
export interface LoRAAdapterInfo {
  /** Kiln path of the wrapped linear layer (`blocks.0.attn.qkv`). */
  layer: string;
  /** Its target name (`qkv`, `q`, `fc`, …). */
  target: string;
  /** Hugging Face module name (`transformer.h.0.attn.c_attn`), or null without one. */
  hfModule: string | null;
  /** Output rows of the layer it corrects, `[start, end)`. */
  rows: [number, number];
}

/** What {@link applyLoRA} and `loadAdapter` report. */
export interface LoRAInfo {
  /** Elements in the parameters an optimizer will train (the adapters'). */
  trainableParams: number;
  /** Elements in every parameter of the model, adapters included. */
  totalParams: number;
  /** Kiln paths of the wrapped linear layers, in model order. */
  wrapped: string[];
  /** Every adapter, in model order. */
  adapters: LoRAAdapterInfo[];
  /** The resolved settings. */
  rank: number;
  alpha: number;
  dropout: number;
  rsLoRA: boolean;
  /** α/r, or α/√r with rsLoRA. */
  scale: number;
}

/** The settings of the adapters in a model, and which parameters were trainable before. */
interface LoRAState {
  rank: number;
  alpha: number;
  dropout: number;
  rsLoRA: boolean;
  /** requiresGrad of every parameter (by name) before applyLoRA froze it. */
  trainableBefore: Map<string, boolean>;
}

const states = new WeakMap<GPT, LoRAState>();

/** The LoRA settings of `model`, or undefined if it has no adapters. */
export function loraSettings(model: GPT): Omit<LoRAState, 'trainableBefore'> | undefined {
  const s = states.get(model);
  return s && { rank: s.rank, alpha: s.alpha, dropout: s.dropout, rsLoRA: s.rsLoRA };
}

function checkOptions(options: LoRAOptions): Required<Omit<LoRAOptions, 'seed' | 'targets'>> {
  if (options === null || typeof options !== 'object')
    throw new TypeError(
      'applyLoRA: options must be an object { rank, alpha, targets, dropout?, rsLoRA?, seed? }',
    );
  const { rank, alpha, dropout = 0, rsLoRA = false, seed } = options;
  if (!Number.isInteger(rank) || rank < 1)
    throw new RangeError(
      `applyLoRA: rank must be a positive integer (8 or 16 are usual), got ${String(rank)}`,
    );
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha <= 0)
    throw new RangeError(`applyLoRA: alpha must be a finite number > 0 (often 2·rank), got ${String(alpha)}`);
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1))
    throw new RangeError(`applyLoRA: dropout must be in [0, 1), got ${String(dropout)}`);
  if (typeof rsLoRA !== 'boolean')
    throw new TypeError(`applyLoRA: rsLoRA must be a boolean, got ${String(rsLoRA)}`);
  if (seed !== undefined && !Number.isInteger(seed))
    throw new RangeError(`applyLoRA: seed must be an integer, got ${String(seed)}`);
  return { rank, alpha, dropout, rsLoRA };
}

/** The sites `targets` select; unknown names are an error that lists the valid ones. */
export function selectSites(model: GPT, targets: LoRAOptions['targets'], who = 'applyLoRA'): LoRASite[] {
  const sites = loraSites(model);
  if (targets === 'all-linear') return sites;
  if (!Array.isArray(targets) || targets.length === 0 || targets.some((t) => typeof t !== 'string')) {
    throw new TypeError(
      `${who}: targets must be 'all-linear' or a non-empty array of layer names such as ['qkv', 'o'], got ${JSON.stringify(targets)}`,
    );
  }
  const unknown = targets.filter((t) => !sites.some((s) => siteMatches(s, t)));
  if (unknown.length > 0) {
    const { short, hf } = validTargetNames(sites);
    const fused =
      model.config.family === 'gpt2' &&
      unknown.some((t) => ['q', 'k', 'v', 'q_proj', 'k_proj', 'v_proj'].includes(t))
        ? " GPT-2's attention has one fused q/k/v projection (Hugging Face c_attn, a single module in peft too): target 'qkv'."
        : '';
    throw new RangeError(
      `${who}: unknown target${unknown.length > 1 ? 's' : ''} ${unknown.map((t) => `'${t}'`).join(', ')} for this ${model.config.family} model; valid targets: ${short.join(', ')}${hf.length > 0 ? ` (or the Hugging Face names ${hf.join(', ')})` : ''}, or 'all-linear'.${fused}`,
    );
  }
  return sites.filter((s) => targets.some((t) => siteMatches(s, t)));
}

/** Every LoRA layer of `model` with its path. */
export function loraLayers(model: GPT): [string, LoRALinear][] {
  return model.namedModules().filter((e): e is [string, LoRALinear] => e[1] instanceof LoRALinear);
}

/**
 * Runs `fn` with every LoRA adapter of `model` switched off, so the model computes its frozen
 * base (the reference model of preference and RL training, without a second copy in memory),
 * and switches them back on after, also when `fn` throws. `fn` must be synchronous (tensor ops
 * are): the switch must not leak into code that runs between the caller's awaits. Throws when
 * the model has no adapters, since the "reference" would then be the policy itself.
 *
 * ```ts
 * const refLogps = withAdaptersDisabled(policy, () => noGrad(() => sequenceLogprobs(policy, ids, mask)));
 * ```
 */
export function withAdaptersDisabled<R>(model: GPT, fn: () => R): R {
  const layers = loraLayers(model).map(([, layer]) => layer);
  if (layers.length === 0) {
    throw new Error(
      'withAdaptersDisabled: the model has no LoRA adapters (applyLoRA first), so there is no base to fall back to',
    );
  }
  const before = layers.map((layer) => layer.adaptersDisabled);
  for (const layer of layers) layer.adaptersDisabled = true;
  try {
    const result = fn();
    if (result instanceof Promise) {
      throw new TypeError(
        'withAdaptersDisabled: fn returned a promise; pass a synchronous function (tensor ops are synchronous)',
      );
    }
    return result;
  } finally {
    layers.forEach((layer, i) => {
      layer.adaptersDisabled = before[i];
    });
  }
}

/** Whether `model` has LoRA adapters (call `mergeLoRA` or `unloadLoRA` to remove them). */
export function hasLoRA(model: GPT): boolean {
  return loraLayers(model).length > 0;
}

/** The scale of adapters with these settings: α/r, or α/√r with rsLoRA. */
export function loraScale(rank: number, alpha: number, rsLoRA: boolean): number {
  return rsLoRA ? alpha / Math.sqrt(rank) : alpha / rank;
}

/**
 * Wraps `sites` (grouped by layer) with fresh adapters and freezes every other parameter: the
 * shared body of `applyLoRA` and `loadAdapter`.
 */
export function wrapSites(
  model: GPT,
  sites: readonly LoRASite[],
  settings: { rank: number; alpha: number; dropout: number; rsLoRA: boolean; seed?: number },
  who: string,
): LoRAInfo {
  if (hasLoRA(model)) {
    throw new Error(
      `${who}: the model already has LoRA adapters; call mergeLoRA(model) or unloadLoRA(model) first (one adapter set at a time)`,
    );
  }
  if (sites.length === 0) throw new RangeError(`${who}: no layer selected for an adapter`);
  const { rank, alpha, dropout, rsLoRA, seed } = settings;
  const scale = loraScale(rank, alpha, rsLoRA);
  const trainableBefore = new Map(model.namedParameters().map(([n, p]) => [n, p.requiresGrad]));
  const byLayer = new Map<Linear, LoRASite[]>();
  for (const s of sites) byLayer.set(s.linear, [...(byLayer.get(s.linear) ?? []), s]);
  const saved = seed === undefined ? null : getRngState();
  if (seed !== undefined) manualSeed(seed);
  const built: [LoRASite, LoRALinear][] = [];
  try {
    for (const [linear, group] of byLayer) {
      const adapters = new Map(
        group.map((s) => [
          s.target,
          new LoRAAdapter(linear.inFeatures, s.rows, {
            rank,
            scale,
            dropout,
            backend: linear.weight.backend,
          }),
        ]),
      );
      built.push([group[0], new LoRALinear(linear, adapters)]);
    }
  } catch (error) {
    for (const [, layer] of built) for (const [, a] of layer.adapters()) a.dispose();
    throw error;
  } finally {
    if (saved) setRngState(saved);
  }
  for (const [, p] of model.namedParameters()) p.requiresGrad = false;
  for (const [site, layer] of built) {
    layer.train(model.training);
    site.owner[site.slot] = layer;
  }
  states.set(model, { rank, alpha, dropout, rsLoRA, trainableBefore });
  return describeLoRA(model);
}

/**
 * Wraps the linear layers `targets` names (in every block) in LoRA layers and freezes every
 * base parameter, so an optimizer built afterwards (`defaultParamGroups`, the `Trainer`'s
 * default, or {@link trainableParameters}) trains and stores state for the adapters alone.
 * A is Kaiming-uniform (bound 1/√in, as peft), B zero, so the model's output is unchanged until
 * it trains; the delta is scaled by α/r (α/√r with `rsLoRA`). Throws if the model already has
 * adapters or a target name is unknown (the message lists the valid ones).
 *
 * ```ts
 * const info = applyLoRA(model, { rank: 8, alpha: 16, targets: ['qkv', 'o'] });
 * const optimizer = new AdamW(trainableParameters(model), { lr: 1e-3 });
 * ```
 */
export function applyLoRA(model: GPT, options: LoRAOptions): LoRAInfo {
  const settings = checkOptions(options);
  const sites = selectSites(model, options.targets);
  return wrapSites(model, sites, { ...settings, seed: options.seed }, 'applyLoRA');
}

/** What the model's adapters are, and how many parameters are trainable. */
export function describeLoRA(model: GPT): LoRAInfo {
  const state = states.get(model);
  if (!state || !hasLoRA(model)) throw new Error('describeLoRA: the model has no LoRA adapters');
  const wrapped = new Set<string>();
  const adapters: LoRAAdapterInfo[] = [];
  for (const s of loraSites(model)) {
    if (!(s.linear instanceof LoRALinear)) continue;
    const adapter = s.linear.lora[s.target];
    if (!(adapter instanceof LoRAAdapter)) continue;
    wrapped.add(s.layer);
    adapters.push({ layer: s.layer, target: s.target, hfModule: s.hfModule, rows: s.rows });
  }
  const params = model.parameters();
  return {
    trainableParams: params.filter((p) => p.requiresGrad).reduce((n, p) => n + p.size, 0),
    totalParams: params.reduce((n, p) => n + p.size, 0),
    wrapped: [...wrapped],
    adapters,
    rank: state.rank,
    alpha: state.alpha,
    dropout: state.dropout,
    rsLoRA: state.rsLoRA,
    scale: loraScale(state.rank, state.alpha, state.rsLoRA),
  };
}

/** Puts plain `Linear`s back in place of the LoRA layers and restores which parameters trained. */
function unwrap(model: GPT, merge: boolean, who: string): number {
  const sites = loraSites(model).filter((s) => s.linear instanceof LoRALinear);
  if (sites.length === 0) throw new Error(`${who}: the model has no LoRA adapters`);
  const state = states.get(model);
  const done = new Set<LoRALinear>();
  let count = 0;
  for (const site of sites) {
    const layer = site.linear as LoRALinear;
    if (done.has(layer)) continue;
    done.add(layer);
    for (const [, adapter] of layer.adapters()) {
      if (merge) {
        noGrad(() => {
          // W[rows] += s · B A, one [rows, r] × [r, in] product per adapter
          const [r0, r1] = adapter.rows;
          const rows = layer.weight.slice(0, r0, r1);
          const delta = adapter.B.matmul(adapter.A).mul(adapter.scale).cast(layer.weight.dtype);
          const sum = rows.add(delta);
          rows.assign(sum);
          for (const t of [rows, delta, sum]) t.dispose();
        });
      }
      adapter.dispose();
      count++;
    }
    const plain = new Linear(layer.inFeatures, layer.outFeatures, { weight: layer.weight, bias: false });
    plain.bias = layer.bias;
    plain.training = layer.training;
    site.owner[site.slot] = plain;
  }
  const before = state?.trainableBefore;
  for (const [name, p] of model.namedParameters()) p.requiresGrad = before?.get(name) ?? true;
  states.delete(model);
  return count;
}

/**
 * Folds every adapter into its base weight (`W[rows] += s·B·A`), puts plain `Linear` layers
 * back and restores which parameters were trainable before `applyLoRA`: the model then computes
 * what the adapted model did, at the base model's cost, and `saveModel` writes it. Returns the
 * number of adapters merged.
 */
export function mergeLoRA(model: GPT): number {
  return unwrap(model, true, 'mergeLoRA');
}

/** Removes the adapters without merging them (the base model again) and restores which parameters trained. Returns how many were removed. */
export function unloadLoRA(model: GPT): number {
  return unwrap(model, false, 'unloadLoRA');
}

/** The adapters' parameters (`blocks.0.attn.qkv.lora.qkv.A`, …) with their names. */
export function loraParameters(model: GPT): [string, Parameter][] {
  const own = new Set<Parameter>();
  for (const [, layer] of loraLayers(model))
    for (const [, adapter] of layer.adapters()) own.add(adapter.A).add(adapter.B);
  return model.namedParameters().filter(([, p]) => own.has(p));
}

/**
 * The parameters that still require gradients, with their names: after `applyLoRA`, the
 * adapters alone. Hand it to an optimizer (`new AdamW(trainableParameters(model), …)`) or to
 * `defaultParamGroups`, which leaves frozen parameters out by itself.
 */
export function trainableParameters(model: {
  namedParameters(): [string, Parameter][];
}): [string, Parameter][] {
  return model.namedParameters().filter(([, p]) => p.requiresGrad);
}
