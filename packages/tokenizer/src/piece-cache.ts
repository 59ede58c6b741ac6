// A bounded cache from a pre-tokenized piece (a word, a run of spaces, ...) to its token ids.
// Natural text repeats a small set of pieces, so most lookups hit. Two generations give an
// approximately least-recently-used policy at almost no cost: when the young generation is full,
// it becomes the old one and the previous old one is dropped; a hit in the old generation is
// copied back into the young one, so pieces in use survive.

/** Token ids of one piece: a single id (the common case, no allocation) or several. */
export type PieceIds = number | Uint32Array;

/** Bounded two-generation cache of piece → ids. */
export class PieceCache {
  private young = new Map<string, PieceIds>();
  private old = new Map<string, PieceIds>();

  /** `capacity` is the most entries per generation (so at most twice that in memory). */
  constructor(readonly capacity = 50_000) {}

  /** The cached ids of `piece`, if any. */
  get(piece: string): PieceIds | undefined {
    const hit = this.young.get(piece);
    if (hit !== undefined) return hit;
    const oldHit = this.old.get(piece);
    if (oldHit !== undefined) this.set(piece, oldHit);
    return oldHit;
  }

  /** Remembers the ids of `piece`. */
  set(piece: string, ids: PieceIds): void {
    if (this.young.size >= this.capacity) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(piece, ids);
  }

  /** Forgets everything. */
  clear(): void {
    this.young = new Map();
    this.old = new Map();
  }
}
