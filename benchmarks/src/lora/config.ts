// The LoRA benchmark's fixed setup: the train suite's model and batches (src/train/config.ts)
// with adapters on every linear layer of the blocks.

/** LoRA on every linear layer of the blocks (qkv, o, fc, proj), rank 8, α 16. */
export const LORA = { rank: 8, alpha: 16, targets: 'all-linear' } as const;

/** What a LoRA benchmark child prints as its last line. */
export interface LoRAStepResult {
  /** Milliseconds of each timed step (forward, backward, AdamW update, loss read back). */
  stepMs: number[];
  /** Loss after each timed step (a sanity check that it trains). */
  losses: number[];
  /** Elements in every parameter (adapters included). */
  totalParams: number;
  /** Elements in the parameters the optimizer updates. */
  trainableParams: number;
  /** Bytes of AdamW's state tensors after the timed steps (its two moments per trained element). */
  optimizerStateBytes: number;
  /** The backend and its adapter. */
  device: string;
}
