/**
 * Collects what sub-layers report during one forward pass of a model (auxiliary losses and
 * metrics, see `FeedForwardContext`), keyed by module path, so that they reach the model's
 * output past the scopes of the layers that computed them.
 */
import { keep, ShapeError, Tensor } from '@kiln/tensor';
import type { FeedForwardContext } from './layers/feed-forward.js';

/** What the model's output carries besides its logits. */
export interface AuxiliaryOutputs {
  /** Auxiliary losses by module path (`blocks.3.mlp.balance`): 0-d, already scaled. */
  auxLosses: Record<string, Tensor>;
  /** Metrics by module path (`blocks.3.mlp.load`). */
  metrics: Record<string, Tensor>;
}

/**
 * One forward pass's reports. A reported tensor is held as a kept view (the reporting layer's
 * scope frees its own handle as usual); {@link take} turns the views into tensors of the
 * caller's scope. Nothing is allocated until something reports.
 */
export class AuxiliaryCollector {
  #auxLosses: Map<string, Tensor> | null = null;
  #metrics: Map<string, Tensor> | null = null;

  /**
   * The context for the sub-layer at `path` (`blocks.3.mlp`): its reports are keyed
   * `${path}.${name}`. `tokenMask` is passed through.
   */
  context(path: string, tokenMask?: Tensor): FeedForwardContext {
    return {
      reportAuxLoss: (name, loss) => {
        const key = this.#key(path, name, 'reportAuxLoss', this.#auxLosses);
        if (!(loss instanceof Tensor) || loss.ndim !== 0 || !loss.dtype.startsWith('float')) {
          throw new ShapeError(
            `reportAuxLoss('${key}'): an auxiliary loss must be a 0-d float tensor (e.g. coefficient × loss.mean()), got ${loss instanceof Tensor ? `${loss.dtype} [${loss.shape}]` : String(loss)}`,
          );
        }
        this.#auxLosses ??= new Map();
        this.#auxLosses.set(key, keep(loss.reshape([])));
      },
      reportMetric: (name, value) => {
        const key = this.#key(path, name, 'reportMetric', this.#metrics);
        if (!(value instanceof Tensor)) {
          throw new TypeError(`reportMetric('${key}'): a metric must be a tensor, got ${String(value)}`);
        }
        this.#metrics ??= new Map();
        this.#metrics.set(key, keep(value.reshape(value.shape)));
      },
      ...(tokenMask ? { tokenMask } : {}),
    };
  }

  /**
   * The reports as tensors created in the current scope (views of the kept ones, which are
   * freed), so they belong to the caller like any other result: call it inside the forward's
   * `scope` and return what it gives. Empty records when nothing reported.
   */
  take(): AuxiliaryOutputs {
    const adopt = (held: Map<string, Tensor> | null): Record<string, Tensor> => {
      const out: Record<string, Tensor> = {};
      for (const [key, t] of held ?? []) {
        out[key] = t.reshape(t.shape);
        t.dispose();
      }
      held?.clear();
      return out;
    };
    return { auxLosses: adopt(this.#auxLosses), metrics: adopt(this.#metrics) };
  }

  /** Frees whatever was collected (when the forward pass fails before {@link take}). */
  dispose(): void {
    for (const held of [this.#auxLosses, this.#metrics]) {
      for (const t of held?.values() ?? []) t.dispose();
      held?.clear();
    }
  }

  #key(path: string, name: string, what: string, held: Map<string, Tensor> | null): string {
    if (typeof name !== 'string' || !/^[A-Za-z0-9_][\w.-]*$/.test(name)) {
      throw new TypeError(
        `${what}: name must be a non-empty word such as 'balance' (letters, digits, _ . -), got ${JSON.stringify(name)} from ${path}`,
      );
    }
    const key = `${path}.${name}`;
    if (held?.has(key)) {
      throw new Error(
        `${what}: '${key}' was already reported in this forward pass; give each one its own name`,
      );
    }
    return key;
  }
}
