/** Uploads host batches to `@kiln/tensor` tensors. */
import { type CreateOptions, type Tensor, tensor } from '@kiln/tensor';
import type { TokenBatch } from './batches.js';

/**
 * Turns a {@link TokenBatch} into int32 tensors of shape `[batchSize, contextLength]`. The caller
 * owns (and must dispose) both tensors, or creates them inside a `scope()`.
 */
export function batchToTensors(
  batch: TokenBatch,
  options: Pick<CreateOptions, 'backend'> = {},
): { inputs: Tensor; targets: Tensor } {
  const shape = [batch.batchSize, batch.contextLength];
  const inputs = tensor(batch.inputs, { dtype: 'int32', shape, backend: options.backend });
  try {
    const targets = tensor(batch.targets, { dtype: 'int32', shape, backend: options.backend });
    return { inputs, targets };
  } catch (error) {
    inputs.dispose();
    throw error;
  }
}
