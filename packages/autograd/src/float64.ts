/**
 * A float64 variant of @kiln/tensor's cpu backend, for `gradCheck`.
 *
 * @kiln/tensor has no float64 dtype, but its cpu backend computes every kernel in float64 and
 * only rounds when it stores into the typed array it allocated. Allocating float32 storage as a
 * `Float64Array` therefore makes every op of this backend float64 end to end, so finite
 * differences are accurate to ~1e-10 instead of ~1e-3. This relies on how the cpu backend
 * stores values, so the backend checks itself on creation and `gradCheck` refuses to run if the
 * extra precision is not there.
 */
import {
  type Backend,
  type BackendMemory,
  CpuBackend,
  type DType,
  type HostArray,
  tensor,
} from '@kiln/tensor';
import { AutogradError } from './errors.js';

class Float64CpuBackend extends CpuBackend {
  #bytes = 0;
  #live = 0;
  #wide = new WeakSet<object>();

  override allocate(dtype: DType, size: number): HostArray {
    if (dtype !== 'float32') return super.allocate(dtype, size);
    const buf = new Float64Array(size);
    this.#wide.add(buf);
    this.#bytes += size * 8;
    this.#live++;
    return buf as unknown as HostArray;
  }

  override release(storage: HostArray): void {
    if (!this.#wide.has(storage)) {
      super.release(storage);
      return;
    }
    this.#bytes -= storage.length * 8;
    this.#live--;
  }

  override memory(): BackendMemory {
    const base = super.memory();
    return {
      ...base,
      allocatedBytes: base.allocatedBytes + this.#bytes,
      liveBuffers: base.liveBuffers + this.#live,
    };
  }
}

let instance: Promise<Backend> | null = null;

async function create(): Promise<Backend> {
  const backend = new Float64CpuBackend();
  // 1 + 2^-40 is exact in float64 and rounds to 1 in float32.
  const one = tensor([1], { backend });
  const sum = one.add(2 ** -40);
  const value = (await sum.data())[0];
  one.dispose();
  sum.dispose();
  if (value === 1) {
    throw new AutogradError(
      'gradCheck: the cpu backend no longer keeps float64 values in float64 storage, so finite differences cannot run in float64; ' +
        '@kiln/tensor needs a float64 dtype (or this check needs updating)',
    );
  }
  return backend;
}

/** The float64 cpu backend (created on first use; not registered as a named backend). */
export function float64Backend(): Promise<Backend> {
  instance ??= create();
  instance.catch(() => {
    instance = null;
  });
  return instance;
}
