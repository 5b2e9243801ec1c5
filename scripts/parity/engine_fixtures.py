#!/usr/bin/python3
"""PyTorch reference fixtures for the liverstiff engine (src/nn/), run by hand, never by CI.

    OPENBLAS_CORETYPE=Haswell /usr/bin/python3 scripts/parity/engine_fixtures.py [OUT_DIR]   # default: test/fixtures/nn

Needs Debian's python3-torch (1.13) on OpenBLAS (libopenblas0-openmp installed, the libblas.so.3 alternative
in auto mode): the engine links OpenBLAS, and the replays expect the same BLAS. Writes, with fixed seeds:
  layers.safetensors        default initialisations + forward outputs of single layers (init/forward parity)
  conv_*.safetensors        small conv net on 2x128x128 inputs: initial state, batches, step-0 grads, final state
  head_*.safetensors        attention-pooling head over [batch, 22, 1024] features: same
  ts_module.pt + ts_*.safetensors   a small TorchScript module (saved before training): same
  engine_fixtures.json      loss trajectories, hyper-parameters, optimizer step cases, schedule values
Safetensors files are written by a minimal writer below (the safetensors package is not in Debian).
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from safetensors_writer import DTYPES, save_safetensors  # noqa: F401 (scripts/parity/)

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures", "nn")
os.makedirs(OUT, exist_ok=True)
torch.set_num_threads(1)  # reproducible reductions



def f32_list(t):
    return [float(v) for v in t.detach().float().reshape(-1).tolist()]


def state_dict_of(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


# ---------------------------------------------------------------------------------------------------------
# Models. Names of submodules are mirrored by the TypeScript test models.

class SmallConvNet(nn.Module):
    def __init__(self, in_channels=2, widths=(8, 16, 16), outputs=5):
        super().__init__()
        layers = []
        c = in_channels
        for i, w in enumerate(widths):
            layers += [nn.Conv2d(c, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU()]
            layers += [nn.MaxPool2d(2)] if i < len(widths) - 1 else [nn.AdaptiveAvgPool2d(1)]
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c, outputs)

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))


class AttentionPoolHead(nn.Module):
    """Attention-MIL pooling over slices: norm, projection, tanh attention scores, softmax over slices."""

    def __init__(self, in_features=1024, hidden=32, attn_hidden=16, outputs=5):
        super().__init__()
        self.norm = nn.LayerNorm(in_features)
        self.proj = nn.Linear(in_features, hidden)
        self.attn = nn.Sequential(nn.Linear(hidden, attn_hidden), nn.Tanh(), nn.Linear(attn_hidden, 1))
        self.classifier = nn.Linear(hidden, outputs)

    def forward(self, x):  # x: [batch, slices, features]
        h = torch.relu(self.proj(self.norm(x)))
        scores = self.attn(h).squeeze(-1)  # [batch, slices]
        weights = torch.softmax(scores, dim=1)
        pooled = torch.bmm(weights.unsqueeze(1), h).squeeze(1)  # [batch, hidden]
        return self.classifier(pooled)


class TinyScripted(nn.Module):
    def __init__(self, in_features=16, hidden=32, classes=3):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x):
        return self.fc2(torch.relu(self.norm(self.fc1(x))))


def train_adam(model, batches, loss_fn, steps, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    """Returns (losses, step-0 grads). batches is a list of (x, y) cycled in order."""
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=False)
    losses = []
    grads0 = {}
    model.train()
    for step in range(steps):
        x, y = batches[step % len(batches)]
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        if step == 0:
            grads0 = {f"grad.{n}": p.grad.detach().clone() for n, p in model.named_parameters()}
        opt.step()
        losses.append(float(loss.item()))
    return losses, grads0


manifest = {
    "origin": "scripts/parity/engine_fixtures.py",
    "torch_version": torch.__version__,
    "num_threads": 1,
}

# ---------------------------------------------------------------------------------------------------------
# (a) Conv net.
CONV = {"seed": 1234, "batch": 4, "batches": 2, "steps": 20, "lr": 1e-3, "widths": [8, 16, 16], "outputs": 5}
torch.manual_seed(CONV["seed"])
conv = SmallConvNet(widths=tuple(CONV["widths"]), outputs=CONV["outputs"])
conv_initial = state_dict_of(conv)
gen = torch.Generator().manual_seed(CONV["seed"] + 1)
conv_batches = []
batch_tensors = {}
for b in range(CONV["batches"]):
    # stored as float16 to keep the fixture small; both sides train on the exactly decoded float32 values
    x16 = torch.randn(CONV["batch"], 2, 128, 128, generator=gen).half()
    y = (torch.rand(CONV["batch"], CONV["outputs"], generator=gen) > 0.5).float()
    conv_batches.append((x16.float(), y))
    batch_tensors[f"x.{b}"] = x16
    batch_tensors[f"y.{b}"] = y
with torch.no_grad():
    conv.eval()
    eval_logits0 = conv(conv_batches[0][0])
losses, grads0 = train_adam(conv, conv_batches, F.binary_cross_entropy_with_logits, CONV["steps"], CONV["lr"])
with torch.no_grad():
    conv.eval()
    eval_logits_final = conv(conv_batches[0][0])
save_safetensors(os.path.join(OUT, "conv_initial.safetensors"), conv_initial)
save_safetensors(os.path.join(OUT, "conv_batches.safetensors"), batch_tensors)
save_safetensors(os.path.join(OUT, "conv_final.safetensors"),
                 {**state_dict_of(conv), **grads0, "eval_logits.initial": eval_logits0, "eval_logits.final": eval_logits_final})
manifest["conv"] = {**CONV, "loss": "binary_cross_entropy_with_logits", "optimizer": "Adam", "losses": losses}

# ---------------------------------------------------------------------------------------------------------
# (b) Attention-pooling head.
HEAD = {"seed": 4321, "batch": 4, "batches": 2, "slices": 22, "features": 1024, "hidden": 32, "attn_hidden": 16,
        "outputs": 5, "steps": 20, "lr": 1e-3, "weight_decay": 1e-4}
torch.manual_seed(HEAD["seed"])
head = AttentionPoolHead(HEAD["features"], HEAD["hidden"], HEAD["attn_hidden"], HEAD["outputs"])
head_initial = state_dict_of(head)
gen = torch.Generator().manual_seed(HEAD["seed"] + 1)
head_batches = []
batch_tensors = {}
for b in range(HEAD["batches"]):
    x16 = torch.randn(HEAD["batch"], HEAD["slices"], HEAD["features"], generator=gen).half()
    y = (torch.rand(HEAD["batch"], HEAD["outputs"], generator=gen) > 0.5).float()
    head_batches.append((x16.float(), y))
    batch_tensors[f"x.{b}"] = x16
    batch_tensors[f"y.{b}"] = y
losses, grads0 = train_adam(head, head_batches, F.binary_cross_entropy_with_logits, HEAD["steps"], HEAD["lr"],
                            weight_decay=HEAD["weight_decay"])
save_safetensors(os.path.join(OUT, "head_initial.safetensors"), head_initial)
save_safetensors(os.path.join(OUT, "head_batches.safetensors"), batch_tensors)
save_safetensors(os.path.join(OUT, "head_final.safetensors"), {**state_dict_of(head), **grads0})
manifest["head"] = {**HEAD, "loss": "binary_cross_entropy_with_logits", "optimizer": "Adam", "losses": losses}

# ---------------------------------------------------------------------------------------------------------
# (c) TorchScript module, saved before training; trained with cross-entropy on int64 targets.
TS = {"seed": 99, "batch": 8, "batches": 2, "in_features": 16, "hidden": 32, "classes": 3, "steps": 20, "lr": 1e-2}
torch.manual_seed(TS["seed"])
scripted = torch.jit.script(TinyScripted(TS["in_features"], TS["hidden"], TS["classes"]))
scripted.save(os.path.join(OUT, "ts_module.pt"))
ts_initial = state_dict_of(scripted)
gen = torch.Generator().manual_seed(TS["seed"] + 1)
ts_batches = []
batch_tensors = {}
for b in range(TS["batches"]):
    x = torch.randn(TS["batch"], TS["in_features"], generator=gen)
    y = torch.randint(0, TS["classes"], (TS["batch"],), generator=gen)
    ts_batches.append((x, y))
    batch_tensors[f"x.{b}"] = x
    batch_tensors[f"y.{b}"] = y
losses, grads0 = train_adam(scripted, ts_batches, F.cross_entropy, TS["steps"], TS["lr"])
save_safetensors(os.path.join(OUT, "ts_initial.safetensors"), ts_initial)
save_safetensors(os.path.join(OUT, "ts_batches.safetensors"), batch_tensors)
save_safetensors(os.path.join(OUT, "ts_final.safetensors"), {**state_dict_of(scripted), **grads0})
manifest["torchscript"] = {**TS, "loss": "cross_entropy", "optimizer": "Adam", "losses": losses}

# ---------------------------------------------------------------------------------------------------------
# Single layers: default initialisation drawn after torch.manual_seed(LAYER_SEED) in this exact order, and
# forward outputs on fixed inputs.
LAYER_SEED = 7
torch.manual_seed(LAYER_SEED)
linear = nn.Linear(7, 5)
conv2d = nn.Conv2d(3, 4, 3, stride=2, padding=1)
bn = nn.BatchNorm2d(4)
ln = nn.LayerNorm(6)
gn = nn.GroupNorm(2, 4)
emb = nn.Embedding(10, 4)
mha = nn.MultiheadAttention(8, 2, batch_first=True)
layers = {}
for prefix, m in [("linear", linear), ("conv2d", conv2d), ("bn", bn), ("ln", ln), ("gn", gn), ("emb", emb), ("mha", mha)]:
    for k, v in m.state_dict().items():
        layers[f"{prefix}.{k}"] = v.detach().clone()
gen = torch.Generator().manual_seed(LAYER_SEED + 1)
xl = torch.randn(3, 7, generator=gen)
xc = torch.randn(2, 3, 9, 9, generator=gen)
xn = torch.randn(2, 4, 5, 5, generator=gen)
xln = torch.randn(3, 2, 6, generator=gen)
ids = torch.tensor([[1, 4, 9], [0, 0, 3]], dtype=torch.int64)
xq = torch.randn(2, 5, 8, generator=gen)
xk = torch.randn(2, 6, 8, generator=gen)
pad_mask = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
with torch.no_grad():
    layers["in.linear"] = xl
    layers["out.linear"] = linear(xl)
    layers["in.conv2d"] = xc
    layers["out.conv2d"] = conv2d(xc)
    layers["in.bn"] = xn
    bn.train()
    layers["out.bn.train"] = bn(xn)
    layers["bn.after_train.running_mean"] = bn.running_mean.clone()
    layers["bn.after_train.running_var"] = bn.running_var.clone()
    bn.eval()
    layers["out.bn.eval"] = bn(xn)
    layers["in.ln"] = xln
    layers["out.ln"] = ln(xln)
    layers["out.gn"] = gn(xn)
    layers["in.emb"] = ids
    layers["out.emb"] = emb(ids)
    layers["in.mha.q"] = xq
    layers["in.mha.k"] = xk
    layers["in.mha.key_padding_mask"] = pad_mask
    mha.eval()
    out, w = mha(xq, xk, xk, key_padding_mask=pad_mask, need_weights=True)
    layers["out.mha.self"] = mha(xq, xq, xq, need_weights=False)[0]
    layers["out.mha.cross"] = out
    layers["out.mha.cross_weights"] = w
# Appended later (drawn after everything above, so earlier values are unchanged): 3-d layers and
# stochastic depth (timm's drop_path: per-sample Bernoulli keep mask, scaled by 1/keep).
torch.manual_seed(LAYER_SEED + 2)
conv3d = nn.Conv3d(2, 3, (3, 3, 1), stride=(2, 1, 1), padding=(1, 1, 0))
bn3d = nn.BatchNorm3d(3)
for prefix, m in [("conv3d", conv3d), ("bn3d", bn3d)]:
    for k, v in m.state_dict().items():
        layers[f"{prefix}.{k}"] = v.detach().clone()
x3 = torch.randn(2, 2, 5, 4, 3, generator=gen)
with torch.no_grad():
    layers["in.conv3d"] = x3
    y3 = conv3d(x3)
    layers["out.conv3d"] = y3
    bn3d.train()
    layers["out.bn3d.train"] = bn3d(y3)
xd = torch.randn(6, 3, 4, generator=gen)
layers["in.drop_path"] = xd
torch.manual_seed(LAYER_SEED + 3)
keep_prob = 1 - 0.5
mask = xd.new_empty((xd.shape[0],) + (1,) * (xd.ndim - 1)).bernoulli_(keep_prob).div_(keep_prob)
layers["out.drop_path"] = xd * mask
# conversions used by the safetensors tests
half_src = torch.tensor([0.0, -0.0, 1.0, -2.5, 65504.0, 1e-5, 6.1e-5, 3.14159, 1e6, -1e-8, 0.1, 2049.0])
layers["conv.f32"] = half_src
layers["conv.f16"] = half_src.half()
layers["conv.bf16"] = half_src.bfloat16()
save_safetensors(os.path.join(OUT, "layers.safetensors"), layers, {"seed": str(LAYER_SEED), "origin": manifest["origin"]})
manifest["layers"] = {"seed": LAYER_SEED, "order": ["linear", "conv2d", "bn", "ln", "gn", "emb", "mha"],
                      "seed_3d": LAYER_SEED + 2, "order_3d": ["conv3d", "bn3d"], "seed_drop_path": LAYER_SEED + 3,
                      "drop_path": 0.5,
                      "conv2d": {"in": 3, "out": 4, "kernel": 3, "stride": 2, "padding": 1},
                      "gn": {"groups": 2, "channels": 4}, "mha": {"embed_dim": 8, "num_heads": 2}}

# ---------------------------------------------------------------------------------------------------------
# Optimizer step cases: two parameters in two groups, five gradient sets; parameter values after each step.
OPT_CASES = [
    ("SGD", torch.optim.SGD, {"lr": 0.1}, {"lr": 0.05, "weight_decay": 0.01}),
    ("SGD", torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "dampening": 0.1}, {"weight_decay": 0.02}),
    ("SGD", torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}, {"lr": 0.3}),
    ("Adam", torch.optim.Adam, {"lr": 1e-2}, {"lr": 3e-2, "weight_decay": 0.1}),
    ("Adam", torch.optim.Adam, {"lr": 1e-2, "betas": (0.8, 0.99), "eps": 1e-6, "amsgrad": True}, {}),
    ("AdamW", torch.optim.AdamW, {"lr": 1e-2}, {"weight_decay": 0.5}),
    ("AdamW", torch.optim.AdamW, {"lr": 1e-2, "amsgrad": True, "weight_decay": 0.1}, {"lr": 0.05}),
    ("Adamax", torch.optim.Adamax, {"lr": 2e-2}, {"weight_decay": 0.1}),
    ("RMSprop", torch.optim.RMSprop, {"lr": 1e-2}, {"weight_decay": 0.1}),
    ("RMSprop", torch.optim.RMSprop, {"lr": 1e-2, "momentum": 0.9, "centered": True}, {"alpha": 0.9}),
]
cases = []
gen = torch.Generator().manual_seed(2024)
for name, cls, defaults, group2 in OPT_CASES:
    p1 = torch.randn(3, 2, generator=gen).requires_grad_()
    p2 = torch.randn(4, generator=gen).requires_grad_()
    init = [f32_list(p1), f32_list(p2)]
    kwargs = {**defaults, "foreach": False}
    opt = cls([{"params": [p1]}, {"params": [p2], **group2}], **kwargs)
    grads, after = [], []
    for _ in range(5):
        g1 = torch.randn(3, 2, generator=gen)
        g2 = torch.randn(4, generator=gen)
        p1.grad = g1.clone()
        p2.grad = g2.clone()
        opt.step()
        grads.append([f32_list(g1), f32_list(g2)])
        after.append([f32_list(p1), f32_list(p2)])
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items() if k not in ("params", "foreach", "maximize", "capturable", "differentiable")}
              for g in opt.param_groups]
    cases.append({"optimizer": name, "defaults": {k: (list(v) if isinstance(v, tuple) else v) for k, v in defaults.items()},
                  "group2": group2, "resolved_groups": groups, "shapes": [[3, 2], [4]],
                  "initial": init, "grads": grads, "after": after})
manifest["optimizer_cases"] = cases

# ---------------------------------------------------------------------------------------------------------
# Schedules: learning rate used at each of 12 epochs (scheduler.step() after each epoch).
def lrs_of(make, epochs=12):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1)
    sched = make(opt)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


manifest["schedules"] = {
    "base_lr": 0.1,
    "step": {"step_size": 3, "gamma": 0.5,
             "lrs": lrs_of(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5))},
    "cosine": {"t_max": 10, "eta_min": 0.001,
               "lrs": lrs_of(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.001))},
    # linear warm-up from 0 then cosine to min_lr_ratio * base, as LambdaLR (transformers' convention)
    "cosine_warmup": {"warmup_steps": 3, "total_steps": 12, "min_lr_ratio": 0.1,
                      "lrs": lrs_of(lambda o: torch.optim.lr_scheduler.LambdaLR(
                          o, lambda s: s / 3 if s < 3 else 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (s - 3) / (12 - 3)))))},
}

with open(os.path.join(OUT, "engine_fixtures.json"), "w") as f:
    json.dump(manifest, f, indent=1)
    f.write("\n")
print("wrote", OUT, "torch", torch.__version__)
for k in ("conv", "head", "torchscript"):
    print(k, "loss", manifest[k]["losses"][0], "->", manifest[k]["losses"][-1])
