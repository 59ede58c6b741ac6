import { Module, type Parameter } from '@kiln/autograd';
import { embedding, type Tensor } from '@kiln/tensor';
import { checkTableIds } from '../token-ids.js';
import { type LayerOptions, normalParameter } from './init.js';

/** Options of {@link Embedding}. */
export interface EmbeddingOptions extends LayerOptions {
  /** Standard deviation of the normal init (default 0.02, as GPT-2). */
  std?: number;
}

/** A lookup table: int32 ids `[...]` → rows of `weight` `[..., dim]`. */
export class Embedding extends Module {
  /** `[numEmbeddings, dim]`. */
  weight: Parameter;

  constructor(
    readonly numEmbeddings: number,
    readonly dim: number,
    options: EmbeddingOptions = {},
  ) {
    super();
    this.weight = normalParameter([numEmbeddings, dim], options.std ?? 0.02, options);
  }

  /** Rows of the table for int32 `ids` of any shape. An id outside the table is an error naming it and its position. */
  forward(ids: Tensor): Tensor {
    checkTableIds('Embedding', ids, this.numEmbeddings);
    return embedding(ids, this.weight);
  }
}
