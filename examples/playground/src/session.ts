// A training session that runs anywhere Kiln runs (a browser tab, Node): trains a byte-level BPE
// tokenizer on a text, then a tiny GPT on that text, one step at a time, so the caller decides
// when to yield, pause or draw. Everything the page shows comes from here: the loss history,
// tokens per second, samples, one head's attention pattern, and the model as Hugging Face files.
import { noGrad } from '@kiln/autograd';
import { addDispatchHook, init, keep, manualSeed, scope, type Tensor, tensor } from '@kiln/tensor';
import { Tokenizer } from '@kiln/tokenizer';
import { AdamW, languageModelObjective, TokenDataset, trainStep } from '@kiln/trainer';
import { GPT, type GPTConfig, modelFromFiles, modelToFiles } from '@kiln/transformer';

/** What a session trains and how. */
export interface SessionOptions {
  /** Tokenizer vocabulary: 256 bytes + merges + the end-of-text token. */
  vocabSize: number;
  nLayers: number;
  nHeads: number;
  dModel: number;
  contextLength: number;
  batchSize: number;
  /** AdamW learning rate (constant after a short warm-up). */
  lr: number;
  seed: number;
}

/** Small enough to train in a tab on a software adapter in about a minute. */
export const DEFAULT_OPTIONS: SessionOptions = {
  vocabSize: 384,
  nLayers: 2,
  nHeads: 4,
  dModel: 64,
  contextLength: 64,
  batchSize: 8,
  lr: 3e-3,
  seed: 1,
};

/** The three files a trained model is handed over as (what examples/chat and Hugging Face load). */
export interface SessionFiles {
  'model.safetensors': Uint8Array;
  'config.json': string;
  'tokenizer.json': string;
}

/** One point of the loss curve. */
export interface LossPoint {
  step: number;
  loss: number;
}

const WARMUP_STEPS = 20;

/** Waits for the next turn of the event loop (a macrotask), so the page can paint and handle input. */
export function yieldToPage(): Promise<void> {
  if (typeof MessageChannel === 'undefined') return new Promise((resolve) => setTimeout(resolve, 0));
  // setTimeout(0) is clamped to 4 ms once nested; a message is not
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

export class TrainingSession {
  readonly losses: LossPoint[] = [];
  step = 0;
  /** Tokens per second over the last few steps. */
  tokensPerSecond = 0;
  #optimizer: AdamW | null = null;
  #data: TokenDataset | null;
  #stepSeconds: number[] = [];

  private constructor(
    readonly backend: string,
    readonly tokenizer: Tokenizer,
    readonly model: GPT,
    readonly options: SessionOptions,
    data: TokenDataset | null,
  ) {
    this.#data = data;
  }

  /** Initialises the backend (`auto`: WebGPU when there is an adapter, else the CPU), trains the tokenizer and builds the model. */
  static async create(
    text: string,
    options: SessionOptions = DEFAULT_OPTIONS,
    backend: 'webgpu' | 'cpu' | 'auto' = 'auto',
  ): Promise<TrainingSession> {
    const info = await init({ backend, quiet: true });
    if (text.length < 2000)
      throw new Error(`the text has ${text.length} characters; give it at least 2000 to learn from`);
    const tokenizer = await Tokenizer.train(text, {
      vocabSize: options.vocabSize,
      pattern: 'gpt2',
      specialTokens: ['<|endoftext|>'],
    });
    const tokens = Int32Array.from(tokenizer.encode(text));
    if (tokens.length < 4 * options.contextLength) {
      throw new Error(
        `the text is only ${tokens.length} tokens; it needs at least ${4 * options.contextLength}`,
      );
    }
    manualSeed(options.seed);
    const model = new GPT(modelConfig(options, tokenizer.vocabSize));
    const data = new TokenDataset(tokens, {
      contextLength: options.contextLength,
      batchSize: options.batchSize,
      seed: options.seed,
      validationFraction: 0,
    });
    return new TrainingSession(info.name, tokenizer, model, options, data);
  }

  /** A session around a model and tokenizer loaded from files (a download or an OPFS checkpoint); it samples, and trains again once given a text. */
  static async fromFiles(
    files: SessionFiles,
    backend: 'webgpu' | 'cpu' | 'auto' = 'auto',
  ): Promise<TrainingSession> {
    const info = await init({ backend, quiet: true });
    const tokenizer = Tokenizer.fromHuggingFace(files['tokenizer.json']);
    const model = modelFromFiles(
      { config: files['config.json'], weights: files['model.safetensors'] },
      {},
      { dir: 'the loaded checkpoint' },
    );
    const c = model.config;
    const options: SessionOptions = {
      ...DEFAULT_OPTIONS,
      vocabSize: c.vocabSize,
      nLayers: c.nLayers,
      nHeads: c.nHeads,
      dModel: c.dModel,
      contextLength: c.contextLength,
    };
    return new TrainingSession(info.name, tokenizer, model, options, null);
  }

  /** Whether there is a text to train on. */
  get canTrain(): boolean {
    return this.#data !== null;
  }

  /** Gives a loaded session a text to continue training on (the optimizer starts afresh). */
  setText(text: string): void {
    const tokens = Int32Array.from(this.tokenizer.encode(text));
    this.#data = new TokenDataset(tokens, {
      contextLength: this.options.contextLength,
      batchSize: this.options.batchSize,
      seed: this.options.seed,
      validationFraction: 0,
    });
  }

  /** One AdamW step on one batch; returns the loss (read back, so the step has finished). */
  async trainStep(): Promise<number> {
    if (!this.#data) throw new Error('this session has no text to train on; call setText(text) first');
    this.#optimizer ??= new AdamW(this.model.namedParameters(), { lr: this.options.lr, weightDecay: 0.01 });
    const start = performance.now();
    const lr = this.options.lr * Math.min(1, (this.step + 1) / WARMUP_STEPS);
    const result = trainStep(this.model, this.#optimizer, [this.#data.next()], languageModelObjective(), {
      lr,
      gradClip: 1,
    });
    const loss = await result.loss.item();
    disposeAll(result);
    this.step++;
    this.losses.push({ step: this.step, loss });
    this.#stepSeconds.push((performance.now() - start) / 1000);
    if (this.#stepSeconds.length > 10) this.#stepSeconds.shift();
    const mean = this.#stepSeconds.reduce((a, b) => a + b, 0) / this.#stepSeconds.length;
    this.tokensPerSecond = (this.options.batchSize * this.options.contextLength) / mean;
    return loss;
  }

  /** Continues `prompt` by `maxTokens` tokens (top-k sampling, seeded). */
  async sample(prompt: string, maxTokens = 40, seed = this.step): Promise<string> {
    const ids = this.tokenizer.encode(prompt);
    const out: number[] = [];
    for await (const id of this.model.generate(ids, { maxTokens, temperature: 0.8, topK: 20, seed }))
      out.push(id);
    return this.tokenizer.decode(out);
  }

  /**
   * The attention pattern of `head` in `layer` for `prompt`: one row per query token, its
   * weights over the keys (causal, so row i has i + 1 entries). Captured with a dispatch hook
   * on the `attention` op during a no-grad forward pass: the model is not modified.
   */
  async attention(
    prompt: string,
    layer: number,
    head: number,
  ): Promise<{ tokens: string[]; weights: number[][] }> {
    const c = this.model.config;
    if (!(layer >= 0 && layer < c.nLayers))
      throw new RangeError(`layer must be 0…${c.nLayers - 1}, got ${layer}`);
    if (!(head >= 0 && head < c.nHeads)) throw new RangeError(`head must be 0…${c.nHeads - 1}, got ${head}`);
    const ids = this.tokenizer.encode(prompt).slice(-c.contextLength);
    if (ids.length === 0) return { tokens: [], weights: [] };
    let seen = 0;
    let captured: Tensor | null = null;
    let busy = false;
    const remove = addDispatchHook((record) => {
      if (record.op !== 'attention' || busy) return;
      if (seen++ !== layer) return;
      busy = true; // the ops below are dispatched too
      try {
        const [q, k] = record.inputs;
        const group = q.shape[1] / k.shape[1]; // grouped-query: query heads per key head
        const kvHead = Math.floor(head / group);
        const T = q.shape[2];
        // softmax(q·kᵀ·scale) under the causal mask, from the same q and k the layer used
        captured = keep(
          scope(() => {
            const scores = q
              .slice(1, head, head + 1)
              .matmul(k.slice(1, kvHead, kvHead + 1).transpose(-1, -2))
              .mul(record.attrs.scale);
            const future = tensor(
              Float32Array.from({ length: T * T }, (_, i) => (i % T > Math.floor(i / T) ? -1e9 : 0)),
              { shape: [T, T], backend: q.backend },
            );
            return scores.add(future).softmax(-1);
          }),
        );
      } finally {
        busy = false;
      }
    });
    try {
      const input = tensor(Int32Array.from(ids), { shape: [1, ids.length], dtype: 'int32' });
      noGrad(() => {
        const out = this.model.forward(input);
        out.logits.dispose();
      });
      input.dispose();
    } finally {
      remove();
    }
    if (!captured) throw new Error('no attention op was dispatched: is this a transformer?');
    const matrix = captured as Tensor;
    const flat = Array.from(await matrix.data());
    matrix.dispose();
    const T = ids.length;
    const weights = Array.from({ length: T }, (_, i) => flat.slice(i * T, i * T + i + 1));
    return { tokens: ids.map((id) => this.tokenizer.decode([id])), weights };
  }

  /** The model and tokenizer as Hugging Face files (float32 weights). */
  async files(): Promise<SessionFiles> {
    const model = await modelToFiles(this.model);
    return { ...model, 'tokenizer.json': JSON.stringify(this.tokenizer.toHuggingFace()) };
  }
}

function modelConfig(o: SessionOptions, vocabSize: number): GPTConfig {
  return {
    family: 'gpt2',
    vocabSize,
    contextLength: o.contextLength,
    nLayers: o.nLayers,
    nHeads: o.nHeads,
    dModel: o.dModel,
    dropout: 0,
  };
}

/** Disposes every tensor in a step's result (loss, weight, gradient norm, metrics). */
function disposeAll(value: unknown): void {
  if (value && typeof value === 'object') {
    if (typeof (value as Tensor).dispose === 'function' && 'shape' in (value as object)) {
      (value as Tensor).dispose();
      return;
    }
    for (const v of Object.values(value)) disposeAll(v);
  }
}
