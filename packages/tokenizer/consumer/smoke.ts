// Run by the release dry run (scripts/release/dry-run.mjs) against the packed tarball.
import { Tokenizer } from '@kiln/tokenizer';

const text = 'the cat sat on the mat. the cat ate the rat. '.repeat(20);
const tokenizer = await Tokenizer.train(text, {
  vocabSize: 300,
  pattern: 'gpt2',
  specialTokens: ['<|endoftext|>'],
});
const ids = tokenizer.encode('the cat sat on the rat');
if (tokenizer.decode(ids) !== 'the cat sat on the rat') throw new Error('decode(encode(x)) !== x');
const again = Tokenizer.fromHuggingFace(JSON.stringify(tokenizer.toHuggingFace()));
if (JSON.stringify(again.encode('the mat')) !== JSON.stringify(tokenizer.encode('the mat'))) {
  throw new Error('tokenizer.json round trip changed the ids');
}
console.log(`@kiln/tokenizer: ${tokenizer.vocabSize} tokens, ${ids.length} ids for 22 characters`);
