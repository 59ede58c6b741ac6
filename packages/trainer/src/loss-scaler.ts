/**
 * Dynamic loss scaling for mixed-precision training (the scheme of PyTorch's `GradScaler` and
 * apex's dynamic loss scaler): the loss is multiplied by `scale` before backward so that small
 * float16 gradients do not flush to zero; the gradients are divided by it again in float32.
 * When a step's gradients overflow (an infinity or NaN anywhere), the step is skipped and the
 * scale is multiplied by `backoffFactor`; after `growthInterval` good steps in a row it is
 * multiplied by `growthFactor` (up to `maxScale`).
 *
 * The rules on the host, as plain JSON state (saved in training checkpoints so a resumed run
 * scales exactly as an uninterrupted one). The trainer runs the same rules on the device with
 * `DeviceLossScaler` (device-loss-scaler.ts), so no step has to read its overflow flag back.
 */

/** Dynamic loss-scaling settings (the `lossScale` section of the train config). */
export interface LossScaleConfig {
  /** The scale of the first step. */
  initScale: number;
  /** Multiplies the scale after `growthInterval` good steps in a row (> 1). */
  growthFactor: number;
  /** Multiplies the scale after an overflowing (skipped) step (in (0, 1)). */
  backoffFactor: number;
  /** Good steps in a row before the scale grows. */
  growthInterval: number;
  /**
   * The scale never grows past this. A float16 model's loss is a float16 number, so the
   * gradient seed of backward (the scale itself) is stored in float16 too: a scale of 2¹⁶ or
   * more is infinite there and overflows every step. Raise it only for an objective that
   * returns a float32 loss.
   */
  maxScale: number;
}

/**
 * The defaults: PyTorch's `GradScaler` growth (×2 after 2000 good steps) and backoff (×0.5), but
 * starting at and capped to 2¹⁵, the largest power of two whose seed is finite in float16
 * (PyTorch starts at 2¹⁶, which for it is a float32 seed).
 */
export const LOSS_SCALE_DEFAULTS: Readonly<LossScaleConfig> = Object.freeze({
  initScale: 2 ** 15,
  growthFactor: 2,
  backoffFactor: 0.5,
  growthInterval: 2000,
  maxScale: 2 ** 15,
});

/** The scaler's state, as stored in a checkpoint's `trainer-state.json`. */
export interface LossScalerState {
  /** The scale of the next step. */
  scale: number;
  /** Good steps since the last growth or backoff. */
  goodSteps: number;
  /** Steps skipped so far because their gradients overflowed. */
  skippedSteps: number;
}

/** What {@link LossScaler.update} decided for one step. */
export interface LossScaleUpdate {
  /** True when the step's gradients overflowed: the optimizer must not step. */
  skipped: boolean;
  /** The scale the step used. */
  scale: number;
  /** The scale of the next step. */
  nextScale: number;
}

/** Fills in {@link LOSS_SCALE_DEFAULTS} and validates, naming the key that is wrong. */
export function resolveLossScaleConfig(
  input: Partial<LossScaleConfig> = {},
  who = 'lossScale',
): LossScaleConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new TypeError(`${who} must be an object, got ${JSON.stringify(input)}`);
  }
  const unknown = Object.keys(input).filter((k) => !(k in LOSS_SCALE_DEFAULTS));
  if (unknown.length > 0) {
    throw new TypeError(
      `${who}: unknown key(s) ${unknown.join(', ')}; known keys: ${Object.keys(LOSS_SCALE_DEFAULTS).join(', ')}`,
    );
  }
  const c = { ...LOSS_SCALE_DEFAULTS, ...input };
  const positive = (key: keyof LossScaleConfig) => {
    const v = c[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      throw new RangeError(`${who}: ${key} must be a finite number > 0, got ${JSON.stringify(v)}`);
  };
  positive('initScale');
  positive('maxScale');
  if (!(typeof c.growthFactor === 'number' && Number.isFinite(c.growthFactor) && c.growthFactor > 1))
    throw new RangeError(
      `${who}: growthFactor must be a finite number > 1, got ${JSON.stringify(c.growthFactor)}`,
    );
  if (!(typeof c.backoffFactor === 'number' && c.backoffFactor > 0 && c.backoffFactor < 1))
    throw new RangeError(`${who}: backoffFactor must be in (0, 1), got ${JSON.stringify(c.backoffFactor)}`);
  if (!(Number.isSafeInteger(c.growthInterval) && c.growthInterval >= 1))
    throw new RangeError(
      `${who}: growthInterval must be an integer ≥ 1, got ${JSON.stringify(c.growthInterval)}`,
    );
  if (c.initScale > c.maxScale)
    throw new RangeError(
      `${who}: initScale ${c.initScale} is above maxScale ${c.maxScale}; lower it or raise maxScale`,
    );
  return c;
}

/**
 * Below this the scale cannot rescue anything: every float16 gradient would be a subnormal
 * rounding of zero. Reaching it means the gradients are non-finite at any scale.
 */
export const MIN_LOSS_SCALE = 2 ** -24;

/** The dynamic loss scale (see the file comment). */
export class LossScaler {
  /** The resolved settings. */
  readonly config: LossScaleConfig;
  #scale: number;
  #goodSteps = 0;
  #skippedSteps = 0;

  /** Creates a scaler at `config.initScale` (defaults: {@link LOSS_SCALE_DEFAULTS}). */
  constructor(config: Partial<LossScaleConfig> = {}) {
    this.config = resolveLossScaleConfig(config);
    this.#scale = this.config.initScale;
  }

  /** The scale of the next step. */
  get scale(): number {
    return this.#scale;
  }

  /** Steps skipped so far because their gradients overflowed. */
  get skippedSteps(): number {
    return this.#skippedSteps;
  }

  /**
   * Records one step: `overflowed` when any of its gradients was infinite or NaN. Returns
   * whether to skip it and the scales. Throws a RangeError when a backoff would take the scale
   * below {@link MIN_LOSS_SCALE} (the overflow is not the scale's doing).
   */
  update(overflowed: boolean): LossScaleUpdate {
    const scale = this.#scale;
    if (overflowed) {
      const next = scale * this.config.backoffFactor;
      if (next < MIN_LOSS_SCALE) {
        throw new RangeError(
          `loss scale: the gradients overflow even at scale ${scale.toExponential(3)} (after ${this.#skippedSteps} skipped steps); they are infinite or NaN at any scale, so the forward pass itself overflows float16: lower the learning rate, or train with precision 'float32'`,
        );
      }
      this.#scale = next;
      this.#goodSteps = 0;
      this.#skippedSteps++;
      return { skipped: true, scale, nextScale: next };
    }
    this.#goodSteps++;
    if (this.#goodSteps >= this.config.growthInterval) {
      this.#goodSteps = 0;
      this.#scale = Math.min(scale * this.config.growthFactor, this.config.maxScale);
    }
    return { skipped: false, scale, nextScale: this.#scale };
  }

  /** The state to checkpoint. */
  state(): LossScalerState {
    return { scale: this.#scale, goodSteps: this.#goodSteps, skippedSteps: this.#skippedSteps };
  }

  /** Restores a {@link state}; throws, changing nothing, when it is not one. */
  restore(state: LossScalerState): void {
    const s = checkLossScalerState(state, 'LossScaler.restore');
    this.#scale = s.scale;
    this.#goodSteps = s.goodSteps;
    this.#skippedSteps = s.skippedSteps;
  }
}

/** Returns `state` when it is a {@link LossScalerState}; otherwise throws naming `who`. */
export function checkLossScalerState(state: unknown, who: string): LossScalerState {
  const s = state as Partial<LossScalerState> | null;
  if (
    typeof s?.scale !== 'number' ||
    !(Number.isFinite(s.scale) && s.scale > 0) ||
    !Number.isSafeInteger(s.goodSteps) ||
    (s.goodSteps as number) < 0 ||
    !Number.isSafeInteger(s.skippedSteps) ||
    (s.skippedSteps as number) < 0
  ) {
    throw new TypeError(
      `${who}: a loss scaler state must be { scale > 0, goodSteps ≥ 0, skippedSteps ≥ 0 }, got ${JSON.stringify(state)}`,
    );
  }
  return s as LossScalerState;
}
