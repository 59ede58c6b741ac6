import { BufferUsage } from './constants.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The bits of `x` rounded to float32, as a u32 word (kernels `bitcast<f32>` it back). */
export function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0];
}

/** A JS integer as a two's complement u32 word (kernels `bitcast<i32>` it back). */
export function i32Bits(x: number): number {
  return x >>> 0;
}

/** Bytes a kernel's uniform block takes for `words` u32 words (an array of vec4<u32>). */
export function paramBytes(words: number): number {
  return Math.max(1, Math.ceil(words / 4)) * 16;
}

/** Where a dispatch's parameters live in the arena buffer. */
export interface ParamSlice {
  offset: number;
  size: number;
}

/**
 * Host-side arena for the uniform parameters of every dispatch in the current command buffer.
 *
 * Writing each dispatch's uniforms with its own `queue.writeBuffer` would be wrong: queue writes
 * execute before the (not yet submitted) command buffer that was encoded earlier, so a later
 * write would overwrite parameters an earlier dispatch still has to read. Instead every dispatch
 * gets its own aligned slice of one buffer, the slices are filled on the host, and the whole
 * arena is written with a single `writeBuffer` just before the command buffer is submitted.
 * Because queue operations run in order, the next command buffer can reuse the same buffer:
 * its write lands after the previous submission finished reading.
 */
export class ParamArena {
  readonly buffer: GPUBuffer;
  readonly #host: Uint32Array;
  readonly #align: number;
  #used = 0;

  constructor(device: GPUDevice, capacityBytes: number, alignment: number) {
    this.buffer = device.createBuffer({
      size: capacityBytes,
      usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST,
      label: 'kiln uniform arena',
    });
    this.#host = new Uint32Array(capacityBytes / 4);
    this.#align = Math.max(16, alignment);
  }

  /** Copies `words` into a new slice, or returns null when the arena is full (flush first). */
  push(words: readonly number[]): ParamSlice | null {
    const size = paramBytes(words.length);
    const offset = Math.ceil(this.#used / this.#align) * this.#align;
    if (offset + size > this.#host.byteLength) return null;
    const base = offset / 4;
    for (let i = 0; i < words.length; i++) this.#host[base + i] = words[i];
    this.#used = offset + size;
    return { offset, size };
  }

  /** Writes the used part of the arena to the GPU (call right before `queue.submit`) and resets it. */
  upload(queue: GPUQueue): void {
    if (this.#used === 0) return;
    queue.writeBuffer(this.buffer, 0, this.#host.buffer, 0, this.#used);
    this.#used = 0;
  }
}
