/**
 * The dynamic loss scale of {@link LossScaler}, kept on the device: the scale, the good steps
 * in a row and the skipped steps are one float32 tensor, and a step's overflow flag updates it
 * with tensor ops, so a mixed-precision step reads nothing back (PyTorch's `GradScaler` with
 * `found_inf` and the scale as device tensors, as its fused AdamW takes them). The host reads
 * the state back only in {@link DeviceLossScaler.sync}, which the trainer calls when it reads its
 * step log (every log interval, and before evaluations and checkpoints).
 *
 * The rules are exactly {@link LossScaler.update}'s (the tests run both on the same flags); the
 * counters are float32 and so exact up to 2²⁴ steps. A backoff below {@link MIN_LOSS_SCALE} is
 * reported at the next `sync` rather than at the step.
 */
import { noGrad } from '@kiln/autograd';
import { type Backend, keep, minimum, scope, type Tensor, tensor, where } from '@kiln/tensor';
import {
  checkLossScalerState,
  type LossScaleConfig,
  type LossScalerState,
  MIN_LOSS_SCALE,
  resolveLossScaleConfig,
} from './loss-scaler.js';

/** The largest finite float32 is below this: a norm that is not below it is infinite or NaN. */
const NOT_FINITE_FROM = 3.4028235677973366e38;

/** The dynamic loss scale on the device (see the file comment). */
export class DeviceLossScaler {
  /** The resolved settings. */
  readonly config: LossScaleConfig;
  /** [scale, goodSteps, skippedSteps], float32. */
  #state: Tensor;
  /** The state as last read back (or restored). */
  #host: LossScalerState;
  /** True when steps were recorded since the last read-back. */
  #unsynced = false;
  /** Constants of {@link update}, made once (a number in an op would be a fill kernel per step). */
  readonly #constants: Record<
    'zero' | 'one' | 'finiteBelow' | 'lastGood' | 'overflow' | 'growth' | 'plain' | 'cap',
    Tensor
  >;

  /** Creates a scaler at `config.initScale` on `backend` (defaults: `LOSS_SCALE_DEFAULTS`). */
  constructor(backend: Backend, config: Partial<LossScaleConfig> = {}) {
    this.config = resolveLossScaleConfig(config);
    this.#host = { scale: this.config.initScale, goodSteps: 0, skippedSteps: 0 };
    this.#state = keep(tensor([this.config.initScale, 0, 0], { dtype: 'float32', backend }));
    const { backoffFactor, growthFactor, growthInterval, maxScale } = this.config;
    const f32 = (data: number[] | number[][]) => keep(tensor(data, { dtype: 'float32', backend }));
    // rows [a, b] of [scale, goodSteps, skippedSteps] ← [scale, goodSteps, skippedSteps] · a + b
    this.#constants = {
      zero: f32([0]),
      lastGood: f32([growthInterval - 1]),
      overflow: f32([
        [backoffFactor, 0, 1],
        [0, 0, 1],
      ]),
      growth: f32([
        [growthFactor, 0, 1],
        [0, 0, 0],
      ]),
      plain: f32([
        [1, 1, 1],
        [0, 1, 0],
      ]),
      // the scale never grows past maxScale (a backoff only lowers it); the counters are uncapped
      cap: f32([maxScale, 3e38, 3e38]),
      one: f32([1]),
      finiteBelow: f32([NOT_FINITE_FROM]),
    };
  }

  /** The scale of the next step as a 0-d float32 tensor (a new one each call: the caller owns it). */
  scaleTensor(): Tensor {
    return noGrad(() => this.#state.narrow(0, 0, 1).reshape([]).contiguous());
  }

  /**
   * The overflow flag of a step whose unscaled gradient norm is `norm` (0-d): a 0-d float32
   * tensor, 1 when the norm is infinite or NaN, else 0 (the caller owns it).
   */
  overflowFlag(norm: Tensor): Tensor {
    const k = this.#constants;
    // NaN fails every comparison, so `norm < largest` is false for NaN and infinity alike.
    return noGrad(() => where(norm.reshape([1]).lt(k.finiteBelow), k.zero, k.one).reshape([]));
  }

  /**
   * Records one step on the device: `overflowed` is a 0-d float32 tensor, 1 when any of its
   * gradients was infinite or NaN (the step is skipped), else 0. Backs off or grows the scale
   * by {@link LossScaler.update}'s rules; nothing is read back.
   */
  update(overflowed: Tensor): void {
    const k = this.#constants;
    const next = noGrad(() =>
      scope(() => {
        // state ← min(state · a + b, cap), with (a, b) one of three rows: overflow, growth, plain.
        // Written as a handful of whole-vector kernels, as this runs every step.
        const good = this.#state.narrow(0, 1, 1);
        const grow = good.ge(k.lastGood); // this step is the growthInterval-th good one
        const found = overflowed.reshape([1]).ne(k.zero);
        const rows = where(found.reshape([1, 1]), k.overflow, where(grow.reshape([1, 1]), k.growth, k.plain));
        const [a, b] = [rows.narrow(0, 0, 1).reshape([3]), rows.narrow(0, 1, 1).reshape([3])];
        return keep(minimum(this.#state.mul(a).add(b), k.cap));
      }),
    );
    this.#state.dispose();
    this.#state = next;
    this.#unsynced = true;
  }

  /**
   * Reads the state back (one transfer, only when steps were recorded since the last call) and
   * returns it. Throws a RangeError when a backoff took the scale below {@link MIN_LOSS_SCALE}:
   * the gradients overflow at any scale.
   */
  async sync(): Promise<LossScalerState> {
    if (this.#unsynced) {
      const [scale, goodSteps, skippedSteps] = await this.#state.data();
      this.#host = { scale, goodSteps, skippedSteps };
      this.#unsynced = false;
      if (scale < MIN_LOSS_SCALE) {
        throw new RangeError(
          `loss scale: the gradients overflow even at scale ${(scale / this.config.backoffFactor).toExponential(3)} (after ${skippedSteps - 1} skipped steps); they are infinite or NaN at any scale, so the forward pass itself overflows float16: lower the learning rate, or train with precision 'float32'`,
        );
      }
    }
    return { ...this.#host };
  }

  /** The scale as of the last {@link sync}. */
  get scale(): number {
    return this.#host.scale;
  }

  /** Skipped steps as of the last {@link sync}. */
  get skippedSteps(): number {
    return this.#host.skippedSteps;
  }

  /** The state to checkpoint, as of the last {@link sync}; throws when steps were recorded since. */
  state(): LossScalerState {
    if (this.#unsynced)
      throw new Error(
        'DeviceLossScaler.state: steps were recorded since the last read-back; await sync() first',
      );
    return { ...this.#host };
  }

  /** Restores a {@link state}; throws, changing nothing, when it is not one. */
  restore(state: LossScalerState): void {
    const s = checkLossScalerState(state, 'DeviceLossScaler.restore');
    const next = keep(
      tensor([s.scale, s.goodSteps, s.skippedSteps], { dtype: 'float32', backend: this.#state.backend }),
    );
    this.#state.dispose();
    this.#state = next;
    this.#host = { scale: s.scale, goodSteps: s.goodSteps, skippedSteps: s.skippedSteps };
    this.#unsynced = false;
  }

  /** Frees the device state. */
  dispose(): void {
    this.#state.dispose();
    for (const t of Object.values(this.#constants)) t.dispose();
  }
}
