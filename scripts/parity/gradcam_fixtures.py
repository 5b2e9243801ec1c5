#!/usr/bin/python3
"""PyTorch reference for Grad-CAM (src/explain/): run by hand, never by CI.

    OPENBLAS_CORETYPE=Haswell /usr/bin/python3 scripts/parity/gradcam_fixtures.py [OUT_DIR]   # default: test/fixtures/explain

Needs Debian's python3-torch (1.13). A small twin of liverstiff-cnn-v1 (src/features/cnn.ts, the same
parameter names: blocks.<i>.conv.weight, blocks.<i>.bn.*) with channels 4-8-8, blocks 1 and 2 pooled,
32x32 inputs, in evaluation mode with non-trivial BatchNorm statistics, and a small MLP head
(Linear 16 -> 6, GELU, Linear 6 -> 5). The explained score is the sum over the batch of the logit of
output 1. For blocks 1 and 2: the activations, their gradient (torch.autograd.grad on the intermediate,
non-leaf activation) and the Grad-CAM map relu(sum_c mean_hw(grad)_c * A_c) bilinearly upsampled to 32
(align_corners=False). Writes gradcam.safetensors (float32) with seed 2026.
"""
import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from safetensors_writer import DTYPES, save_safetensors  # noqa: F401 (scripts/parity/)

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures", "explain")
os.makedirs(OUT, exist_ok=True)
torch.set_num_threads(1)



torch.manual_seed(2026)

CHANNELS = (4, 8, 8)
POOLED = (1, 2)
SIZE = 32


class ConvBlock(nn.Module):
    def __init__(self, cin, cout, kernel=3, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=(kernel - 1) // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        blocks = []
        cin = 1
        for i, c in enumerate(CHANNELS):
            blocks.append(ConvBlock(cin, c, 5, 2) if i == 0 else ConvBlock(cin, c))
            cin = c
        self.blocks = nn.ModuleList(blocks)

    def forward_maps(self, x):
        maps, pooled = [], []
        h = x
        for i, b in enumerate(self.blocks):
            if i > 0:
                h = F.max_pool2d(h, 2)
            h = b(h)
            maps.append(h)
            if i in POOLED:
                pooled.append(h.mean((2, 3)))
        return torch.cat(pooled, 1), maps


cnn = Cnn()
with torch.no_grad():
    for b in cnn.blocks:
        b.bn.weight.uniform_(0.5, 1.5)
        b.bn.bias.uniform_(-0.2, 0.2)
        b.bn.running_mean.uniform_(-0.3, 0.3)
        b.bn.running_var.uniform_(0.5, 2.0)
cnn.eval()
head = nn.ModuleDict({"fc1": nn.Linear(sum(CHANNELS[i] for i in POOLED), 6), "fc2": nn.Linear(6, 5)})
x = torch.randn(3, 1, SIZE, SIZE)

features, maps = cnn.forward_maps(x)
score = head["fc2"](F.gelu(head["fc1"](features)))[:, 1].sum()
grads = torch.autograd.grad(score, [maps[1], maps[2]])

out = {f"cnn.{k}": v.detach().clone() for k, v in cnn.state_dict().items() if not k.endswith("num_batches_tracked")}
out.update({f"head.{k}": v.detach().clone() for k, v in head.state_dict().items()})
out["x"] = x
out["score"] = score.detach().reshape(1)
for layer, g in zip((1, 2), grads):
    a = maps[layer].detach()
    weights = g.mean((2, 3), keepdim=True)
    cam = F.relu((weights * a).sum(1, keepdim=True))
    out[f"activations.{layer}"] = a
    out[f"gradient.{layer}"] = g
    out[f"cam.{layer}"] = F.interpolate(cam, size=(SIZE, SIZE), mode="bilinear", align_corners=False).squeeze(1)
save_safetensors(os.path.join(OUT, "gradcam.safetensors"), out, {"origin": "scripts/parity/gradcam_fixtures.py", "torch_version": torch.__version__, "seed": "2026"})
print("wrote", os.path.join(OUT, "gradcam.safetensors"))
