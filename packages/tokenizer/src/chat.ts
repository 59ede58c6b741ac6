// Chat templates: how a conversation is laid out as one token sequence, and which of its tokens
// the model is trained to produce. Each message is `prefix + content + end`; the assistant's
// content and end-of-turn marker are masked in (1), everything else out (0), so the fine-tuning
// loss teaches the model to answer and to stop, not to predict the user's words.
//
// The template's scaffolding is encoded with its special tokens allowed; message content is
// encoded as ordinary text, so special-token text typed by a user stays plain text and cannot
// forge a turn. Segments are encoded one by one, so no token straddles the scaffolding and the
// content (the ids can therefore differ from encoding the rendered string in one go when content
// starts or ends with whitespace).
import { TokenizerError } from './errors.js';

/** One message of a conversation. */
export interface ChatMessage {
  /** Who speaks: `'system'`, `'user'`, `'assistant'` or another role your template knows. */
  role: string;
  /** The message text. */
  content: string;
}

/** A chat layout. Strings may contain the template's special tokens. */
export interface ChatTemplate {
  /** Special tokens the template needs; rendering checks that the tokenizer has them. */
  readonly specialTokens: readonly string[];
  /** Text at the very start of the conversation (e.g. a begin-of-text token). Default: none. */
  readonly start?: string;
  /** Text before a message's content (e.g. `<|im_start|>user\n`). */
  messagePrefix(message: ChatMessage): string;
  /** End-of-turn text after a message's content (e.g. `<|im_end|>`). Trained on for assistant turns. */
  messageEnd(message: ChatMessage): string;
  /** Text after the end-of-turn marker, not trained on (e.g. the newline between ChatML turns). */
  readonly separator?: string;
  /** Text that opens the assistant's turn when asking the model for a reply. */
  readonly generationPrompt: string;
  /** Roles whose content and end-of-turn are masked in. Default: `['assistant']`. */
  readonly trainedRoles?: readonly string[];
}

/** ChatML, as used by OpenAI chat models and many open models: `<|im_start|>role\ncontent<|im_end|>\n`. */
export const CHATML_TEMPLATE: ChatTemplate = {
  specialTokens: ['<|im_start|>', '<|im_end|>'],
  messagePrefix: (message) => `<|im_start|>${message.role}\n`,
  messageEnd: () => '<|im_end|>',
  separator: '\n',
  generationPrompt: '<|im_start|>assistant\n',
};

/** The Llama 3 layout: `<|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>`. */
export const LLAMA3_TEMPLATE: ChatTemplate = {
  specialTokens: ['<|begin_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'],
  start: '<|begin_of_text|>',
  messagePrefix: (message) => `<|start_header_id|>${message.role}<|end_header_id|>\n\n`,
  messageEnd: () => '<|eot_id|>',
  generationPrompt: '<|start_header_id|>assistant<|end_header_id|>\n\n',
};

/** Options of `renderChat`. */
export interface ChatOptions {
  /** `'chatml'` (default), `'llama3'` or a custom {@link ChatTemplate}. */
  template?: 'chatml' | 'llama3' | ChatTemplate;
  /** Append the opening of an assistant turn, to ask the model for a reply. Default false. */
  addGenerationPrompt?: boolean;
}

/** A rendered conversation. */
export interface RenderedChat {
  /** Token ids of the whole conversation. */
  ids: number[];
  /** One entry per id: 1 for tokens the assistant produces (train on these), else 0. */
  assistantMask: Uint8Array;
  /** The rendered text (for display and debugging). */
  text: string;
}

/** What chat rendering needs from a tokenizer. */
export interface ChatEncoder {
  encodeOrdinary(text: string): number[];
  encodeTemplate(text: string): number[];
  hasSpecialToken(text: string): boolean;
}

function resolveTemplate(template: ChatOptions['template']): ChatTemplate {
  if (template === undefined || template === 'chatml') return CHATML_TEMPLATE;
  if (template === 'llama3') return LLAMA3_TEMPLATE;
  if (typeof template === 'string')
    throw new TokenizerError(`Unknown chat template ${JSON.stringify(template)}.`);
  return template;
}

/** Renders and encodes a conversation (see the file comment for the masking rule). */
export function renderChat(
  encoder: ChatEncoder,
  messages: readonly ChatMessage[],
  options: ChatOptions,
): RenderedChat {
  const template = resolveTemplate(options.template);
  const missing = template.specialTokens.filter((t) => !encoder.hasSpecialToken(t));
  if (missing.length > 0) {
    throw new TokenizerError(
      `The chat template needs the special tokens ${missing.map((t) => JSON.stringify(t)).join(', ')}, ` +
        'which this tokenizer does not have. Add them as specialTokens when training or loading it.',
    );
  }
  const trained = new Set(template.trainedRoles ?? ['assistant']);
  const ids: number[] = [];
  const mask: number[] = [];
  let text = '';
  const add = (segment: string, tokens: number[], masked: boolean) => {
    text += segment;
    for (const id of tokens) {
      ids.push(id);
      mask.push(masked ? 1 : 0);
    }
  };
  const scaffold = (segment: string | undefined, masked = false) => {
    if (segment) add(segment, encoder.encodeTemplate(segment), masked);
  };
  scaffold(template.start);
  for (const message of messages) {
    if (typeof message?.role !== 'string' || typeof message.content !== 'string') {
      throw new TokenizerError('Each chat message needs a string role and a string content.');
    }
    const isTrained = trained.has(message.role);
    scaffold(template.messagePrefix(message));
    add(message.content, encoder.encodeOrdinary(message.content), isTrained);
    scaffold(template.messageEnd(message), isTrained);
    scaffold(template.separator);
  }
  if (options.addGenerationPrompt) scaffold(template.generationPrompt);
  return { ids, assistantMask: Uint8Array.from(mask), text };
}
