/**
 * What the trainer needs from a model: a `Module` (parameters, state dict, train/eval mode)
 * whose `forward(ids, targets)` returns the mean next-token loss. `@kiln/transformer`'s `GPT`
 * is one; so is any small model written for a test.
 */
import type { Module } from '@kiln/autograd';
import type { Backend, Tensor } from '@kiln/tensor';

/** A language model the trainer can train: `forward(ids [B,T] int32, targets [B,T] int32)` → `{ loss }` (a 0-d mean cross-entropy). */
export interface LanguageModel extends Module {
  forward(ids: Tensor, targets: Tensor): { loss?: Tensor | undefined; logits?: Tensor };
}

/** The backend holding the model's parameters (where batches must be uploaded). */
export function modelBackend(model: Module): Backend {
  const first = model.parameters()[0];
  if (!first) throw new Error(`${model.constructor.name} has no parameters to train`);
  return first.backend;
}

/** Runs `model.forward` and returns its loss, with a clear error when the model returned none. */
export function forwardLoss(model: LanguageModel, ids: Tensor, targets: Tensor): Tensor {
  const out = model.forward(ids, targets);
  const loss = out?.loss;
  if (!loss) {
    throw new TypeError(
      `${model.constructor.name}.forward(ids, targets) returned no loss; the trainer needs { loss } (a 0-d mean cross-entropy)`,
    );
  }
  if (loss.size !== 1) {
    throw new TypeError(
      `${model.constructor.name}.forward returned a loss of shape [${loss.shape}]; it must be a single number (the mean over tokens)`,
    );
  }
  return loss;
}
