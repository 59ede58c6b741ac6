/**
 * Conversation examples for supervised fine-tuning, and the checks every example passes before
 * it is tokenized: the two shapes people's data comes in (OpenAI / Hugging Face `messages`, and
 * `prompt` + `completion`), known roles, non-empty text and at least one assistant turn. Parsing
 * (`parseChatJsonl`) and tokenizing (`tokenizeChats`) share these checks, so examples built in
 * code fail the same way as lines of a file.
 */
import type { ChatMessage } from '@kiln/tokenizer';

/** A conversation: messages in order; the assistant's turns are what the model is trained to produce. */
export interface ChatMessagesExample {
  readonly messages: readonly ChatMessage[];
}

/** A prompt and the completion the model is trained to produce for it (only the completion is trained). */
export interface PromptCompletionExample {
  readonly prompt: string;
  readonly completion: string;
}

/** One fine-tuning example: a conversation, or a prompt–completion pair. */
export type ChatExample = ChatMessagesExample | PromptCompletionExample;

/** The roles accepted by default. */
export const DEFAULT_CHAT_ROLES: readonly string[] = ['system', 'user', 'assistant'];

/** Options of {@link checkChatExample}. */
export interface CheckChatExampleOptions {
  /** Roles a message may have (default `system`, `user`, `assistant`); add roles your template knows, e.g. `tool`. */
  roles?: readonly string[];
  /** The role that is trained (default `assistant`); an example needs at least one message of it. */
  assistantRole?: string;
}

/** True when `example` is a prompt–completion pair (rather than a conversation). */
export function isPromptCompletion(example: ChatExample): example is PromptCompletionExample {
  return !('messages' in example);
}

function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * The message content as a string: a string as it is, or OpenAI's list of content parts
 * (`[{ type: 'text', text }]`) joined; anything else is reported through `fail`.
 */
function contentText(content: unknown, where: string): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part, i) => {
        const p = part as { type?: unknown; text?: unknown };
        if (typeof p !== 'object' || p === null || p.type !== 'text' || typeof p.text !== 'string') {
          throw new ChatExampleError(
            `${where} content part ${i + 1} is not { "type": "text", "text": "..." } (only text parts can be trained on)`,
          );
        }
        return p.text;
      })
      .join('');
  }
  if (content === undefined) throw new ChatExampleError(`${where} has no "content"`);
  throw new ChatExampleError(`${where} "content" must be a string, got ${kind(content)}`);
}

/** What is wrong with an example (no file or line: the caller adds where it came from). */
export class ChatExampleError extends Error {
  override name = 'ChatExampleError';
}

/**
 * Checks `value` is a {@link ChatExample} and returns it normalised: only `messages` (each
 * `{ role, content }` with content parts joined) or only `prompt` and `completion`; other keys
 * of the object (ids, metadata columns) are dropped. Throws a {@link ChatExampleError} saying
 * what is wrong: not an object, missing or mixed fields, unknown role, empty content, no
 * assistant turn.
 */
export function checkChatExample(value: unknown, options: CheckChatExampleOptions = {}): ChatExample {
  const { roles = DEFAULT_CHAT_ROLES, assistantRole = 'assistant' } = options;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ChatExampleError(
      `expected an object { "messages": [...] } or { "prompt": "...", "completion": "..." }, got ${kind(value)}`,
    );
  }
  const v = value as Record<string, unknown>;
  const hasMessages = 'messages' in v;
  const hasPrompt = 'prompt' in v || 'completion' in v;
  if (hasMessages && hasPrompt) {
    throw new ChatExampleError(
      'has both "messages" and "prompt"/"completion"; an example is one or the other',
    );
  }
  if (hasPrompt) {
    for (const field of ['prompt', 'completion'] as const) {
      if (!(field in v))
        throw new ChatExampleError(`has "${field === 'prompt' ? 'completion' : 'prompt'}" but no "${field}"`);
      if (typeof v[field] !== 'string') {
        throw new ChatExampleError(`"${field}" must be a string, got ${kind(v[field])}`);
      }
    }
    const prompt = v.prompt as string;
    const completion = v.completion as string;
    if (prompt.trim() === '') throw new ChatExampleError('"prompt" is empty');
    if (completion.trim() === '')
      throw new ChatExampleError('"completion" is empty (there is nothing to train on)');
    return { prompt, completion };
  }
  if (!hasMessages) {
    const keys = Object.keys(v);
    throw new ChatExampleError(
      `has neither "messages" nor "prompt" + "completion" (keys: ${keys.length ? keys.join(', ') : 'none'})`,
    );
  }
  const messages = v.messages;
  if (!Array.isArray(messages))
    throw new ChatExampleError(`"messages" must be an array, got ${kind(messages)}`);
  if (messages.length === 0) throw new ChatExampleError('"messages" is empty');
  const out: ChatMessage[] = messages.map((m: unknown, i) => {
    const where = `message ${i + 1}`;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) {
      throw new ChatExampleError(`${where} must be an object { "role", "content" }, got ${kind(m)}`);
    }
    const { role, content } = m as { role?: unknown; content?: unknown };
    if (role === undefined) throw new ChatExampleError(`${where} has no "role"`);
    if (typeof role !== 'string' || !roles.includes(role)) {
      throw new ChatExampleError(
        `${where} has unknown role ${JSON.stringify(role)}; roles are ${roles.join(', ')} (pass roles to allow others)`,
      );
    }
    const text = contentText(content, `${where} (${role})`);
    if (text.trim() === '') throw new ChatExampleError(`${where} (${role}) has empty content`);
    return { role, content: text };
  });
  if (!out.some((m) => m.role === assistantRole)) {
    throw new ChatExampleError(`has no ${assistantRole} turn, so there is nothing to train on`);
  }
  return { messages: out };
}
