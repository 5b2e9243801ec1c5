#!/usr/bin/python3
"""torchvision reference fixtures for liverstiff's backbones (src/nn/models/), run by hand, never by CI.

    /usr/bin/python3 scripts/parity/backbones_fixtures.py [fixtures [OUT_DIR]]   # default: test/fixtures/backbones
    /usr/bin/python3 scripts/parity/backbones_fixtures.py full OUT_DIR             # swin_t, swin_b, resnet18, resnet50
    /usr/bin/python3 scripts/parity/backbones_fixtures.py convert IN.pth OUT.safetensors

Needs Debian's python3-torch 1.13 and python3-torchvision 0.14 (no timm, no safetensors package).

Weights are random. Where the TypeScript side can regenerate them exactly, they are SEEDED, not stored:
after torch.manual_seed(seed), every floating tensor of the torchvision state dict, in state-dict order,
is drawn as torch.randn(shape).mul(m).add(a) (or torch.rand for running variances), with (m, a) listed in
the JSON; libtorch's CPU generator gives the TypeScript engine the same values bit for bit.

fixtures mode (committed, replayed in CI by test/backbones/parity.test.ts):
  swin_mini.safetensors      a reduced-width torchvision Swin (embed 12, depths 2-2-2-2, heads 1-2-4-8,
                             window 7, 224 input) with random weights (rounded to float16 values),
                             STORED with torchvision's names (relative_position_index included), F32
  swin_mini_legacy.safetensors  the same tensors under timm < 0.9 names (downsample at the end of stages,
                             head.weight, attn_mask buffers), as Microsoft's original checkpoints name them, F16
  swin_mini.pt               torch.jit.trace of that model's features (pooled, 96 values per image)
  resnet18 (seeded)          torchvision resnet18, full width, weights regenerated from the seed
  backbones_fixtures.json    inputs' seeds, recipes of the seeded weights, expected pooled features and
                             per-stage channel means of the maps, the Python versions
full mode: the same for torchvision swin_t, swin_b, resnet18 and resnet50 (all seeded), plus a traced
resnet18 (resnet18.pt); read by the env-gated test LIVERSTIFF_FULL_PARITY=OUT_DIR npm test -- backbones.
"""
import json
import os
import struct
import sys

import torch
import torchvision
from torchvision.models import resnet18, resnet50, swin_b, swin_t
from torchvision.models.swin_transformer import SwinTransformer

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))

DTYPES = {torch.float32: ("F32", 4), torch.float16: ("F16", 2), torch.int64: ("I64", 8), torch.bfloat16: ("BF16", 2),
          torch.float64: ("F64", 8), torch.int32: ("I32", 4), torch.uint8: ("U8", 1), torch.bool: ("BOOL", 1)}


def save_safetensors(path, tensors, metadata=None):
    """A minimal safetensors writer: tensors sorted by itemsize then name, header padded to 8 bytes."""
    items = sorted(tensors.items(), key=lambda kv: (-DTYPES[kv[1].dtype][1], kv[0]))
    header, blobs, offset = {}, [], 0
    for name, t in items:
        t = t.detach().contiguous().cpu()
        if t.dtype == torch.bfloat16:
            data = t.view(torch.int16).numpy().tobytes()
        else:
            data = t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype][0], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def recipe_for(name, t):
    """(draw, mul, add) for one floating tensor of a state dict."""
    if name.endswith("running_var"):
        return ("rand", 0.5, 0.75)
    if name.endswith("running_mean"):
        return ("randn", 0.1, 0.0)
    if name.endswith("relative_position_bias_table"):
        return ("randn", 0.5, 0.0)
    if t.dim() == 1 and name.endswith(".weight"):  # LayerNorm / BatchNorm scale
        return ("randn", 0.1, 1.0)
    if t.dim() == 1:  # biases
        return ("randn", 0.02, 0.0)
    fan_in = 1
    for d in t.shape[1:]:
        fan_in *= d
    return ("randn", fan_in ** -0.5, 0.0)


def seed_weights(model, seed):
    """Draws every floating tensor of the state dict in order; returns the recipe list for the JSON."""
    torch.manual_seed(seed)
    recipes = []
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            draw, mul, add = recipe_for(name, t)
            v = (torch.rand(t.shape) if draw == "rand" else torch.randn(t.shape)).mul(mul).add(add)
            t.copy_(v)
            recipes.append({"name": name, "shape": list(t.shape), "draw": draw, "mul": mul, "add": add})
    return recipes


def features_and_maps(model, x, kind):
    """Pooled features and each stage's map (NCHW) of a torchvision model, as our TypeScript models return."""
    with torch.no_grad():
        if kind == "swin":
            maps = []
            y = x
            for i, layer in enumerate(model.features):
                y = layer(y)
                if i % 2 == 1:
                    maps.append(y.permute(0, 3, 1, 2))
            pooled = model.norm(y).mean(dim=(1, 2))
            return pooled, maps
        y = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        maps = []
        for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
            y = layer(y)
            maps.append(y)
        return torch.flatten(model.avgpool(y), 1), maps


def expected(model, x, kind):
    pooled, maps = features_and_maps(model, x, kind)
    return {
        "pooled": pooled.flatten().tolist(),
        "pooled_shape": list(pooled.shape),
        "map_shapes": [list(m.shape) for m in maps],
        "map_means": [m.mean(dim=(2, 3)).flatten().tolist() for m in maps],
    }


def seeded_input(seed, batch):
    torch.manual_seed(seed)
    return torch.randn(batch, 3, 224, 224)


def mini_swin():
    return SwinTransformer(patch_size=[4, 4], embed_dim=12, depths=[2, 2, 2, 2], num_heads=[1, 2, 4, 8],
                           window_size=[7, 7], stochastic_depth_prob=0.2, num_classes=10)


def legacy_names(sd, depths):
    """torchvision names -> timm < 0.9 names (Microsoft's original Swin checkpoints), with attn_mask buffers."""
    out = {}
    for k, v in sd.items():
        parts = k.split(".")
        if k.startswith("features.0.0."):
            out["patch_embed.proj." + parts[-1]] = v
        elif k.startswith("features.0.2."):
            out["patch_embed.norm." + parts[-1]] = v
        elif k.startswith("features."):
            idx = int(parts[1])
            if idx % 2 == 1:
                stage, block, rest = (idx - 1) // 2, parts[2], ".".join(parts[3:])
                rest = rest.replace("mlp.0.", "mlp.fc1.").replace("mlp.3.", "mlp.fc2.")
                out[f"layers.{stage}.blocks.{block}.{rest}"] = v
            else:
                out[f"layers.{idx // 2 - 1}.downsample.{'.'.join(parts[2:])}"] = v
        else:
            out[k] = v  # norm.*, head.weight, head.bias
    # Microsoft's checkpoints also carry each shifted block's attention mask (values are not used here).
    for s, d in enumerate(depths):
        for b in range(1, d, 2):
            if s < len(depths) - 1:
                out[f"layers.{s}.blocks.{b}.attn_mask"] = torch.zeros(1)
    return out


def make_fixtures(out):
    os.makedirs(out, exist_ok=True)
    manifest = {"torch": torch.__version__, "torchvision": torchvision.__version__, "models": {}}

    # Reduced-width Swin, weights stored.
    torch.manual_seed(7)
    swin = mini_swin().eval()
    seed_weights(swin, 11)
    with torch.no_grad():  # values representable in float16, so the F16 copy below holds the same weights
        for t in swin.state_dict().values():
            if t.is_floating_point():
                t.copy_(t.half().float())
    sd = swin.state_dict()
    save_safetensors(os.path.join(out, "swin_mini.safetensors"), dict(sd), {"format": "pt"})
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in legacy_names(sd, [2, 2, 2, 2]).items()}
    save_safetensors(os.path.join(out, "swin_mini_legacy.safetensors"), half, {"format": "pt"})
    x = seeded_input(101, 2)
    entry = {"kind": "swin", "config": {"embedDim": 12, "depths": [2, 2, 2, 2], "numHeads": [1, 2, 4, 8]},
             "input_seed": 101, "batch": 2, "file": "swin_mini.safetensors", **expected(swin, x, "swin")}
    with torch.no_grad():
        entry["logits"] = swin(x).flatten().tolist()

    class Pooled(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m.norm(self.m.features(x)).mean(dim=(1, 2))

    traced = torch.jit.trace(Pooled(swin).eval(), x)
    traced.save(os.path.join(out, "swin_mini.pt"))
    manifest["models"]["swin_mini"] = entry

    # Full-width ResNet-18, weights seeded.
    r18 = resnet18().eval()
    recipes = seed_weights(r18, 23)
    x = seeded_input(202, 2)
    manifest["models"]["resnet18"] = {"kind": "resnet", "variant": "resnet18", "weights_seed": 23, "recipes": recipes,
                                      "input_seed": 202, "batch": 2, **expected(r18, x, "resnet")}
    with open(os.path.join(out, "backbones_fixtures.json"), "w") as f:
        json.dump(manifest, f)
    print("wrote", out)


def make_full(out):
    os.makedirs(out, exist_ok=True)
    manifest = {"torch": torch.__version__, "torchvision": torchvision.__version__, "models": {}}
    for i, (name, ctor, kind) in enumerate([("swin_t", swin_t, "swin"), ("swin_b", swin_b, "swin"),
                                            ("resnet18", resnet18, "resnet"), ("resnet50", resnet50, "resnet")]):
        model = ctor().eval()
        recipes = seed_weights(model, 1000 + i)
        x = seeded_input(2000 + i, 2)
        manifest["models"][name] = {"kind": kind, "variant": name, "weights_seed": 1000 + i, "recipes": recipes,
                                    "input_seed": 2000 + i, "batch": 2, **expected(model, x, kind)}
        if name == "resnet18":
            traced = torch.jit.trace(model, x)
            traced.save(os.path.join(out, "resnet18.pt"))
            with torch.no_grad():
                manifest["models"][name]["logits"] = model(x).flatten().tolist()
        print(name, "done", flush=True)
    with open(os.path.join(out, "backbones_full.json"), "w") as f:
        json.dump(manifest, f)
    print("wrote", out)


def convert(src, dst):
    """A torchvision/timm .pth state dict -> safetensors (weights_only-style load of a plain state dict)."""
    sd = torch.load(src, map_location="cpu")
    sd = sd.get("model", sd.get("state_dict", sd)) if isinstance(sd, dict) else sd
    save_safetensors(dst, {k: v.contiguous() for k, v in sd.items() if torch.is_tensor(v)}, {"format": "pt"})
    print("wrote", dst)


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "fixtures"
    here = os.path.dirname(os.path.abspath(__file__))
    if mode == "fixtures":
        make_fixtures(sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "..", "..", "test", "fixtures", "backbones"))
    elif mode == "full":
        make_full(sys.argv[2])
    elif mode == "convert":
        convert(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
