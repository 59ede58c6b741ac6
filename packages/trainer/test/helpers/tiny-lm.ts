// A very small language model for trainer tests: embedding → tanh MLP → vocabulary logits,
// with optional dropout drawn from the global RNG (so resume must restore it). Fast on the CPU.
import { Module, Parameter } from '@kiln/autograd';
import { crossEntropy, rand, randn, scope, type Tensor, zeros } from '@kiln/tensor';

export class TinyLM extends Module {
  embedding: Parameter;
  hidden: Parameter;
  hiddenBias: Parameter;
  head: Parameter;
  /** Multiplies the loss (set to NaN to inject a non-finite loss). */
  lossScale = 1;

  constructor(
    readonly vocabSize: number,
    readonly width = 16,
    readonly dropout = 0,
  ) {
    super();
    this.embedding = new Parameter(randn([vocabSize, width], { std: 0.5 }));
    this.hidden = new Parameter(randn([width, width], { std: 0.3 }));
    this.hiddenBias = new Parameter(zeros([width]));
    this.head = new Parameter(randn([width, vocabSize], { std: 0.3 }));
  }

  forward(ids: Tensor, targets: Tensor): { loss: Tensor; logits: Tensor } {
    return scope(() => {
      let h = this.embedding
        .indexSelect(0, ids.reshape([-1]))
        .matmul(this.hidden)
        .add(this.hiddenBias)
        .tanh();
      if (this.training && this.dropout > 0) {
        const keepMask = rand(h.shape).ge(this.dropout).cast('float32');
        h = h.mul(keepMask).mul(1 / (1 - this.dropout));
      }
      const logits = h.matmul(this.head);
      let loss = crossEntropy(logits, targets.reshape([-1]));
      if (this.lossScale !== 1) loss = loss.mul(this.lossScale);
      return { loss, logits: logits.reshape([...ids.shape, this.vocabSize]) };
    });
  }
}
