/**
 * The optimizer base class: parameter groups, the learning rate, the step count, per-parameter
 * state tensors and their (de)serialisation. Subclasses implement one parameter's update.
 *
 * Updates are tensor ops written into the parameters and state with `assign` under `noGrad`, so
 * a step only enqueues work: nothing is read back to the host.
 */
import { noGrad, type Parameter } from '@kiln/autograd';
import { full, keep, scope, stack, type Tensor, zerosLike } from '@kiln/tensor';
import {
  type NamedParameter,
  type ParamsInput,
  type ResolvedParamGroup,
  resolveParamGroups,
} from './named-params.js';

/** JSON hyperparameters stored with the optimizer state (for checks and for people). */
export type Hyperparameters = Record<string, number | boolean | readonly number[]>;

/** An optimizer's complete state: enough to continue exactly where it stopped. */
export interface OptimizerStateDict {
  /** Which optimizer wrote it (`adamw`, `sgd`). */
  kind: string;
  /** Optimizer steps taken. */
  step: number;
  /** The hyperparameters it was created with. */
  hyperparameters: Hyperparameters;
  /**
   * State tensors keyed `<parameter name>.<slot>` (e.g. `blocks.0.mlp.fc.weight.exp_avg`). From
   * {@link Optimizer.stateDict} these are the live tensors, valid until the next `step()`: read
   * or serialise them, do not dispose them.
   */
  tensors: Record<string, Tensor>;
}

/** Hyperparameters of one parameter's update, resolved from its group. */
export interface UpdateContext {
  /** Learning rate for this parameter (the optimizer's rate × the group's `lrScale`). */
  lr: number;
  /** Weight decay of the parameter's group. */
  weightDecay: number;
  /**
   * 1-based index of the step being taken. With `control`, the host's expectation: the count if
   * no step since the last {@link Optimizer.syncStepCount} was skipped.
   */
  step: number;
  /**
   * Set for a step taken with {@link StepOptions.skipIf}: a float32 tensor [skip, step] on the
   * device. The update must change nothing when skip ≠ 0 and take its bias corrections from
   * this `step` (the device's 1-based count, already advanced for this step), which equals the
   * `step` above unless a step since the last sync was skipped.
   */
  control?: Tensor;
}

/** Options of {@link Optimizer.step}. */
export interface StepOptions {
  /**
   * A 0-d float32 tensor, 1 to skip the step and 0 to take it, decided on the device (mixed
   * precision's overflow flag): no parameter, state or step count changes on a skipped step,
   * and nothing is read back. The step count then lives on the device until
   * {@link Optimizer.syncStepCount}.
   */
  skipIf?: Tensor;
}

function checkRate(value: number, who: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`${who}: the learning rate must be a finite number ≥ 0, got ${String(value)}`);
  }
  return value;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Base class of {@link AdamW} and {@link SGD}. */
export abstract class Optimizer {
  /** Identifies the optimizer in state dicts (`adamw`, `sgd`). */
  abstract readonly kind: string;
  /** The parameter groups, every parameter named. */
  readonly groups: readonly ResolvedParamGroup[];
  readonly #who: string;
  readonly #byName = new Map<string, { parameter: Parameter; slots: Map<string, Tensor> }>();
  #lr: number;
  #step = 0;
  /** The step count on the device (float32, exact to 2²⁴), once a step took `skipIf`. */
  #deviceStep: Tensor | undefined;
  /** True while `#deviceStep` may differ from `#step` (steps taken with `skipIf` since the last sync). */
  #unsynced = false;
  /** Steps taken with `skipIf` since the last sync: the host expects a count of `#step + #attempts`. */
  #attempts = 0;
  #scalars: Map<string, Tensor> | undefined;

  /** Resolves the groups and checks the learning rate; `who` names the optimizer in errors. */
  protected constructor(params: ParamsInput, options: { lr: number; weightDecay: number }, who: string) {
    this.#who = who;
    this.#lr = checkRate(options.lr, who);
    this.groups = resolveParamGroups(params, { weightDecay: options.weightDecay }, who);
    for (const group of this.groups)
      for (const [name, parameter] of group.params) this.#byName.set(name, { parameter, slots: new Map() });
  }

  /** The learning rate of the next step; set it every step from a schedule: `opt.lr = schedule(step)`. */
  get lr(): number {
    return this.#lr;
  }

  set lr(value: number) {
    this.#lr = checkRate(value, `${this.#who}.lr`);
  }

  /**
   * Optimizer steps taken so far (used for bias correction). After steps taken with
   * {@link StepOptions.skipIf} this is the count at the last {@link syncStepCount}.
   */
  get stepCount(): number {
    return this.#step;
  }

  /**
   * Reads the device's step count back (one transfer, only when steps were taken with `skipIf`
   * since the last call) so that {@link stepCount} and {@link stateDict} are current. Returns it.
   */
  async syncStepCount(): Promise<number> {
    if (this.#unsynced && this.#deviceStep) {
      this.#step = (await this.#deviceStep.data())[0];
      this.#unsynced = false;
      this.#attempts = 0;
    }
    return this.#step;
  }

  /** Every parameter with its name, in group order. */
  namedParameters(): NamedParameter[] {
    return this.groups.flatMap((g) => g.params);
  }

  /**
   * Updates every parameter that has a gradient, in place. Parameters whose `.grad` is null
   * (no gradient reached them) are skipped and their state is left as it is. Only enqueues
   * device work; nothing is read back.
   */
  step(options: StepOptions = {}): void {
    const { skipIf } = options;
    if (skipIf && !(skipIf.dtype === 'float32' && skipIf.size === 1))
      throw new TypeError(
        `${this.#who}.step: skipIf must be a 0-d float32 tensor (1 = skip, 0 = step), got ${skipIf.dtype} [${skipIf.shape}]`,
      );
    noGrad(() =>
      scope(() => {
        this.#scalars = new Map(); // disposed by the scope, with the other temporaries
        let control: Tensor | undefined;
        if (skipIf) {
          const skip = skipIf.reshape([]);
          const old = this.#deviceStep;
          const before = old ?? full([], this.#step, { backend: skip.backend });
          // step ← step + (1 − skip): a skipped step does not count for bias correction
          this.#deviceStep = keep(before.sub(skip).add(1));
          old?.dispose();
          this.#unsynced = true;
          this.#attempts++;
          control = stack([skip, this.#deviceStep]);
        } else {
          if (this.#unsynced)
            throw new Error(
              `${this.#who}.step: steps were taken with skipIf since the step count was last read; await syncStepCount() before a step without it`,
            );
          this.#step++;
          this.#deviceStep?.dispose();
          this.#deviceStep = undefined;
        }
        try {
          this.#updateAll(control);
        } finally {
          this.#scalars = undefined;
        }
      }),
    );
  }

  /** One update per parameter that has a gradient, group by group. */
  #updateAll(control: Tensor | undefined): void {
    for (const group of this.groups) {
      const context: UpdateContext = {
        lr: this.#lr * group.lrScale,
        weightDecay: group.weightDecay,
        // with skipIf, the count if no step since the last sync was skipped (the update checks it)
        step: control ? this.#step + this.#attempts : this.#step,
        ...(control ? { control } : {}),
      };
      for (const [name, p] of group.params) {
        const grad = p.grad;
        if (grad === null) continue;
        if (!sameShape(grad.shape, p.shape)) {
          throw new Error(
            `${this.#who}.step: the gradient of '${name}' has shape [${grad.shape}] but the parameter is [${p.shape}]`,
          );
        }
        this.updateParameter(name, p, grad, context);
      }
    }
  }

  /** Sets every parameter's `.grad` to null (disposing it), ready for the next backward. */
  zeroGrad(): void {
    for (const [, p] of this.namedParameters()) p.zeroGrad();
  }

  /**
   * The state: kind, step count, hyperparameters and the live state tensors (not copies). A
   * checkpoint serialises it; {@link loadStateDict} restores it exactly.
   */
  stateDict(): OptimizerStateDict {
    if (this.#unsynced)
      throw new Error(
        `${this.#who}.stateDict: the step count is on the device (steps taken with skipIf); await syncStepCount() first`,
      );
    const tensors: Record<string, Tensor> = {};
    for (const [name, { slots }] of this.#byName)
      for (const [slot, t] of slots) tensors[`${name}.${slot}`] = t;
    return { kind: this.kind, step: this.#step, hyperparameters: this.hyperparameters(), tensors };
  }

  /**
   * Restores a state from {@link stateDict} (or a checkpoint) by copying the tensors into this
   * optimizer's own state; the caller keeps ownership of `state.tensors`. Throws, changing
   * nothing, when the kind differs or a tensor belongs to no parameter or has the wrong shape.
   */
  loadStateDict(state: OptimizerStateDict): void {
    if (state?.kind !== this.kind) {
      throw new Error(
        `${this.#who}.loadStateDict: the state was saved by optimizer '${String(state?.kind)}', not '${this.kind}'`,
      );
    }
    if (!Number.isSafeInteger(state.step) || state.step < 0) {
      throw new RangeError(
        `${this.#who}.loadStateDict: step must be a non-negative integer, got ${state.step}`,
      );
    }
    // Longest first, so a slot whose name ends another's cannot claim its tensors.
    const slotNames = this.slotNames().sort((a, b) => b.length - a.length);
    const plan: [Parameter, Map<string, Tensor>, string, Tensor][] = [];
    for (const [key, t] of Object.entries(state.tensors)) {
      const slot = slotNames.find((s) => key.endsWith(`.${s}`));
      const entry = slot === undefined ? undefined : this.#byName.get(key.slice(0, -slot.length - 1));
      if (slot === undefined || entry === undefined) {
        throw new Error(
          `${this.#who}.loadStateDict: state tensor '${key}' belongs to no parameter of this optimizer (slots: ${slotNames.join(', ')}); was it saved for another model?`,
        );
      }
      const p = entry.parameter;
      if (!sameShape(t.shape, p.shape)) {
        throw new Error(
          `${this.#who}.loadStateDict: state tensor '${key}' has shape [${t.shape}] but the parameter is [${p.shape}]`,
        );
      }
      plan.push([p, entry.slots, slot, t]);
    }
    this.#clearState();
    noGrad(() => {
      for (const [p, slots, slot, t] of plan) {
        const copy = keep(zerosLike(p, { usage: 'parameter' }));
        copy.assign(t); // casts when the saved dtype differs
        slots.set(slot, copy);
      }
    });
    this.#step = state.step;
    this.#deviceStep?.dispose();
    this.#deviceStep = undefined;
    this.#unsynced = false;
    this.#attempts = 0;
  }

  /** Frees the state tensors (not the parameters). */
  dispose(): void {
    this.#clearState();
    this.#deviceStep?.dispose();
    this.#deviceStep = undefined;
  }

  #clearState(): void {
    for (const { slots } of this.#byName.values()) {
      for (const t of slots.values()) t.dispose();
      slots.clear();
    }
  }

  /** The state tensor `slot` of parameter `name`, created as zeros on first use. */
  protected state(name: string, slot: string, like: Parameter): Tensor {
    const slots = this.#byName.get(name)!.slots;
    let t = slots.get(slot);
    if (!t) {
      t = keep(zerosLike(like, { usage: 'parameter' }));
      slots.set(slot, t);
    }
    return t;
  }

  /** Replaces state `slot` of parameter `name` with `value` (which the optimizer takes over), disposing the old one. */
  protected setState(name: string, slot: string, value: Tensor): void {
    const slots = this.#byName.get(name)!.slots;
    slots.get(slot)?.dispose();
    slots.set(slot, keep(value));
  }

  /**
   * A 0-d tensor holding `value` (in `like`'s dtype, on its backend), shared by every parameter
   * during one `step()`. Writing a number into an op creates such a tensor per use (a fill
   * kernel each); sharing them saves a dispatch for every constant of every parameter.
   */
  protected scalar(value: number, like: Tensor): Tensor {
    const scalars = this.#scalars;
    if (!scalars) throw new Error('Optimizer.scalar: only available during step()');
    const key = `${like.backend.name}/${like.dtype}/${value}`;
    let t = scalars.get(key);
    if (!t) {
      t = full([], value, { dtype: like.dtype, backend: like.backend });
      scalars.set(key, t);
    }
    return t;
  }

  /** Whether parameter `name` already has state `slot`. */
  protected hasState(name: string, slot: string): boolean {
    return this.#byName.get(name)?.slots.has(slot) ?? false;
  }

  /** The state slots this optimizer keeps per parameter (e.g. `exp_avg`, `exp_avg_sq`). */
  protected abstract slotNames(): string[];

  /** The hyperparameters to store with the state. */
  protected abstract hyperparameters(): Hyperparameters;

  /** Updates one parameter in place (called inside `noGrad` and a `scope`). */
  protected abstract updateParameter(name: string, p: Parameter, grad: Tensor, context: UpdateContext): void;
}
