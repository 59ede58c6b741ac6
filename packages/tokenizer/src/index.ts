// @kiln/tokenizer: byte-level BPE for Kiln. Everything exported here runs in browsers too, except
// the functions that take a file path (`Tokenizer.load`, `save`, `fromTiktoken` given a path).

export { BYTE_TO_CHAR, byteLevelToBytes, bytesToByteLevel } from './byte-level.js';
export {
  CHATML_TEMPLATE,
  type ChatMessage,
  type ChatOptions,
  type ChatTemplate,
  LLAMA3_TEMPLATE,
  type RenderedChat,
} from './chat.js';
export { DisallowedSpecialTokenError, TokenIdError, TokenizerError, TokenizerFormatError } from './errors.js';
export type { HuggingFaceAddedToken, HuggingFaceTokenizerJson } from './huggingface.js';
export { OPENAI_SPECIAL_TOKENS } from './openai.js';
export { PATTERN_SOURCES, type PatternName, resolvePattern, type SplitPattern } from './patterns.js';
export { convertPatternToJs } from './regex-convert.js';
export type { SpecialTokenSelection } from './special-tokens.js';
export { StreamDecoder } from './stream-decoder.js';
export {
  type EncodeOptions,
  type FromTiktokenOptions,
  type SpecialTokenMap,
  type TiktokenSource,
  Tokenizer,
} from './tokenizer.js';
export type { ChunkStream, TrainingCorpus, TrainOptions, TrainProgress } from './train.js';
