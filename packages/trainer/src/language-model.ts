/**
 * What the trainer needs from a language model: a `Module` (parameters, state dict, train/eval
 * mode) whose `forward` takes token ids and targets and returns outputs, among them the mean
 * next-token loss. `@kiln/transformer`'s `GPT` is one; so is any small model written for a
 * test. The interface is structural: this package does not import the models.
 */
import type { Module } from '@kiln/autograd';
import type { Backend, Tensor } from '@kiln/tensor';

/** The options form of a language model's second `forward` argument (all int32 `[B, T]` but `padding`, bool). */
export interface LanguageModelForwardOptions {
  /** Next-token targets, -100 where there is none; with them the model returns `loss`. */
  targets?: Tensor;
  /** Document index of each token in a packed row: attention stays within a document. */
  segments?: Tensor;
  /** Position of each token within its document. */
  positions?: Tensor;
  /** True at pad positions, which attention ignores. */
  padding?: Tensor;
}

/** What a model's forward returns; every entry is optional. */
export interface ModelOutput {
  /** Next-token logits `[B, T, vocab]`. */
  logits?: Tensor;
  /** The mean cross-entropy over the non-ignored targets (0-d), when targets were given. */
  loss?: Tensor;
  /** Auxiliary losses (0-d each, e.g. a mixture-of-experts balance loss) that training adds to the loss. */
  auxLosses?: Readonly<Record<string, Tensor>>;
  /** Values to log (0-d each), e.g. expert usage. */
  metrics?: Readonly<Record<string, Tensor>>;
}

/**
 * A language model the trainer can train: `forward(ids, targets)` (int32 `[B, T]` each) or
 * `forward(ids, { targets, segments, positions, padding })` returns a {@link ModelOutput} whose
 * `loss` is the mean cross-entropy over the targets that are not -100.
 */
export interface LanguageModel extends Module {
  forward(ids: Tensor, targetsOrOptions?: Tensor | LanguageModelForwardOptions): ModelOutput;
}

/** The backend holding the model's parameters (where batches must be uploaded). */
export function modelBackend(model: Module): Backend {
  const first = model.parameters()[0];
  if (!first) throw new Error(`${model.constructor.name} has no parameters to train`);
  return first.backend;
}

/** Runs `model.forward(ids, targets)` and returns its loss, with a clear error when the model returned none. */
export function forwardLoss(model: LanguageModel, ids: Tensor, targets: Tensor): Tensor {
  return checkModelLoss(model, model.forward(ids, targets));
}

/** The output's loss, checked: present and a single number. */
export function checkModelLoss(model: LanguageModel, out: ModelOutput | undefined): Tensor {
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
