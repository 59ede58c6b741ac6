/**
 * The float16 working copy of a model's float32 weights, for mixed-precision steps. The model's
 * own parameters stay float32: they are the master weights the optimizer updates, checkpoints
 * save and evaluation uses. For a step, {@link Float16Weights.swapIn} refreshes one float16
 * parameter per float32 one (a cast kernel each, into buffers kept across steps) and puts them
 * in the model's slots (`Module.replaceParameters`, so ties stay tied), so the forward and
 * backward run on float16 weights and activations (every kernel accumulates in float32 and
 * rounds on store) and the gradients land, in float16, on the copies; `swapOut` puts the
 * masters back.
 *
 * Every float32 parameter gets a copy, frozen ones too (no op mixes dtypes, so the whole
 * forward must be float16); parameters of other dtypes stay as they are.
 */
import { type Module, noGrad, Parameter } from '@kiln/autograd';
import { type Backend, keep, zerosLike } from '@kiln/tensor';

/** The float16 copies of a module's float32 parameters (see the file comment). */
export class Float16Weights {
  readonly #model: Module;
  /** master → copy, and back. */
  readonly #toCopy = new Map<Parameter, Parameter>();
  readonly #toMaster = new Map<Parameter, Parameter>();
  #swapped = false;

  /**
   * Allocates the copies of `model`'s float32 parameters on their backend. Throws naming the
   * missing feature when the backend cannot store float16 (WebGPU without `shader-f16`).
   */
  constructor(model: Module) {
    this.#model = model;
    for (const [name, master] of model.namedParameters()) {
      if (master.dtype !== 'float32') continue;
      requireFloat16(master.backend, name);
      const copy = noGrad(
        () =>
          new Parameter(keep(zerosLike(master, { dtype: 'float16' })), {
            requiresGrad: master.requiresGrad,
          }),
      );
      this.#toCopy.set(master, copy);
      this.#toMaster.set(copy, master);
    }
  }

  /** Pairs of (float32 master, float16 copy). */
  pairs(): [Parameter, Parameter][] {
    return [...this.#toCopy];
  }

  /** True between {@link swapIn} and {@link swapOut}. */
  get swapped(): boolean {
    return this.#swapped;
  }

  /** Copies the masters into the float16 copies (rounding) and puts the copies in the model. */
  swapIn(): void {
    if (this.#swapped) throw new Error('Float16Weights.swapIn: the float16 copies are already in the model');
    noGrad(() => {
      for (const [master, copy] of this.#toCopy) {
        copy.zeroGrad();
        copy.assign(master); // assign casts: one float32 → float16 kernel
      }
    });
    this.#model.replaceParameters(this.#toCopy);
    this.#swapped = true;
  }

  /** Puts the float32 masters back in the model (the copies keep their gradients until the next swapIn). */
  swapOut(): void {
    if (!this.#swapped) return;
    this.#model.replaceParameters(this.#toMaster);
    this.#swapped = false;
  }

  /** Frees the copies (after {@link swapOut}). */
  dispose(): void {
    this.swapOut();
    for (const copy of this.#toCopy.values()) copy.dispose();
    this.#toCopy.clear();
    this.#toMaster.clear();
  }
}

/**
 * Throws unless `backend` can store float16; the message names the feature a WebGPU adapter
 * lacks, and the way out.
 */
export function requireFloat16(backend: Backend, what: string): void {
  if (backend.info.dtypes.includes('float16')) return;
  const feature =
    backend.name === 'webgpu'
      ? ` (this WebGPU adapter, ${backend.info.device}, does not offer the 'shader-f16' feature)`
      : '';
  throw new Error(
    `precision 'mixed-float16': the ${backend.name} backend cannot store float16${feature}, needed for ${what}; train with precision 'float32' on it`,
  );
}
