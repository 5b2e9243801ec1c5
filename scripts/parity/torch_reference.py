#!/usr/bin/python3
"""Reference values for test/torch/ from PyTorch itself (run by hand, never in CI):

    /usr/bin/python3 scripts/parity/torch_reference.py

Writes test/fixtures/torch/reference.json (inputs and outputs of functional ops and optimizer steps, as flat
lists) and test/fixtures/torch/affine.pt (a tiny TorchScript module). Inputs are fixed arrays computed
from a closed-form formula, not from a random generator, so the TypeScript test rebuilds them exactly.
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures", "torch")


def seq(shape, scale=0.37, offset=0.0):
    """Deterministic values: sin of the element index (the TS test computes the same)."""
    n = math.prod(shape)
    return torch.tensor([math.sin(i * scale + offset) for i in range(n)], dtype=torch.float64).reshape(shape)


def flat(t):
    return [float(v) for v in t.detach().double().reshape(-1).tolist()]


cases = {}


def case(name, out, **meta):
    cases[name] = {"shape": list(out.shape), "values": flat(out), **meta}


x4 = seq([2, 3, 6, 6])
w4 = seq([4, 3, 3, 3], 0.11, 1.0)
b4 = seq([4], 0.5, 2.0)
case("conv2d_pad1_stride2", F.conv2d(x4, w4, b4, stride=2, padding=1))
case("conv2d_groups", F.conv2d(seq([1, 4, 5, 5]), seq([4, 2, 3, 3], 0.2), None, groups=2))
case("conv3d", F.conv3d(seq([1, 2, 4, 4, 4]), seq([3, 2, 2, 2, 2], 0.3), seq([3]), padding=1))
case("conv_transpose2d", F.conv_transpose2d(x4, seq([3, 2, 3, 3], 0.13), seq([2]), stride=2, padding=1, output_padding=1))
case("max_pool2d", F.max_pool2d(x4, 2))
case("max_pool2d_3s2p1", F.max_pool2d(x4, 3, stride=2, padding=1))
case("avg_pool2d", F.avg_pool2d(x4, 3, stride=2, padding=1))
case("adaptive_avg_pool2d", F.adaptive_avg_pool2d(x4, [4, 3]))
case("interpolate_bilinear", F.interpolate(x4, size=[9, 7], mode="bilinear", align_corners=False))
case("interpolate_bilinear_ac", F.interpolate(x4, scale_factor=1.5, mode="bilinear", align_corners=True))
case("interpolate_nearest", F.interpolate(x4, size=[9, 4], mode="nearest"))
case("group_norm", F.group_norm(seq([2, 6, 3, 3]), 3, seq([6], 0.4), seq([6], 0.9)))
case("layer_norm", F.layer_norm(seq([2, 3, 5]), [5], seq([5], 0.3), seq([5], 0.7)))
rm, rv = seq([3], 0.2).abs(), seq([3], 0.3).abs() + 0.5
case("batch_norm_eval", F.batch_norm(x4, rm, rv, seq([3], 0.4), seq([3], 0.8), training=False))
rm2, rv2 = rm.clone(), rv.clone()
out = F.batch_norm(x4, rm2, rv2, seq([3], 0.4), seq([3], 0.8), training=True, momentum=0.1)
case("batch_norm_train", out, running_mean=flat(rm2), running_var=flat(rv2))
case("gelu", F.gelu(seq([10], 0.9)))
case("gelu_tanh", F.gelu(seq([10], 0.9), approximate="tanh"))
case("silu", F.silu(seq([10], 0.9)))
case("leaky_relu", F.leaky_relu(seq([10], 0.9), 0.2))
case("softmax", F.softmax(seq([3, 4]), dim=1))
case("log_softmax", F.log_softmax(seq([3, 4]), dim=0))
logits = seq([4, 3], 0.7)
target_bin = torch.tensor([[1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 0]], dtype=torch.float64)
case("bce_logits", F.binary_cross_entropy_with_logits(logits, target_bin).reshape(1))
case(
    "bce_logits_weighted",
    F.binary_cross_entropy_with_logits(
        logits, target_bin, weight=torch.tensor([[0.5], [1.0], [2.0], [1.5]], dtype=torch.float64),
        pos_weight=torch.tensor([2.0, 0.5, 3.0], dtype=torch.float64)).reshape(1),
)
case("cross_entropy", F.cross_entropy(logits, torch.tensor([2, 0, 1, 2])).reshape(1))
case("cross_entropy_smooth", F.cross_entropy(logits, torch.tensor([2, 0, 1, 2]), label_smoothing=0.1).reshape(1))
case("mse", F.mse_loss(logits, target_bin).reshape(1))
case("smooth_l1", F.smooth_l1_loss(logits * 3, target_bin, beta=0.5).reshape(1))
case("pad_reflect", F.pad(seq([1, 2, 3, 4]), [1, 2, 2, 1], mode="reflect"))
case("pad_constant", F.pad(seq([1, 2, 3, 4]), [1, 0, 0, 2], value=-1.5))
case("std", seq([3, 5]).std(dim=1))
case("var_biased", seq([3, 5]).var(dim=0, unbiased=False))

# One optimizer step sequence per fused kernel: 3 steps on fixed gradients.
optim_cases = {}
for name, make in {
    "adam": lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1),
    "adam_amsgrad": lambda p: torch.optim.Adam(p, lr=0.01, amsgrad=True),
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.05),
    "adamax": lambda p: torch.optim.Adamax(p, lr=0.02, weight_decay=0.01),
    "sgd_nesterov": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "sgd_dampening": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.8, dampening=0.3),
    "rmsprop_centered_momentum": lambda p: torch.optim.RMSprop(p, lr=0.01, centered=True, momentum=0.5, weight_decay=0.02),
    "rmsprop": lambda p: torch.optim.RMSprop(p, lr=0.01),
}.items():
    param = torch.nn.Parameter(seq([2, 3], 0.5).clone())
    opt = make([param])
    for step in range(3):
        param.grad = seq([2, 3], 0.3, step + 1.0)
        opt.step()
    optim_cases[name] = flat(param)

os.makedirs(OUT, exist_ok=True)
with open(os.path.join(OUT, "reference.json"), "w") as f:
    json.dump({"torch_version": torch.__version__, "functional": cases, "optim": optim_cases}, f)


class Affine(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)
        self.register_buffer("offset", torch.tensor([0.5, -0.5]))
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]]))
            self.linear.bias.copy_(torch.tensor([0.1, 0.2]))

    def forward(self, x):
        y = self.linear(x) + self.offset
        if self.training:
            return y * 2
        return y


torch.jit.script(Affine()).save(os.path.join(OUT, "affine.pt"))
print("wrote", OUT)
