#!/usr/bin/env node
// run.mjs: chat with a GPT-2 or Llama model in one file of plain JavaScript, on the CPU, with no
// packages. A language model is a parameter file plus a small program that runs it; this is the
// program (in the spirit of llama2.c's run.c). It reads a Hugging Face model directory:
//
//   config.json         the architecture (GPT2LMHeadModel or LlamaForCausalLM keys)
//   model.safetensors   the weights: float16 (what `pnpm --filter @kiln/example-chat export`
//                       writes), bfloat16 or float32; a sharded index works too
//   tokenizer.json      a byte-level BPE tokenizer (GPT-2, Llama 3, or one trained with Kiln);
//                       looked up in the directory, then in its parent
//
//   node run.mjs runs/pretrain/model --raw -p "The whale"      complete a text
//   node run.mjs DIR                                          chat (ChatML or Llama 3 template)
//   node run.mjs DIR -p "Hello" -t 0                          one greedy answer
//
// Everything is float32 on the CPU, one token at a time with a key/value cache: slow for big
// models, but every step of the computation is here to read.
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import readline from 'node:readline';

const USAGE = `usage: node run.mjs <model-dir> [options]
  -p, --prompt <text>       answer one message (or, with --raw, continue the text) and exit
  -s, --system <text>       system prompt for the chat
  -t, --temperature <t>     0 = greedy (default 0.8)
  --top-p <p>               nucleus sampling (default 0.95)
  --top-k <k>               sample among the k most likely tokens (default 0 = all)
  --seed <n>                seed of the sampler (default: the time)
  -n, --max-tokens <n>      most tokens per answer (default 256)
  --raw                     plain text continuation, no chat template
  --tokenizer <file>        tokenizer.json (default: in <model-dir> or its parent)
  --ids                     print the generated token ids as JSON instead of text
  --encode <text>           print the token ids of <text> (special tokens recognised) and exit
In the chat: /reset starts over, /exit (or Ctrl-D) quits.`;

function fail(message) {
  process.stderr.write(`run.mjs: ${message}\n`);
  process.exit(1);
}

// ---------------------------------------------------------------------------------------------
// Weights: safetensors is an 8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and byte range, then the raw little-endian data.

/** float16 bits → number: sign, 5 exponent bits, 10 mantissa bits. */
function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // subnormal
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Every float16 bit pattern's value, so converting a tensor is one table look-up per element. */
const HALF = Float32Array.from({ length: 65536 }, (_, h) => halfToFloat(h));

/** Reads every tensor of one .safetensors file into float32 arrays: name → { shape, data }. */
function readSafetensors(file, out) {
  const bytes = fs.readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.toString('utf8', 8, 8 + headerLength));
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [start, end] = info.data_offsets.map((o) => bytes.byteOffset + 8 + headerLength + o);
    // a copy, aligned for the typed arrays (which read little-endian, as the file is, on every
    // machine Node runs on)
    const raw = bytes.buffer.slice(start, end);
    let data;
    if (info.dtype === 'F32') data = new Float32Array(raw);
    else if (info.dtype === 'F16' || info.dtype === 'BF16') {
      const halves = new Uint16Array(raw);
      data = new Float32Array(halves.length);
      if (info.dtype === 'F16') for (let i = 0; i < halves.length; i++) data[i] = HALF[halves[i]];
      else {
        // bfloat16 is the top half of a float32
        const bits = new Uint32Array(data.buffer);
        for (let i = 0; i < halves.length; i++) bits[i] = halves[i] << 16;
      }
    } else fail(`${file}: tensor ${name} has dtype ${info.dtype}; run.mjs reads F16, BF16 and F32`);
    out.set(name, { shape: info.shape, data });
  }
}

/** All tensors of a model directory: model.safetensors, or the shards its index lists. */
function readWeights(dir) {
  const tensors = new Map();
  const single = path.join(dir, 'model.safetensors');
  const index = path.join(dir, 'model.safetensors.index.json');
  if (fs.existsSync(single)) readSafetensors(single, tensors);
  else if (fs.existsSync(index)) {
    const shards = new Set(Object.values(JSON.parse(fs.readFileSync(index, 'utf8')).weight_map));
    for (const shard of shards) readSafetensors(path.join(dir, shard), tensors);
  } else fail(`${dir} has no model.safetensors`);
  return tensors;
}

// ---------------------------------------------------------------------------------------------
// The model. Every linear layer is stored as rows [out][in] so that y = W x walks memory in
// order; GPT-2's Conv1D stores [in][out] and is transposed on load.

/** Reads config.json into the few numbers the forward pass needs (GPT-2 and Llama name them differently). */
function readConfig(dir) {
  const c = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  const type = c.model_type ?? c.architectures?.[0];
  const gpt2 = type === 'gpt2' || type === 'GPT2LMHeadModel';
  if (!gpt2 && type !== 'llama' && type !== 'LlamaForCausalLM')
    fail(`model_type ${JSON.stringify(type)} is not supported; run.mjs runs gpt2 and llama models`);
  if (c.rope_scaling) fail('rope_scaling is not supported: run.mjs implements plain RoPE');
  if (c.kiln_config?.qkNorm)
    fail('this model uses QK-norm, which plain GPT-2/Llama (and run.mjs) do not have');
  const [dim, layers, heads] = gpt2
    ? [c.n_embd, c.n_layer, c.n_head]
    : [c.hidden_size, c.num_hidden_layers, c.num_attention_heads];
  return {
    family: gpt2 ? 'gpt2' : 'llama',
    dim,
    layers,
    heads,
    // a Kiln GPT-2 may use grouped-query attention, which only its kiln_config records
    kvHeads: (gpt2 ? c.kiln_config?.nKvHeads : c.num_key_value_heads) ?? heads,
    hidden: gpt2 ? (c.n_inner ?? 4 * dim) : c.intermediate_size,
    vocab: c.vocab_size,
    context: gpt2 ? (c.n_positions ?? c.n_ctx) : c.max_position_embeddings,
    eps: gpt2 ? (c.layer_norm_epsilon ?? 1e-5) : (c.rms_norm_eps ?? 1e-6),
    theta: c.rope_theta ?? 10000,
  };
}

// Each layer's tensors by role → Hugging Face name (without `.weight` / `.bias`). Llama's q, k and
// v projections are stacked into one qkv matrix below, the layout GPT-2's c_attn already has.
const LAYER_NAMES = {
  gpt2: {
    norm1: 'ln_1',
    qkv: 'attn.c_attn',
    o: 'attn.c_proj',
    norm2: 'ln_2',
    fc: 'mlp.c_fc',
    proj: 'mlp.c_proj',
  },
  llama: {
    norm1: 'input_layernorm',
    o: 'self_attn.o_proj',
    norm2: 'post_attention_layernorm',
    gate: 'mlp.gate_proj',
    up: 'mlp.up_proj',
    proj: 'mlp.down_proj',
  },
};

/** Picks the weights out of the tensor map: `{ w, b }` per layer role (b undefined without a bias). */
function loadModel(dir) {
  const cfg = readConfig(dir);
  const t = readWeights(dir);
  const gpt2 = cfg.family === 'gpt2';
  const get = (name, optional = false) => {
    // GPT-2 checkpoints exist with and without the `transformer.` prefix
    const hit = t.get(name) ?? t.get(name.replace(/^transformer\./, ''));
    if (!hit && !optional) fail(`${dir}: tensor ${name} is missing`);
    return hit;
  };
  /** A weight as rows [out][in]: GPT-2's Conv1D matrices are [in][out], so they are transposed. */
  const rows = (name, transpose) => {
    const { shape, data } = get(name);
    if (!transpose || shape.length !== 2) return data;
    const [r, c] = shape;
    const out = new Float32Array(data.length);
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = data[i * c + j];
    return out;
  };
  const w = { layers: [], embed: get(gpt2 ? 'transformer.wte.weight' : 'model.embed_tokens.weight').data };
  if (gpt2) w.positions = get('transformer.wpe.weight').data;
  for (let l = 0; l < cfg.layers; l++) {
    const p = gpt2 ? `transformer.h.${l}.` : `model.layers.${l}.`;
    const layer = {};
    for (const [role, name] of Object.entries(LAYER_NAMES[cfg.family])) {
      const isNorm = role.startsWith('norm');
      layer[role] = {
        w: rows(`${p}${name}.weight`, gpt2 && !isNorm),
        b: get(`${p}${name}.bias`, true)?.data,
      };
    }
    if (!gpt2) {
      const qkv = ['q', 'k', 'v'].map((x) => `${p}self_attn.${x}_proj`);
      const biases = qkv.map((n) => get(`${n}.bias`, true)?.data);
      layer.qkv = { w: concat(qkv.map((n) => get(`${n}.weight`).data)), b: biases[0] && concat(biases) };
    }
    w.layers.push(layer);
  }
  const final = gpt2 ? 'transformer.ln_f' : 'model.norm';
  w.norm = { w: get(`${final}.weight`).data, b: get(`${final}.bias`, true)?.data };
  w.head = get('lm_head.weight', true)?.data ?? w.embed; // a tied head is the token embedding
  return { cfg, w };
}

function concat(arrays) {
  const out = new Float32Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

// The building blocks: y = W x + b, the two norms, and the activations.
function matvec(out, W, x, b) {
  const n = x.length;
  for (let r = 0; r < out.length; r++) {
    let s = b ? b[r] : 0;
    for (let i = 0, o = r * n; i < n; i++) s += W[o + i] * x[i];
    out[r] = s;
  }
}
function layerNorm(out, x, g, b, eps) {
  let mean = 0;
  for (const v of x) mean += v;
  mean /= x.length;
  let variance = 0;
  for (const v of x) variance += (v - mean) ** 2;
  const inv = 1 / Math.sqrt(variance / x.length + eps);
  for (let i = 0; i < x.length; i++) out[i] = (x[i] - mean) * inv * g[i] + (b ? b[i] : 0);
}
function rmsNorm(out, x, g, eps) {
  let ss = 0;
  for (const v of x) ss += v * v;
  const inv = 1 / Math.sqrt(ss / x.length + eps);
  for (let i = 0; i < x.length; i++) out[i] = x[i] * inv * g[i];
}
const geluTanh = (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
const silu = (x) => x / (1 + Math.exp(-x));

/** The key/value cache and scratch buffers of one sequence. */
function createState({ cfg }) {
  const headDim = cfg.dim / cfg.heads;
  const kvDim = cfg.kvHeads * headDim;
  const f = (n) => new Float32Array(n);
  return {
    pos: 0, // positions in the cache
    tokens: [], // the tokens that are in the cache, to reuse it when the next prompt extends them
    keys: Array.from({ length: cfg.layers }, () => f(cfg.context * kvDim)),
    values: Array.from({ length: cfg.layers }, () => f(cfg.context * kvDim)),
    x: f(cfg.dim),
    h: f(cfg.dim),
    qkv: f(cfg.dim + 2 * kvDim),
    att: f(cfg.dim),
    tmp: f(cfg.dim),
    ff1: f(cfg.hidden),
    ff2: f(cfg.hidden),
    scores: f(cfg.context),
    logits: f(cfg.vocab),
  };
}

/** Rotates each head's (i, i + headDim/2) pairs by the position's angles (RoPE, rotate-half layout). */
function rope(v, offset, heads, headDim, pos, theta) {
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    const o = offset + h * headDim;
    for (let i = 0; i < half; i++) {
      const angle = pos * theta ** (-(2 * i) / headDim);
      const cos = Math.cos(angle);
      const sin = Math.sin(angle);
      const a = v[o + i];
      const b = v[o + i + half];
      v[o + i] = a * cos - b * sin;
      v[o + i + half] = b * cos + a * sin;
    }
  }
}

/** Runs one token at the next position; leaves the next-token logits in s.logits. */
function forward(model, s, token) {
  const { cfg, w } = model;
  const { dim, heads, kvHeads } = cfg;
  const headDim = dim / heads;
  const kvDim = kvHeads * headDim;
  const pos = s.pos;
  const gpt2 = cfg.family === 'gpt2';
  const norm = (out, x, n) => (gpt2 ? layerNorm(out, x, n.w, n.b, cfg.eps) : rmsNorm(out, x, n.w, cfg.eps));
  const linear = (out, x, lin) => matvec(out, lin.w, x, lin.b);
  for (let i = 0; i < dim; i++) s.x[i] = w.embed[token * dim + i] + (gpt2 ? w.positions[pos * dim + i] : 0);

  for (let l = 0; l < cfg.layers; l++) {
    const L = w.layers[l];
    // attention: q, k, v of this token; k and v go into the cache at `pos`
    norm(s.h, s.x, L.norm1);
    linear(s.qkv, s.h, L.qkv);
    if (!gpt2) {
      rope(s.qkv, 0, heads, headDim, pos, cfg.theta);
      rope(s.qkv, dim, kvHeads, headDim, pos, cfg.theta);
    }
    s.keys[l].set(s.qkv.subarray(dim, dim + kvDim), pos * kvDim);
    s.values[l].set(s.qkv.subarray(dim + kvDim), pos * kvDim);
    for (let h = 0; h < heads; h++) {
      const kvh = Math.floor(h / (heads / kvHeads)); // grouped-query attention shares kv heads
      const q = h * headDim;
      let max = Number.NEGATIVE_INFINITY;
      for (let t = 0; t <= pos; t++) {
        let dot = 0;
        const k = t * kvDim + kvh * headDim;
        for (let i = 0; i < headDim; i++) dot += s.qkv[q + i] * s.keys[l][k + i];
        s.scores[t] = dot / Math.sqrt(headDim);
        max = Math.max(max, s.scores[t]);
      }
      let sum = 0;
      for (let t = 0; t <= pos; t++) sum += s.scores[t] = Math.exp(s.scores[t] - max);
      s.att.fill(0, q, q + headDim);
      for (let t = 0; t <= pos; t++) {
        const v = t * kvDim + kvh * headDim;
        const p = s.scores[t] / sum;
        for (let i = 0; i < headDim; i++) s.att[q + i] += p * s.values[l][v + i];
      }
    }
    linear(s.tmp, s.att, L.o);
    for (let i = 0; i < dim; i++) s.x[i] += s.tmp[i];

    // feed-forward: GELU MLP (GPT-2) or SwiGLU (Llama)
    norm(s.h, s.x, L.norm2);
    if (gpt2) {
      linear(s.ff1, s.h, L.fc);
      for (let i = 0; i < cfg.hidden; i++) s.ff1[i] = geluTanh(s.ff1[i]);
    } else {
      linear(s.ff1, s.h, L.gate);
      linear(s.ff2, s.h, L.up);
      for (let i = 0; i < cfg.hidden; i++) s.ff1[i] = silu(s.ff1[i]) * s.ff2[i];
    }
    linear(s.tmp, s.ff1, L.proj);
    for (let i = 0; i < dim; i++) s.x[i] += s.tmp[i];
  }
  norm(s.h, s.x, w.norm);
  matvec(s.logits, w.head, s.h);
  s.pos++;
  s.tokens.push(token);
}

// ---------------------------------------------------------------------------------------------
// The tokenizer: byte-level BPE as in tokenizer.json. Text → special tokens split out → the
// pre-tokenizer regex cuts the rest into pieces → each piece's UTF-8 bytes, written as
// printable characters, are merged by the BPE merge ranks → ids.

/** GPT-2's byte ↔ character table: printable bytes stand for themselves, the rest get 256+n. */
function byteTable() {
  const toChar = [];
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
    toChar[b] = String.fromCodePoint(printable ? b : next++);
  }
  return { toChar, toByte: new Map(toChar.map((c, b) => [c, b])) };
}

// GPT-2's split pattern, the one a ByteLevel pre-tokenizer uses when it has no Split before it.
const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/** The case variants of an ASCII letter, with the two non-ASCII letters that fold into s and k. */
const caseVariants = (ch) =>
  ({ s: 'sSſ', k: 'kK\u212a' })[ch.toLowerCase()] ?? ch.toLowerCase() + ch.toUpperCase();

/**
 * A tokenizer.json pattern (Rust regex syntax) as a JavaScript one: \s means Unicode
 * White_Space there (JS's \s differs in two characters), possessive quantifiers (`?+`, `++`)
 * become greedy ones (the same matches for these patterns), `\'` needs no escape, and
 * case-insensitive groups `(?i:'s|'t)` get their letters spelled out (Node 22 lacks them).
 */
function toJsRegex(source) {
  const js = source
    .replace(
      /\(\?i:((?:\\.|[^()])*)\)/g,
      (_, body) =>
        `(?:${body.replace(/(\\.)|([a-zA-Z])/g, (m, escaped) => escaped ?? `[${caseVariants(m)}]`)})`,
    )
    .replace(/\\s/g, '\\p{White_Space}')
    .replace(/\\S/g, '\\P{White_Space}')
    .replace(/(?<!\\)([+*?]|\{\d+(?:,\d*)?\})\+/g, '$1') // not the } of \p{L}+
    .replace(/\\'/g, "'");
  return new RegExp(js, 'gu');
}

function loadTokenizer(file) {
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  const { model, pre_tokenizer: pre } = json;
  if (model?.type !== 'BPE' || model.byte_fallback)
    fail(`${file}: run.mjs reads byte-level BPE tokenizers only`);
  let pattern = GPT2_PATTERN;
  if (pre?.type === 'Sequence') {
    const split = pre.pretokenizers.find((p) => p.type === 'Split');
    if (split) pattern = split.pattern.Regex ?? split.pattern.String.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
  } else if (pre?.type !== 'ByteLevel') fail(`${file}: pre-tokenizer ${pre?.type} is not byte-level`);
  const { toChar, toByte } = byteTable();
  const vocab = new Map(Object.entries(model.vocab));
  const ranks = new Map(model.merges.map((m, i) => [Array.isArray(m) ? m.join(' ') : m, i]));
  const special = new Map(json.added_tokens.map((t) => [t.content, t.id]));
  const bytesOf = []; // id → bytes, for decoding
  for (const [token, id] of vocab) bytesOf[id] = Uint8Array.from([...token], (c) => toByte.get(c));
  for (const [text, id] of special) bytesOf[id] = new TextEncoder().encode(text);
  // special tokens match longest first, so that one that contains another wins
  const escaped = [...special.keys()]
    .sort((a, b) => b.length - a.length)
    .map((t) => t.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&'));
  const specialRegex = escaped.length ? new RegExp(`(${escaped.join('|')})`, 'u') : null;
  const splitter = toJsRegex(pattern);
  const cache = new Map();

  /** One pre-tokenized piece → ids, by merging the lowest-ranked adjacent pair until none is left. */
  function bpe(piece) {
    let ids = cache.get(piece);
    if (ids) return ids;
    let parts = [...new TextEncoder().encode(piece)].map((b) => toChar[b]);
    if (!(model.ignore_merges && vocab.has(parts.join('')))) {
      while (parts.length > 1) {
        let best = -1;
        let bestRank = Number.POSITIVE_INFINITY;
        for (let i = 0; i + 1 < parts.length; i++) {
          const rank = ranks.get(`${parts[i]} ${parts[i + 1]}`);
          if (rank !== undefined && rank < bestRank) [best, bestRank] = [i, rank];
        }
        if (best < 0) break;
        // merge every occurrence of that pair, left to right
        const [a, b] = [parts[best], parts[best + 1]];
        const merged = [];
        for (let i = 0; i < parts.length; i++) {
          if (parts[i] === a && parts[i + 1] === b) merged.push(a + parts[++i]);
          else merged.push(parts[i]);
        }
        parts = merged;
      }
    } else parts = [parts.join('')];
    ids = parts.map((p) => vocab.get(p) ?? fail(`token ${p} is not in the vocabulary`));
    cache.set(piece, ids);
    return ids;
  }
  /** Text → ids; special-token text becomes its id only with `allowSpecial`. */
  function encode(text, allowSpecial = false) {
    const chunks = allowSpecial && specialRegex ? text.split(specialRegex) : [text];
    const ids = [];
    chunks.forEach((chunk, i) => {
      if (i % 2 === 1)
        ids.push(special.get(chunk)); // split() puts the captured separators at odd indices
      else for (const [piece] of chunk.matchAll(splitter)) ids.push(...bpe(piece));
    });
    return ids;
  }
  return { encode, bytesOf, special, vocabSize: bytesOf.length };
}

// ---------------------------------------------------------------------------------------------
// Chat templates. The scaffolding is encoded with special tokens, the messages as plain text
// (typed special-token text stays text), segment by segment, as @kiln/tokenizer does.

const TEMPLATES = {
  chatml: {
    start: '',
    prefix: (role) => `<|im_start|>${role}\n`,
    end: '<|im_end|>',
    separator: '\n',
    reply: '<|im_start|>assistant\n',
    needs: ['<|im_start|>', '<|im_end|>'],
  },
  llama3: {
    start: '<|begin_of_text|>',
    prefix: (role) => `<|start_header_id|>${role}<|end_header_id|>\n\n`,
    end: '<|eot_id|>',
    separator: '',
    reply: '<|start_header_id|>assistant<|end_header_id|>\n\n',
    needs: ['<|begin_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'],
  },
};

function renderChat(tok, template, messages) {
  const ids = tok.encode(template.start, true);
  for (const { role, content } of messages) {
    ids.push(...tok.encode(template.prefix(role), true), ...tok.encode(content));
    ids.push(...tok.encode(template.end, true), ...tok.encode(template.separator, true));
  }
  ids.push(...tok.encode(template.reply, true));
  return ids;
}

// ---------------------------------------------------------------------------------------------
// Sampling and generation.

/** A small seeded generator (mulberry32): uniform numbers in [0, 1). */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The next token from logits over the first `n` ids: argmax at temperature 0, else top-k, then top-p. */
function sample(logits, n, { temperature, topK, topP }, rand) {
  let best = 0;
  for (let i = 1; i < n; i++) if (logits[i] > logits[best]) best = i;
  if (temperature === 0) return best;
  let order = Array.from({ length: n }, (_, i) => i).sort((a, b) => logits[b] - logits[a]);
  if (topK > 0) order = order.slice(0, topK);
  const probs = order.map((i) => Math.exp((logits[i] - logits[best]) / temperature));
  const total = probs.reduce((a, b) => a + b, 0);
  let keep = 0; // the smallest most-likely prefix whose probability reaches topP
  for (let mass = 0; keep < probs.length && (keep === 0 || mass < topP * total); keep++) mass += probs[keep];
  let r = rand() * probs.slice(0, keep).reduce((a, b) => a + b, 0);
  for (let i = 0; i < keep; i++) if ((r -= probs[i]) <= 0) return order[i];
  return order[keep - 1];
}

/**
 * Feeds `prompt` and generates until a stop token or `maxTokens`, calling `onToken` with each.
 * The cache is reused for the part of the prompt it already holds (the earlier conversation).
 * When the window is full it slides: the last context − 1 tokens plus the new one are re-run,
 * as @kiln/transformer's generate does.
 */
function generate(model, s, prompt, { maxTokens, stops, options, rand, vocabSize, onToken }) {
  const { context } = model.cfg;
  let window = prompt.slice(-context);
  let same = 0;
  while (same < s.tokens.length && same < window.length - 1 && s.tokens[same] === window[same]) same++;
  s.pos = same;
  s.tokens.length = same;
  for (const t of window.slice(same)) forward(model, s, t);
  const out = [];
  const all = [...prompt];
  for (let step = 0; step < maxTokens; step++) {
    const next = sample(s.logits, vocabSize, options, rand);
    if (stops.has(next)) break;
    out.push(next);
    all.push(next);
    onToken(next);
    if (step === maxTokens - 1) break;
    if (s.pos === context) {
      window = all.slice(-context);
      s.pos = 0;
      s.tokens.length = 0;
      for (const t of window) forward(model, s, t);
    } else forward(model, s, next);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The command line.

const SHORT = {
  '-p': '--prompt',
  '-s': '--system',
  '-t': '--temperature',
  '-n': '--max-tokens',
  '-h': '--help',
};
const TEXT_FLAGS = ['prompt', 'system', 'tokenizer', 'encode'];
const NUMBER_FLAGS = ['temperature', 'topP', 'topK', 'maxTokens', 'seed'];

/** The flags (`--top-p` → topP) and the model directory; exits with the usage on anything else. */
function parseArgs(argv) {
  const a = { temperature: 0.8, topP: 0.95, topK: 0, maxTokens: 256, seed: Date.now() % 2 ** 31 };
  for (let i = 0; i < argv.length; i++) {
    const arg = SHORT[argv[i]] ?? argv[i];
    const key = arg.slice(2).replace(/-(.)/g, (_, c) => c.toUpperCase());
    if (!arg.startsWith('-') && a.dir === undefined) a.dir = arg;
    else if (['raw', 'ids', 'help'].includes(key) && arg.startsWith('--')) a[key] = true;
    else if (TEXT_FLAGS.includes(key) || NUMBER_FLAGS.includes(key)) {
      const value = argv[++i];
      if (value === undefined) fail(`${arg} needs a value\n${USAGE}`);
      a[key] = NUMBER_FLAGS.includes(key) ? Number(value) : value;
      if (NUMBER_FLAGS.includes(key) && !(Number.isFinite(a[key]) && a[key] >= 0))
        fail(`${arg} must be a number ≥ 0, got '${value}'`);
    } else fail(`unknown argument ${argv[i]}\n${USAGE}`);
  }
  if (a.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (a.dir === undefined) fail(`no model directory given\n${USAGE}`);
  if (!(a.topP > 0 && a.topP <= 1)) fail(`--top-p must be in (0, 1], got ${a.topP}`);
  return a;
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const tokFile =
    args.tokenizer ??
    [args.dir, path.dirname(args.dir)]
      .map((d) => path.join(d, 'tokenizer.json'))
      .find((f) => fs.existsSync(f));
  if (!tokFile || !fs.existsSync(tokFile))
    fail(`no tokenizer.json in ${args.dir} or its parent; pass --tokenizer <file>`);
  const tok = loadTokenizer(tokFile);
  if (args.encode !== undefined)
    return void process.stdout.write(`${JSON.stringify(tok.encode(args.encode, true))}\n`);
  const model = loadModel(args.dir);
  if (tok.vocabSize > model.cfg.vocab)
    fail(`the tokenizer has ${tok.vocabSize} tokens but the model only ${model.cfg.vocab}`);
  const template = args.raw
    ? null
    : ['llama3', 'chatml'].map((n) => TEMPLATES[n]).find((t) => t.needs.every((s) => tok.special.has(s)));
  if (!args.raw && !template)
    fail('the tokenizer has no ChatML or Llama 3 special tokens (a base model?): use --raw to continue text');
  const stops = new Set(
    ['<|endoftext|>', '<|end_of_text|>', template?.end]
      .map((t) => tok.special.get(t))
      .filter((id) => id !== undefined),
  );
  const state = createState(model);
  const rand = random(args.seed);
  const options = { temperature: args.temperature, topK: args.topK, topP: args.topP };

  /** Generates after `prompt`, streaming text (a character split over tokens waits for its last byte). */
  const answer = (prompt) => {
    const decoder = new TextDecoder();
    let text = '';
    const write = (piece) => {
      text += piece;
      if (!args.ids) process.stdout.write(piece);
    };
    const ids = generate(model, state, prompt, {
      ...{ maxTokens: args.maxTokens, stops, options, rand, vocabSize: tok.vocabSize },
      onToken: (id) => write(decoder.decode(tok.bytesOf[id], { stream: true })),
    });
    write(decoder.decode());
    process.stdout.write(args.ids ? `${JSON.stringify(ids)}\n` : '\n');
    return text;
  };
  const system = args.system === undefined ? [] : [{ role: 'system', content: args.system }];
  if (args.prompt !== undefined) {
    if (args.raw) answer(tok.encode(args.prompt));
    else answer(renderChat(tok, template, [...system, { role: 'user', content: args.prompt }]));
    return;
  }
  // Interactive: the conversation grows turn by turn; the cache keeps what the model has read.
  let messages = [...system];
  const rl = readline.createInterface({
    input: process.stdin,
    output: process.stdout,
    prompt: args.raw ? '> ' : 'you> ',
  });
  process.stderr.write(
    `${model.cfg.family}, ${model.cfg.layers} layers, d ${model.cfg.dim}; /reset starts over, /exit quits\n`,
  );
  rl.prompt();
  rl.on('line', (line) => {
    if (line.trim() === '/exit') return rl.close();
    if (line.trim() === '/reset') messages = [...system];
    else if (line.trim()) {
      messages.push({ role: 'user', content: line });
      const ids = args.raw
        ? tok.encode(messages.map((m) => m.content).join(''))
        : renderChat(tok, template, messages);
      if (!args.raw) process.stdout.write('bot> ');
      messages.push({ role: 'assistant', content: answer(ids) });
    }
    rl.prompt();
  });
}

main();
