/**
 * The feed-forward registry: which module a block builds for a `{ kind, ...options }` spec in
 * `GPTConfig.feedForward`. `gelu` (`GeluMLP`) and `swiglu` (`SwiGLU`) are built in; another
 * package adds a kind with `registerFeedForward` (before a config that uses it is resolved or a
 * checkpoint that uses it is loaded), without editing the transformer. Specs are plain JSON so a
 * config, with its feed-forward choice, round-trips through `config.json`'s `kiln_config`.
 */
import { Module } from '@kiln/autograd';
import type { Backend } from '@kiln/tensor';
import { ConfigError } from './config-error.js';
import type { FeedForward } from './layers/feed-forward.js';
import { GeluMLP } from './layers/gelu-mlp.js';
import { SwiGLU } from './layers/swiglu.js';

/** A JSON value (what a feed-forward spec's options may hold). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * Which feed-forward module a block uses: a registered `kind` and that kind's options, all JSON
 * (e.g. `{ kind: 'swiglu', dFF: 512 }`, or an MoE's `{ kind: 'moe', experts: 8, topK: 2 }`).
 */
export interface FeedForwardSpec {
  /** A kind registered with {@link registerFeedForward} (built in: `gelu`, `swiglu`). */
  kind: string;
  /** The kind's options. */
  [option: string]: JsonValue;
}

/** What a factory gets from the block besides the spec. */
export interface FeedForwardDims {
  /** Width of the residual stream (the module's input and output width). */
  dModel: number;
  /** The model's hidden width (`GPTConfig.dFF`); a spec may override it with its own option. */
  dFF: number;
  /** Whether the model uses biases in its linear layers (`GPTConfig.bias`). */
  bias: boolean;
  /** Init std for projections that write into the residual stream (0.02/√(2·nLayers) in a GPT). */
  outputStd: number;
  /** Where the parameters are created. */
  backend?: Backend | string;
}

/** How a feed-forward kind is built and checked. */
export interface FeedForwardFactory {
  /** Builds the module of one block (its parameters drawn from the seeded generator). */
  create(spec: FeedForwardSpec, dims: FeedForwardDims): FeedForward;
  /**
   * Checks the spec's options before any module is built (optional). `field` names the spec in
   * the config (`GPTConfig.feedForward[2]`): throw a `ConfigError` that names `${field}.option`
   * and says how to fix it.
   */
  validate?(spec: FeedForwardSpec, field: string): void;
}

/** Options of the built-in kinds: `dFF`, the hidden width (default `GPTConfig.dFF`). */
function validateDense(spec: FeedForwardSpec, field: string): void {
  const unknown = Object.keys(spec).filter((k) => k !== 'kind' && k !== 'dFF');
  if (unknown.length > 0) {
    throw new ConfigError(
      `${field} has unknown option(s) ${unknown.join(', ')}; '${spec.kind}' takes only dFF (the hidden width, default GPTConfig.dFF)`,
    );
  }
  const dFF = spec.dFF;
  if (dFF !== undefined && (typeof dFF !== 'number' || !Number.isInteger(dFF) || dFF < 1)) {
    throw new ConfigError(
      `${field}.dFF must be a positive integer (the hidden width; leave it out for GPTConfig.dFF), got ${JSON.stringify(dFF)}`,
    );
  }
}

function denseOptions(spec: FeedForwardSpec, dims: FeedForwardDims) {
  const dFF = typeof spec.dFF === 'number' ? spec.dFF : dims.dFF;
  return [dims.dModel, dFF, { bias: dims.bias, outputStd: dims.outputStd, backend: dims.backend }] as const;
}

const registry = new Map<string, FeedForwardFactory>([
  ['gelu', { create: (spec, dims) => new GeluMLP(...denseOptions(spec, dims)), validate: validateDense }],
  ['swiglu', { create: (spec, dims) => new SwiGLU(...denseOptions(spec, dims)), validate: validateDense }],
]);

/**
 * Makes `kind` usable in `GPTConfig.feedForward`. Registering the same factory again is a no-op
 * (a package imported twice); a different factory under a taken name is an error.
 *
 * ```ts
 * registerFeedForward('moe', {
 *   create: (spec, { dModel, dFF, bias, outputStd, backend }) => new MoE(dModel, { ...spec, backend }),
 *   validate: (spec, field) => { if (!Number.isInteger(spec.experts)) throw new ConfigError(`${field}.experts …`); },
 * });
 * new GPT({ ...GPT.config('llama-tiny'), feedForward: { kind: 'moe', experts: 8, topK: 2 } });
 * ```
 */
export function registerFeedForward(kind: string, factory: FeedForwardFactory): void {
  if (typeof kind !== 'string' || !/^[A-Za-z][\w.-]*$/.test(kind)) {
    throw new TypeError(
      `registerFeedForward: kind must be a name such as 'moe' (a letter, then letters, digits, _ . -), got ${JSON.stringify(kind)}`,
    );
  }
  if (factory === null || typeof factory !== 'object' || typeof factory.create !== 'function') {
    throw new TypeError(
      `registerFeedForward('${kind}'): the factory must be an object with create(spec, dims)`,
    );
  }
  if (factory.validate !== undefined && typeof factory.validate !== 'function') {
    throw new TypeError(`registerFeedForward('${kind}'): validate must be a function (spec, field) => void`);
  }
  const existing = registry.get(kind);
  if (existing === factory) return;
  if (existing) {
    throw new Error(
      `registerFeedForward: feed-forward kind '${kind}' is already registered with another factory; pick another name`,
    );
  }
  registry.set(kind, factory);
}

/** The registered feed-forward kinds, in registration order (`gelu`, `swiglu`, then added ones). */
export function feedForwardKinds(): string[] {
  return [...registry.keys()];
}

function shown(value: unknown): string {
  if (typeof value === 'function') return 'a function';
  if (value === undefined || typeof value === 'number') return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Throws a ConfigError naming the first non-JSON value under `field`. */
function checkJson(value: unknown, field: string): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return;
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => {
      checkJson(v, `${field}[${i}]`);
    });
    return;
  } else if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const [k, v] of Object.entries(value)) if (v !== undefined) checkJson(v, `${field}.${k}`);
    return;
  }
  throw new ConfigError(
    `${field} must be JSON (null, a boolean, a finite number, a string, or arrays and plain objects of them) so the config can be saved in config.json, got ${shown(value)}`,
  );
}

/**
 * Checks one spec at `field` (a registered kind, JSON options, the kind's own validation) and
 * returns a JSON copy of it, so later changes to the caller's object do not reach the config.
 * Throws a {@link ConfigError} naming the field; an unknown kind's message lists the registered ones.
 */
export function checkFeedForwardSpec(spec: unknown, field: string): FeedForwardSpec {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
    throw new ConfigError(
      `${field} must be an object { kind, ...options } such as { kind: 'gelu' }, got ${shown(spec)}`,
    );
  }
  const { kind } = spec as { kind?: unknown };
  const kinds = feedForwardKinds().join(', ');
  if (typeof kind !== 'string') {
    throw new ConfigError(
      `${field}.kind must be the name of a registered feed-forward kind (${kinds}), got ${shown(kind)}`,
    );
  }
  const factory = registry.get(kind);
  if (!factory) {
    throw new ConfigError(
      `${field}.kind '${kind}' is not a registered feed-forward kind; registered kinds: ${kinds}. A package that adds a kind registers it with registerFeedForward('${kind}', factory): import it before building or loading the model`,
    );
  }
  checkJson(spec, field);
  const copy = JSON.parse(JSON.stringify(spec)) as FeedForwardSpec;
  factory.validate?.(copy, field);
  return copy;
}

/**
 * Builds the module for `spec` with the block's `dims`: what `Block` calls. The spec is checked
 * first (errors name it `feedForward`), and the result must be a `Module` with `forward` and
 * `hfBindings`.
 */
export function createFeedForward(spec: FeedForwardSpec, dims: FeedForwardDims): FeedForward {
  const checked = checkFeedForwardSpec(spec, 'feedForward');
  const module = registry.get(checked.kind)!.create(checked, dims);
  if (
    !(module instanceof Module) ||
    typeof module.forward !== 'function' ||
    typeof module.hfBindings !== 'function'
  ) {
    throw new TypeError(
      `feed-forward kind '${checked.kind}': create() must return a Module with forward(x, context) and hfBindings(prefix, naming), got ${shown(module?.constructor?.name ?? module)}`,
    );
  }
  return module;
}
