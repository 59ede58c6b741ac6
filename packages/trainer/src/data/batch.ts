/**
 * Batches: records of named tensors, and the sources that produce them.
 *
 * A data source yields a {@link BatchInput}: named host arrays ({@link HostTensor}, not yet on
 * any device) or device tensors. The training step uploads it to the model's backend
 * ({@link uploadBatch}) and hands the objective a {@link Batch} of tensors. Which names a batch
 * holds is a contract between a source and an objective; language modelling uses the names of
 * {@link LanguageModelBatch}, so pretraining, fine-tuning and preference code share them.
 */
import { type CreateOptions, DTYPES, type DType, resolveBackend, sizeOf, Tensor, tensor } from '@kiln/tensor';
import type { TokenBatch } from './batches.js';
import type { JsonValue } from './token-format.js';

/** Host data of one batch entry, not yet uploaded: a typed array in row-major order, its shape and dtype. */
export interface HostTensor {
  /** The values, row-major; `bool` entries are 0/1 bytes. */
  readonly data: Int32Array | Float32Array | Uint32Array | Uint8Array;
  /** The shape; the data holds exactly its product of values. */
  readonly shape: readonly number[];
  /** The dtype of the tensor to create. */
  readonly dtype: DType;
}

/** What a source yields: named host arrays or device tensors. */
export type BatchInput = Readonly<Record<string, Tensor | HostTensor>>;

/** What an objective sees: the batch's entries as tensors on the model's backend. */
export type Batch = Readonly<Record<string, Tensor>>;

/** The target value of positions that have no target (no loss, no weight), as in PyTorch. */
export const IGNORE_INDEX = -100;

/**
 * The entries of a language-modelling batch (all `[B, T]`, row `b` one sequence). `T` is the
 * source's sequence length. Sources for pretraining and fine-tuning yield these names, and
 * {@link languageModelObjective} reads them; preference and RL batches add their own names beside them.
 */
export type LanguageModelBatch<T = Tensor> = {
  /** int32 token ids. */
  readonly ids: T;
  /** int32 next-token targets: `targets[b, t]` is the token after `ids[b, t]`; {@link IGNORE_INDEX} where there is none (prompt, padding). */
  readonly targets: T;
  /** int32 document index of each token within a packed row (attention never crosses documents). */
  readonly segments?: T;
  /** int32 position of each token within its document (restarting at 0 for each segment). */
  readonly positions?: T;
  /** bool, true at pad positions (masked out of attention). */
  readonly padding?: T;
};

/** A language-modelling batch as a source yields it (host arrays or tensors). */
export type LanguageModelBatchInput = LanguageModelBatch<Tensor | HostTensor>;

/**
 * A source of training batches with exact resume: `state()` is JSON (stored in checkpoints) and
 * `restore(state())` makes the following `next()` calls return what they would have returned
 * had the run not stopped. `TokenDataset` is one; a fine-tuning set of packed conversations or a
 * rollout buffer is another.
 *
 * Who calls `next()` owns what it returns: device tensors in the batch are the caller's to
 * dispose (the `Trainer` disposes them after the step). Host arrays ({@link HostTensor}) need no care.
 */
export interface BatchSource<B extends BatchInput = BatchInput> {
  /** The next training (micro-)batch. */
  next(): B;
  /** The position in the stream, as JSON. */
  state(): JsonValue;
  /** Continues from a `state()`; throws a clear error when `state` is not one of this source's states. */
  restore(state: JsonValue): void;
  /** Passes completed over the data so far (fractional), when the source has epochs; logged by the `Trainer`. */
  readonly epoch?: number;
}

const HOST_ARRAY_DTYPES: Readonly<Record<string, readonly DType[]>> = {
  Int32Array: ['int32'],
  Float32Array: ['float32', 'float16'],
  Uint32Array: ['uint32'],
  Uint8Array: ['bool'],
};

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value !== 'object') return typeof value;
  return (value as object).constructor?.name ?? 'object';
}

/** True when `value` is shaped like a {@link HostTensor} (a typed array, a shape and a dtype). */
export function isHostTensor(value: unknown): value is HostTensor {
  const v = value as HostTensor;
  return (
    typeof v === 'object' &&
    v !== null &&
    !(v instanceof Tensor) &&
    ArrayBuffer.isView(v.data) &&
    Array.isArray(v.shape) &&
    typeof v.dtype === 'string'
  );
}

/** Throws a clear error unless `value` is a consistent {@link HostTensor} (`name` is its batch key). */
function checkHostTensor(value: HostTensor, name: string): void {
  const kind = describe(value.data);
  const allowed = HOST_ARRAY_DTYPES[kind];
  if (!allowed) {
    throw new TypeError(
      `batch entry '${name}': data must be an Int32Array, Float32Array, Uint32Array or Uint8Array, got ${kind}`,
    );
  }
  if (!DTYPES.includes(value.dtype) || !allowed.includes(value.dtype)) {
    throw new TypeError(
      `batch entry '${name}': a ${kind} cannot hold dtype '${value.dtype}'; use ${allowed.map((d) => `'${d}'`).join(' or ')}`,
    );
  }
  if (!value.shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new RangeError(`batch entry '${name}': shape [${value.shape}] must be non-negative integers`);
  }
  if (sizeOf(value.shape) !== value.data.length) {
    throw new RangeError(
      `batch entry '${name}': shape [${value.shape}] needs ${sizeOf(value.shape)} values, the data has ${value.data.length}`,
    );
  }
}

/**
 * A {@link HostTensor} from a typed array, checked. The dtype defaults to the array's own
 * (`Int32Array` → int32, `Float32Array` → float32, `Uint32Array` → uint32, `Uint8Array` → bool).
 */
export function hostTensor(
  data: HostTensor['data'],
  shape: readonly number[],
  dtype: DType = HOST_ARRAY_DTYPES[describe(data)]?.[0] ?? 'float32',
): HostTensor {
  const host: HostTensor = { data, shape: [...shape], dtype };
  checkHostTensor(host, 'hostTensor');
  return host;
}

function checkRecord(input: unknown, who: string): asserts input is BatchInput {
  if (typeof input !== 'object' || input === null || Array.isArray(input) || input instanceof Tensor) {
    throw new TypeError(
      `${who}: a batch must be a record of named tensors, e.g. { ids, targets }, got ${describe(input)}`,
    );
  }
  if (Object.keys(input).length === 0) throw new TypeError(`${who}: the batch has no entries`);
}

/**
 * The batch on `backend`: host entries are uploaded as new tensors, device tensors are passed
 * through (they must already be on `backend`). The caller owns the tensors this creates: call it
 * inside a `scope()`, which frees them at its end.
 */
export function uploadBatch(input: BatchInput, options: Pick<CreateOptions, 'backend'> = {}): Batch {
  checkRecord(input, 'uploadBatch');
  const backend = resolveBackend(options.backend);
  const out: Record<string, Tensor> = {};
  try {
    for (const [name, value] of Object.entries(input)) {
      if (value instanceof Tensor) {
        if (value.backend !== backend) {
          throw new TypeError(
            `uploadBatch: entry '${name}' is on the ${value.backend.name} backend but the batch goes to ${backend.name}; yield host data (a HostTensor) or create it on the model's backend`,
          );
        }
        out[name] = value;
      } else if (isHostTensor(value)) {
        checkHostTensor(value, name);
        out[name] = tensor(value.data, { dtype: value.dtype, shape: value.shape, backend });
      } else {
        throw new TypeError(
          `uploadBatch: entry '${name}' must be a Tensor or a HostTensor { data, shape, dtype }, got ${describe(value)}`,
        );
      }
    }
  } catch (error) {
    for (const [name, t] of Object.entries(out)) if (t !== input[name]) t.dispose();
    throw error;
  }
  return out;
}

/** Disposes the device tensors in a batch input (host entries need nothing); for whoever owns a drawn batch. */
export function disposeBatch(input: BatchInput): void {
  for (const value of Object.values(input)) if (value instanceof Tensor && !value.isDisposed) value.dispose();
}

/**
 * Tokens in a batch input, for throughput: the number of elements of its `ids` entry (0 when
 * it has none). Read from the shape, so nothing is read back from the device.
 */
export function batchTokens(input: BatchInput): number {
  const ids = input.ids;
  if (ids === undefined) return 0;
  return sizeOf(ids.shape);
}

/** A {@link TokenBatch} of windows as a language-modelling batch input (`ids`, `targets`; int32 `[B, T]`). */
export function tokenBatchInput(batch: TokenBatch): LanguageModelBatch<HostTensor> {
  const shape = [batch.batchSize, batch.contextLength];
  return {
    ids: { data: batch.inputs, shape, dtype: 'int32' },
    targets: { data: batch.targets, shape, dtype: 'int32' },
  };
}
