// Gradient checks against central finite differences in float64, for every differentiable op exposed.
import { describe, test } from "node:test";
import type { Tensor } from "../../src/torch/index.ts";
import * as torch from "../../src/torch/index.ts";
import { gradcheck, seq } from "./helpers.ts";

const F = torch.functional;
const a23 = () => seq([2, 3], 0.37, 0.2);
const b23 = () => seq([2, 3], 0.53, 1.1);
const pos23 = () => seq([2, 3], 0.41, 0.5).abs().add(0.5);
const long = (values: number[], shape = [values.length]) => torch.tensor(values, { shape, dtype: "int64" });

type Case = [
  name: string,
  f: (...xs: Tensor[]) => Tensor,
  inputs: () => Tensor[],
  differentiable?: boolean[],
];

const elementwise: Case[] = [
  ["add broadcast alpha", (x, y) => x.add(y, 0.7), () => [a23(), seq([3], 0.9)]],
  ["add scalar", (x) => x.add(2.5), () => [a23()]],
  ["sub", (x, y) => x.sub(y, 2), () => [a23(), b23()]],
  ["rsub", (x) => x.rsub(1.5), () => [a23()]],
  ["mul broadcast", (x, y) => x.mul(y), () => [a23(), seq([2, 1], 0.8, 0.4)]],
  ["div", (x, y) => x.div(y), () => [a23(), pos23()]],
  ["div scalar", (x) => x.div(3), () => [a23()]],
  ["neg", (x) => x.neg(), () => [a23()]],
  ["pow scalar", (x) => x.pow(3), () => [a23()]],
  ["pow tensor", (x, y) => x.pow(y), () => [pos23(), b23()]],
  ["exp", (x) => x.exp(), () => [a23()]],
  ["expm1", (x) => x.expm1(), () => [a23()]],
  ["log", (x) => x.log(), () => [pos23()]],
  ["log1p", (x) => x.log1p(), () => [pos23()]],
  ["log2", (x) => x.log2(), () => [pos23()]],
  ["sqrt", (x) => x.sqrt(), () => [pos23()]],
  ["rsqrt", (x) => x.rsqrt(), () => [pos23()]],
  ["abs", (x) => x.abs(), () => [a23()]],
  ["square", (x) => x.square(), () => [a23()]],
  ["reciprocal", (x) => x.reciprocal(), () => [pos23()]],
  ["sin", (x) => x.sin(), () => [a23()]],
  ["cos", (x) => x.cos(), () => [a23()]],
  ["clamp", (x) => x.clamp(-0.3, 0.6), () => [a23()]],
  ["clampMin", (x) => x.clampMin(0.1), () => [a23()]],
  [
    "clamp tensor bounds",
    (x, lo, hi) => x.clamp(lo, hi),
    () => [a23(), seq([3], 0.2, -1), seq([3], 0.2, 1).add(0.5)],
  ],
  ["maximum", (x, y) => x.maximum(y), () => [a23(), b23()]],
  ["minimum", (x, y) => x.minimum(y), () => [a23(), b23()]],
  ["lerp", (x, y) => x.lerp(y, 0.3), () => [a23(), b23()]],
  ["maskedFill", (x) => x.maskedFill(x.gt(0.2), 0.5), () => [a23()]],
  ["where", (x, y) => torch.where(x.gt(y), x, y.mul(2)), () => [a23(), b23()]],
  ["where scalar", (x) => torch.where(x.gt(0), x, 0.25), () => [a23()]],
  ["addcmul", (x, y, z) => x.addcmul(y, z, 0.5), () => [a23(), b23(), seq([3], 0.3)]],
  ["addcdiv", (x, y, z) => x.addcdiv(y, z, 0.5), () => [a23(), b23(), pos23()]],
  ["remainder", (x) => x.mul(3).remainder(0.7), () => [a23()]],
  ["nanToNum", (x) => x.nanToNum(0), () => [a23()]],
  ["floor (zero gradient)", (x) => x.mul(3).floor().add(x), () => [a23()]],
  ["sign (zero gradient)", (x) => x.sign().add(x.mul(2)), () => [a23()]],
  ["clone", (x) => x.clone(), () => [a23()]],
  ["to copy", (x) => x.to({ dtype: "float64", copy: true }), () => [a23()]],
];

const reductions: Case[] = [
  ["sum", (x) => x.sum(), () => [a23()]],
  ["sum dims keepdim", (x) => x.sum([0, 2], true), () => [seq([2, 3, 4])]],
  ["mean", (x) => x.mean(), () => [a23()]],
  ["mean dim", (x) => x.mean(1), () => [seq([2, 3, 4])]],
  ["max", (x) => x.max(), () => [a23()]],
  ["max dim", (x) => x.max(1, true), () => [seq([2, 3, 4])]],
  ["min dim", (x) => x.min(0), () => [seq([2, 3, 4])]],
  ["maxDim values", (x) => x.maxDim(2).values, () => [seq([2, 3, 4])]],
  ["minDim values", (x) => x.minDim(1).values, () => [seq([2, 3, 4])]],
  ["std", (x) => x.std(), () => [a23()]],
  ["std dim", (x) => x.std(1, true), () => [seq([2, 3, 4])]],
  ["var biased", (x) => x.var(0, false, false), () => [seq([3, 4])]],
  ["prod", (x) => x.prod(), () => [pos23()]],
  ["prod dim", (x) => x.prod(1), () => [pos23()]],
  ["norm", (x) => x.norm(), () => [a23()]],
  ["norm p1 dim", (x) => x.norm(1, 1), () => [a23()]],
  ["logsumexp", (x) => x.logsumexp(1), () => [a23()]],
  ["cumsum", (x) => x.cumsum(1), () => [a23()]],
  ["topk values", (x) => x.topk(2, 1).values, () => [seq([3, 5])]],
  ["sort values", (x) => x.sort(1, true).values, () => [seq([3, 5])]],
  ["maskedSelect", (x) => x.maskedSelect(x.gt(0.1)), () => [seq([3, 5])]],
];

const linalg: Case[] = [
  ["matmul batched broadcast", (x, y) => x.matmul(y), () => [seq([2, 3, 4]), seq([4, 2], 0.6)]],
  ["mm", (x, y) => x.mm(y), () => [seq([3, 4]), seq([4, 2], 0.6)]],
  ["bmm", (x, y) => x.bmm(y), () => [seq([2, 3, 4]), seq([2, 4, 2], 0.6)]],
  [
    "baddbmm",
    (i, x, y) => torch.baddbmm(i, x, y, 0.5, 2),
    () => [seq([2, 3, 2], 0.2), seq([2, 3, 4]), seq([2, 4, 2], 0.6)],
  ],
  ["addmm", (i, x, y) => torch.addmm(i, x, y), () => [seq([2], 0.2), seq([3, 4]), seq([4, 2], 0.6)]],
  ["einsum", (x, y) => torch.einsum("bij,bjk->bik", [x, y]), () => [seq([2, 3, 4]), seq([2, 4, 2], 0.6)]],
  ["outer", (x, y) => torch.outer(x, y), () => [seq([3]), seq([4], 0.6)]],
];

const shapes: Case[] = [
  ["reshape", (x) => x.reshape([3, 2]), () => [a23()]],
  ["view", (x) => x.view([6]), () => [a23()]],
  ["permute", (x) => x.permute([2, 0, 1]), () => [seq([2, 3, 4])]],
  ["transpose", (x) => x.transpose(0, 2), () => [seq([2, 3, 4])]],
  ["t", (x) => x.t(), () => [a23()]],
  ["contiguous of transpose", (x) => x.t().contiguous(), () => [a23()]],
  ["cat", (x, y) => torch.cat([x, y], 1), () => [a23(), seq([2, 2])]],
  ["stack", (x, y) => torch.stack([x, y], 0), () => [a23(), b23()]],
  ["split", (x) => x.split(2, 1)[1]!, () => [seq([2, 5])]],
  ["split sizes", (x) => x.split([1, 4], 1)[1]!, () => [seq([2, 5])]],
  ["chunk", (x) => x.chunk(2, 0)[0]!, () => [seq([4, 3])]],
  ["unbind", (x) => x.unbind(1)[2]!, () => [a23()]],
  ["narrow", (x) => x.narrow(1, 1, 2), () => [a23()]],
  ["slice step", (x) => x.slice(1, 0, null, 2), () => [seq([2, 5])]],
  ["select", (x) => x.select(0, 1), () => [a23()]],
  ["indexSelect", (x) => x.indexSelect(1, long([2, 0, 2])), () => [a23()]],
  ["gather", (x) => x.gather(1, long([0, 2, 1, 1], [2, 2])), () => [a23()]],
  ["scatter", (x, s) => x.scatter(1, long([0, 2, 1, 0], [2, 2]), s), () => [a23(), seq([2, 2], 0.9)]],
  ["scatterAdd", (x, s) => x.scatterAdd(1, long([0, 0, 1, 1], [2, 2]), s), () => [a23(), seq([2, 2], 0.9)]],
  ["index", (x) => x.index([long([1, 0, 1]), long([2, 2, 0])]), () => [a23()]],
  ["squeeze", (x) => x.squeeze(1), () => [seq([2, 1, 3])]],
  ["squeeze all", (x) => x.squeeze(), () => [seq([2, 1, 3, 1])]],
  ["unsqueeze", (x) => x.unsqueeze(-1), () => [a23()]],
  ["expand", (x) => x.expand([4, 2, 3]), () => [a23()]],
  ["expandAs", (x, y) => x.expandAs(y), () => [seq([3]), a23()], [true, false]],
  ["flatten", (x) => x.flatten(1), () => [seq([2, 3, 4])]],
  ["unflatten", (x) => x.unflatten(1, [2, 2]), () => [seq([3, 4])]],
  ["roll", (x) => x.roll([1, -2], [0, 1]), () => [seq([3, 4])]],
  ["flip", (x) => x.flip([0, 1]), () => [a23()]],
  ["repeat", (x) => x.repeat([2, 1, 2]), () => [a23()]],
  ["tril", (x) => x.tril(), () => [seq([3, 3])]],
  ["triu", (x) => x.triu(1), () => [seq([3, 3])]],
  ["pad constant", (x) => F.pad(x, [1, 2, 0, 1], "constant", 0.5), () => [seq([1, 2, 3, 3])]],
  ["pad reflect", (x) => F.pad(x, [1, 2, 2, 1], "reflect"), () => [seq([1, 2, 3, 4])]],
  ["pad replicate", (x) => F.pad(x, [1, 1, 1, 1], "replicate"), () => [seq([1, 2, 3, 3])]],
  ["pad circular", (x) => F.pad(x, [1, 1, 1, 1], "circular"), () => [seq([1, 2, 3, 3])]],
];

const img = () => seq([2, 2, 5, 5], 0.37, 0.1);
const nn: Case[] = [
  ["linear", (x, w, b) => F.linear(x, w, b), () => [seq([3, 4]), seq([2, 4], 0.6), seq([2], 0.3)]],
  [
    "conv1d",
    (x, w, b) => F.conv1d(x, w, b, { padding: 1 }),
    () => [seq([2, 2, 6]), seq([3, 2, 3], 0.6), seq([3])],
  ],
  [
    "conv2d stride pad dilation",
    (x, w, b) => F.conv2d(x, w, b, { stride: 2, padding: 2, dilation: 2 }),
    () => [img(), seq([3, 2, 3, 3], 0.6), seq([3])],
  ],
  [
    "conv2d groups",
    (x, w) => F.conv2d(x, w, null, { groups: 2 }),
    () => [seq([1, 4, 4, 4]), seq([4, 2, 2, 2], 0.6)],
  ],
  [
    "conv3d",
    (x, w, b) => F.conv3d(x, w, b, { padding: 1 }),
    () => [seq([1, 2, 3, 3, 3]), seq([2, 2, 2, 2, 2], 0.6), seq([2])],
  ],
  [
    "convTranspose2d",
    (x, w, b) => F.convTranspose2d(x, w, b, { stride: 2, padding: 1, outputPadding: 1 }),
    () => [seq([1, 2, 3, 3]), seq([2, 3, 3, 3], 0.6), seq([3])],
  ],
  ["maxPool2d", (x) => F.maxPool2d(x, 2), () => [img()]],
  ["maxPool2d stride pad", (x) => F.maxPool2d(x, 3, { stride: 2, padding: 1 }), () => [img()]],
  ["maxPool3d", (x) => F.maxPool3d(x, 2), () => [seq([1, 1, 4, 4, 4])]],
  ["avgPool2d", (x) => F.avgPool2d(x, 3, { stride: 2, padding: 1 }), () => [img()]],
  ["avgPool3d", (x) => F.avgPool3d(x, 2), () => [seq([1, 1, 4, 4, 4])]],
  ["adaptiveAvgPool2d", (x) => F.adaptiveAvgPool2d(x, [2, 3]), () => [img()]],
  ["adaptiveAvgPool3d", (x) => F.adaptiveAvgPool3d(x, 2), () => [seq([1, 1, 3, 4, 5])]],
  ["adaptiveMaxPool2d", (x) => F.adaptiveMaxPool2d(x, 2), () => [img()]],
  [
    "batchNorm training",
    (x, w, b) => F.batchNorm(x, null, null, { weight: w, bias: b, training: true }),
    () => [img(), seq([2], 0.5, 1), seq([2])],
  ],
  [
    "batchNorm eval",
    (x, w, b, m, v) => F.batchNorm(x, m, v, { weight: w, bias: b }),
    () => [img(), seq([2], 0.5, 1), seq([2]), seq([2], 0.3), pos23().flatten().narrow(0, 0, 2)],
    [true, true, true, false, false],
  ],
  ["layerNorm", (x, w, b) => F.layerNorm(x, [4], w, b), () => [seq([2, 3, 4]), seq([4], 0.5, 1), seq([4])]],
  ["groupNorm", (x, w, b) => F.groupNorm(x, 2, w, b), () => [seq([2, 4, 3]), seq([4], 0.5, 1), seq([4])]],
  [
    "dropout (seeded)",
    (x) => {
      torch.manualSeed(7);
      return F.dropout(x, 0.4, true);
    },
    () => [seq([4, 5])],
  ],
  ["relu", (x) => F.relu(x), () => [a23()]],
  ["leakyRelu", (x) => F.leakyRelu(x, 0.2), () => [a23()]],
  ["gelu", (x) => F.gelu(x), () => [a23()]],
  ["gelu tanh", (x) => F.gelu(x, "tanh"), () => [a23()]],
  ["silu", (x) => F.silu(x), () => [a23()]],
  ["sigmoid", (x) => F.sigmoid(x), () => [a23()]],
  ["tanh", (x) => F.tanh(x), () => [a23()]],
  ["softplus", (x) => F.softplus(x, 2), () => [a23()]],
  ["elu", (x) => F.elu(x), () => [a23()]],
  ["hardtanh", (x) => F.hardtanh(x, -0.5, 0.5), () => [a23()]],
  ["softmax", (x) => F.softmax(x, 1), () => [a23()]],
  ["logSoftmax", (x) => F.logSoftmax(x, 0), () => [a23()]],
  ["interpolate bilinear", (x) => F.interpolate(x, { size: [7, 4], mode: "bilinear" }), () => [img()]],
  [
    "interpolate bilinear alignCorners",
    (x) => F.interpolate(x, { scaleFactor: 1.5, mode: "bilinear", alignCorners: true }),
    () => [img()],
  ],
  ["interpolate nearest", (x) => F.interpolate(x, { scaleFactor: 2 }), () => [img()]],
  [
    "interpolate trilinear",
    (x) => F.interpolate(x, { size: [3, 4, 2], mode: "trilinear" }),
    () => [seq([1, 1, 2, 3, 3])],
  ],
  ["embedding", (w) => F.embedding(long([0, 2, 2, 1]), w), () => [seq([3, 4])]],
  ["cosineSimilarity", (x, y) => F.cosineSimilarity(x, y), () => [a23(), b23()]],
  [
    "scaledDotProductAttention",
    (q, k, v) => F.scaledDotProductAttention(q, k, v),
    () => [seq([2, 3, 4]), seq([2, 5, 4], 0.6), seq([2, 5, 2], 0.9)],
  ],
  [
    "scaledDotProductAttention bool mask",
    (q, k, v) =>
      F.scaledDotProductAttention(q, k, v, { mask: torch.tensor([[true, true, false, true, false]]) }),
    () => [seq([2, 3, 4]), seq([2, 5, 4], 0.6), seq([2, 5, 2], 0.9)],
  ],
];

const target01 = () =>
  torch.tensor(
    [
      [1, 0, 1],
      [0, 1, 1],
    ],
    { dtype: "float64" },
  );
const losses: Case[] = [
  ["bceWithLogits", (x) => F.binaryCrossEntropyWithLogits(x, target01()), () => [a23()]],
  [
    "bceWithLogits weight posWeight",
    (x) =>
      F.binaryCrossEntropyWithLogits(x, target01(), {
        weight: seq([2, 1], 0.5, 1).abs(),
        posWeight: seq([3], 0.7, 0.5).abs(),
      }),
    () => [a23()],
  ],
  [
    "bceWithLogits sum",
    (x) => F.binaryCrossEntropyWithLogits(x, target01(), { reduction: "sum" }),
    () => [a23()],
  ],
  ["bce", (x) => F.binaryCrossEntropy(x.sigmoid(), target01()), () => [a23()]],
  ["crossEntropy", (x) => F.crossEntropy(x, long([2, 0])), () => [a23()]],
  [
    "crossEntropy smoothing weight",
    (x) => F.crossEntropy(x, long([2, 1]), { labelSmoothing: 0.1, weight: seq([3], 0.4, 1).abs() }),
    () => [a23()],
  ],
  ["crossEntropy probabilities", (x) => F.crossEntropy(x, F.softmax(b23(), 1)), () => [a23()]],
  ["nllLoss", (x) => F.nllLoss(F.logSoftmax(x, 1), long([1, 0])), () => [a23()]],
  ["mseLoss", (x, y) => F.mseLoss(x, y), () => [a23(), b23()]],
  ["l1Loss", (x, y) => F.l1Loss(x, y, "sum"), () => [a23(), b23()]],
  ["smoothL1Loss", (x, y) => F.smoothL1Loss(x, y, "mean", 0.5), () => [a23().mul(3), b23()]],
  ["huberLoss", (x, y) => F.huberLoss(x, y, "mean", 0.5), () => [a23().mul(3), b23()]],
];

for (const [group, cases] of [
  ["element-wise", elementwise],
  ["reductions", reductions],
  ["linear algebra", linalg],
  ["shape", shapes],
  ["nn functional", nn],
  ["losses", losses],
] as const) {
  describe(`gradcheck: ${group}`, () => {
    for (const [name, f, inputs, differentiable] of cases) {
      test(name, () => {
        torch.tidy(() => gradcheck(f, inputs(), { name, ...(differentiable ? { differentiable } : {}) }));
      });
    }
  });
}

test("gradcheck itself fails on a wrong gradient", () => {
  // A custom "op" whose forward is x^2 but whose graph differentiates x^3/3 * 3 = ... wrong on purpose:
  // detach one factor so autograd sees d/dx (x * c) = c instead of 2x.
  let threw = false;
  try {
    torch.tidy(() => gradcheck((x) => x.mul(x.detach()), [a23()], { name: "broken" }));
  } catch {
    threw = true;
  }
  if (!threw) throw new Error("gradcheck accepted a wrong gradient");
});
