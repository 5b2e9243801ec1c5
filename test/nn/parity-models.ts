// The TypeScript twins of the models in scripts/parity/engine_fixtures.py (same submodule names, same
// construction order, so the same seed gives the same initial weights). Used by the parity tests and the
// engine bench.
import {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  Conv2d,
  LayerNorm,
  Linear,
  MaxPool2d,
  Module,
  ReLU,
  Sequential,
  Tanh,
} from "../../src/nn/index.ts";
import { functional as F, type Tensor } from "../../src/torch/index.ts";

/** Conv/BN/ReLU blocks (max-pooled, the last one globally averaged) and a linear head. */
export class SmallConvNet extends Module {
  readonly features: Sequential;
  readonly head: Linear;

  constructor(inChannels = 2, widths: readonly number[] = [8, 16, 16], outputs = 5) {
    super();
    const layers: Module[] = [];
    let c = inChannels;
    widths.forEach((w, i) => {
      layers.push(new Conv2d(c, w, 3, { padding: 1 }), new BatchNorm2d(w), new ReLU());
      layers.push(i < widths.length - 1 ? new MaxPool2d(2) : new AdaptiveAvgPool2d(1));
      c = w;
    });
    this.features = this.registerModule("features", new Sequential(...layers));
    this.head = this.registerModule("head", new Linear(c, outputs));
  }

  forward(x: Tensor): Tensor {
    return this.head.forward(this.features.forward(x).flatten(1));
  }
}

/** Attention-MIL pooling over slices [batch, slices, features] -> logits [batch, outputs]. */
export class AttentionPoolHead extends Module {
  readonly norm: LayerNorm;
  readonly proj: Linear;
  readonly attn: Sequential;
  readonly classifier: Linear;

  constructor(inFeatures = 1024, hidden = 32, attnHidden = 16, outputs = 5) {
    super();
    this.norm = this.registerModule("norm", new LayerNorm(inFeatures));
    this.proj = this.registerModule("proj", new Linear(inFeatures, hidden));
    this.attn = this.registerModule(
      "attn",
      new Sequential(new Linear(hidden, attnHidden), new Tanh(), new Linear(attnHidden, 1)),
    );
    this.classifier = this.registerModule("classifier", new Linear(hidden, outputs));
  }

  forward(x: Tensor): Tensor {
    const h = F.relu(this.proj.forward(this.norm.forward(x)));
    const scores = this.attn.forward(h).squeeze(-1);
    const weights = F.softmax(scores, 1);
    const pooled = weights.unsqueeze(1).bmm(h).squeeze(1);
    return this.classifier.forward(pooled);
  }
}
