// The bytes of every token, in one pool. A typed array per token would mean hundreds of thousands
// of small objects for a 200k vocabulary: slow to create, heavy for the garbage collector.

/** Token id → bytes, stored as one byte pool plus a start and a length per id. */
export class TokenBytes {
  /** Concatenated token bytes. */
  readonly pool: Uint8Array;
  /** Start of each id's bytes in the pool, or -1 for an id without a token. */
  readonly starts: Int32Array;
  /** Length of each id's bytes (0 for an id without a token). */
  readonly lengths: Int32Array;

  constructor(pool: Uint8Array, starts: Int32Array, lengths: Int32Array) {
    this.pool = pool;
    this.starts = starts;
    this.lengths = lengths;
  }

  /** Packs a list of byte arrays (holes allowed) into a pool. */
  static fromList(tokens: readonly (Uint8Array | undefined)[]): TokenBytes {
    let total = 0;
    for (const t of tokens) total += t?.length ?? 0;
    const pool = new Uint8Array(total);
    const starts = new Int32Array(tokens.length).fill(-1);
    const lengths = new Int32Array(tokens.length);
    let offset = 0;
    tokens.forEach((bytes, id) => {
      if (bytes === undefined) return;
      pool.set(bytes, offset);
      starts[id] = offset;
      lengths[id] = bytes.length;
      offset += bytes.length;
    });
    return new TokenBytes(pool, starts, lengths);
  }

  /** One more than the largest id. */
  get size(): number {
    return this.starts.length;
  }

  /** Whether `id` is a token. */
  has(id: number): boolean {
    return this.starts[id] >= 0; // undefined (out of range, not an integer) compares false
  }

  /** A view of the token's bytes (do not modify), or undefined. */
  get(id: number): Uint8Array | undefined {
    const start = this.starts[id];
    return start >= 0 ? this.pool.subarray(start, start + this.lengths[id]) : undefined;
  }

  /** The token's bytes as a Latin-1 string (one char per byte): a compact map key. */
  latin1(id: number): string {
    const start = this.starts[id];
    return String.fromCharCode.apply(
      null,
      this.pool.subarray(start, start + this.lengths[id]) as unknown as number[],
    );
  }

  /** Length of the longest token. */
  maxLength(): number {
    let max = 0;
    for (let i = 0; i < this.lengths.length; i++) if (this.lengths[i] > max) max = this.lengths[i];
    return max;
  }
}
