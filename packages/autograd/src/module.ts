/**
 * `Module`: a container of parameters and submodules, found by property name (no explicit
 * registration): `this.fc1 = new Linear(…)` registers submodule `fc1`; `this.weight = new
 * Parameter(…)` registers parameter `weight`; arrays of either register `blocks.0`, `blocks.1` ….
 * Names are dotted paths, as in PyTorch, so state dicts map onto Hugging Face checkpoints.
 */
import type { DType, Tensor } from '@kiln/tensor';
import { noGrad } from './mode.js';
import { Parameter } from './parameter.js';

/** A place in a module that holds a parameter or a submodule. */
interface Slot {
  readonly owner: Record<string | number, unknown>;
  readonly key: string | number;
  readonly name: string;
  readonly value: Parameter | Module;
}

/** Options of {@link Module.loadStateDict}. */
export interface LoadStateDictOptions {
  /** Fail on missing and unexpected keys (default true). Mis-shaped keys always fail. */
  strict?: boolean;
}

/** Keys of a state dict that did not match a module. */
export interface StateDictMismatch {
  /** Parameters of the module that the state dict lacks. */
  missingKeys: string[];
  /** Entries of the state dict that the module has no parameter for. */
  unexpectedKeys: string[];
  /** Entries whose shape differs from the parameter's. */
  misShapedKeys: { key: string; expected: number[]; got: number[] }[];
}

/** `loadStateDict` found keys that do not match; the message lists every one, with shapes. */
export class StateDictError extends Error {
  override name = 'StateDictError';
  constructor(
    message: string,
    /** Every key that did not match, by kind. */
    readonly mismatch: StateDictMismatch,
  ) {
    super(message);
  }
}

function slotsOf(m: Module): Slot[] {
  const slots: Slot[] = [];
  for (const [key, value] of Object.entries(m)) {
    if (value instanceof Parameter || value instanceof Module) {
      slots.push({ owner: m as unknown as Record<string, unknown>, key, name: key, value });
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => {
        if (v instanceof Parameter || v instanceof Module)
          slots.push({
            owner: value as unknown as Record<number, unknown>,
            key: i,
            name: `${key}.${i}`,
            value: v,
          });
      });
    }
  }
  return slots;
}

function fmtShapeOf(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

function join(prefix: string, name: string): string {
  return prefix ? `${prefix}.${name}` : name;
}

/**
 * Base class of layers and models. Subclasses assign Parameters and submodules to properties
 * in their constructor and define their own forward method.
 *
 * ```ts
 * class Linear extends Module {
 *   weight = new Parameter(randn([4, 2]).mul(0.5));
 *   bias = new Parameter(zeros([2]));
 *   forward(x: Tensor) { return x.matmul(this.weight).add(this.bias); }
 * }
 * ```
 */
export class Module {
  /** True in training mode (dropout active …); set with {@link train} and {@link eval}. */
  training = true;

  /** This module and every submodule, depth first in property order, each once, with its dotted name ('' for this one). */
  namedModules(): [string, Module][] {
    const out: [string, Module][] = [];
    const seen = new Set<Module>();
    const walk = (m: Module, prefix: string): void => {
      if (seen.has(m)) return;
      seen.add(m);
      out.push([prefix, m]);
      for (const s of slotsOf(m)) if (s.value instanceof Module) walk(s.value, join(prefix, s.name));
    };
    walk(this, '');
    return out;
  }

  /** Every parameter slot with its full name, shared (tied) parameters under each of their names. */
  #parameterSlots(): Slot[] {
    const out: Slot[] = [];
    for (const [prefix, m] of this.namedModules()) {
      for (const s of slotsOf(m))
        if (s.value instanceof Parameter) out.push({ ...s, name: join(prefix, s.name) });
    }
    return out;
  }

  /** Parameters with their dotted names; a parameter shared by two places is listed once (first name). */
  namedParameters(): [string, Parameter][] {
    const seen = new Set<Parameter>();
    const out: [string, Parameter][] = [];
    for (const s of this.#parameterSlots()) {
      const p = s.value as Parameter;
      if (seen.has(p)) continue;
      seen.add(p);
      out.push([s.name, p]);
    }
    return out;
  }

  /** The parameters (each once), e.g. for an optimizer. */
  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /**
   * Name → parameter for every parameter name (tied parameters appear under each name, as in
   * PyTorch). The tensors are the live parameters, not copies: read them, do not dispose them.
   */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries(this.#parameterSlots().map((s) => [s.name, s.value as Parameter]));
  }

  /**
   * Copies values from `dict` (name → tensor, e.g. from a checkpoint) into the parameters, in
   * place (so optimizers keep their references); values are cast to each parameter's dtype. All
   * keys are checked first: with `strict` (default) any missing or unexpected key is an error,
   * and a shape mismatch always is; the error lists every such key with both shapes.
   */
  loadStateDict(
    dict: Record<string, Tensor> | Map<string, Tensor>,
    options: LoadStateDictOptions = {},
  ): StateDictMismatch {
    const strict = options.strict ?? true;
    const entries = dict instanceof Map ? dict : new Map(Object.entries(dict));
    const slots = this.#parameterSlots();
    const names = new Set(slots.map((s) => s.name));
    const mismatch: StateDictMismatch = {
      missingKeys: slots.filter((s) => !entries.has(s.name)).map((s) => s.name),
      unexpectedKeys: [...entries.keys()].filter((k) => !names.has(k)),
      misShapedKeys: [],
    };
    for (const s of slots) {
      const src = entries.get(s.name);
      const p = s.value as Parameter;
      if (src && (src.shape.length !== p.shape.length || src.shape.some((d, i) => d !== p.shape[i]))) {
        mismatch.misShapedKeys.push({ key: s.name, expected: [...p.shape], got: [...src.shape] });
      }
    }
    const lines: string[] = [];
    if (strict && mismatch.missingKeys.length > 0)
      lines.push(`  missing keys (${mismatch.missingKeys.length}): ${mismatch.missingKeys.join(', ')}`);
    if (strict && mismatch.unexpectedKeys.length > 0)
      lines.push(
        `  unexpected keys (${mismatch.unexpectedKeys.length}): ${mismatch.unexpectedKeys.join(', ')}`,
      );
    if (mismatch.misShapedKeys.length > 0) {
      lines.push(`  mis-shaped keys (${mismatch.misShapedKeys.length}):`);
      for (const m of mismatch.misShapedKeys)
        lines.push(`    ${m.key}: module has ${fmtShapeOf(m.expected)}, state dict has ${fmtShapeOf(m.got)}`);
    }
    if (lines.length > 0) {
      throw new StateDictError(
        `loadStateDict: the state dict does not match ${this.constructor.name}:\n${lines.join('\n')}${strict ? '\n  (pass { strict: false } to ignore missing and unexpected keys)' : ''}`,
        mismatch,
      );
    }
    noGrad(() => {
      for (const s of slots) {
        const src = entries.get(s.name);
        if (src) (s.value as Parameter).assign(src);
      }
    });
    return mismatch;
  }

  /** Sets training mode on this module and every submodule. Returns this. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  /** Sets evaluation mode (`train(false)`). Returns this. */
  eval(): this {
    return this.train(false);
  }

  /** Disposes every parameter's `.grad` and sets it to null. */
  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /** Total number of elements in the parameters (shared parameters counted once). */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  /**
   * Converts every parameter to `dtype`. Parameters are replaced by new Parameter objects
   * (same names, same `requiresGrad`, gradients dropped), so create optimizers after `to()`.
   * Returns this.
   */
  to(dtype: DType): this {
    const replaced = new Map<Parameter, Parameter>();
    for (const [, old] of this.namedParameters()) {
      if (old.dtype === dtype) continue;
      replaced.set(
        old,
        new Parameter(
          noGrad(() => old.cast(dtype)),
          { requiresGrad: old.requiresGrad },
        ),
      );
    }
    this.replaceParameters(replaced);
    for (const old of replaced.keys()) old.dispose();
    return this;
  }

  /**
   * Puts `replacements.get(p)` in every slot that holds `p` (so tied parameters stay tied), for
   * every parameter of the map; nothing is copied or disposed, and the replaced parameters stay
   * valid. This is how a caller runs the same module over other tensors of the same shapes and
   * swaps back afterwards (the trainer's mixed precision puts float16 working copies of the
   * float32 weights in for each step). Throws, changing nothing, when a replacement's shape
   * differs from the parameter it replaces.
   */
  replaceParameters(replacements: ReadonlyMap<Parameter, Parameter>): void {
    const slots = this.#parameterSlots().filter((s) => replacements.has(s.value as Parameter));
    for (const s of slots) {
      const next = replacements.get(s.value as Parameter)!;
      const old = s.value as Parameter;
      if (!(next instanceof Parameter) || next.shape.join() !== old.shape.join()) {
        throw new TypeError(
          `Module.replaceParameters: the replacement of '${s.name}' must be a Parameter of shape ${fmtShapeOf(old.shape)}, got ${next instanceof Parameter ? fmtShapeOf(next.shape) : typeof next}`,
        );
      }
    }
    for (const s of slots) s.owner[s.key] = replacements.get(s.value as Parameter);
  }

  /** Disposes every parameter (and its gradient). The module must not be used afterwards. */
  dispose(): void {
    for (const p of this.parameters()) p.dispose();
  }
}
