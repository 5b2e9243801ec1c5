#!/usr/bin/python3
"""Python peer of bench/backbones.ts: torchvision 0.14 feature extraction (classifier replaced by Identity),
eval mode under torch.no_grad(), timed on request. One JSON command per stdin line, one JSON reply per line:
  {"cmd": "init", "threads": N}                      -> {"ok": true, "torch": ..., "torchvision": ...}
  {"cmd": "run", "model": "swin_b", "batch": 8, "iters": K}  -> {"ms": [...], "cpu_ms": [...], "out_sum": x}
"""
import json
import sys
import time

import torch
import torchvision
from torchvision.models import resnet50, swin_b

models = {}


def get(name):
    if name not in models:
        torch.manual_seed(0)
        m = swin_b() if name == "swin_b" else resnet50()
        if name == "swin_b":
            m.head = torch.nn.Identity()
        else:
            m.fc = torch.nn.Identity()
        models[name] = m.eval()
    return models[name]


def main():
    for line in sys.stdin:
        req = json.loads(line)
        if req["cmd"] == "init":
            torch.set_num_threads(req["threads"])
            reply = {"ok": True, "torch": torch.__version__, "torchvision": torchvision.__version__,
                     "threads": torch.get_num_threads()}
        elif req["cmd"] == "run":
            model = get(req["model"])
            torch.manual_seed(1)
            x = torch.randn(req["batch"], 3, 224, 224)
            ms, cpu = [], []
            out_sum = 0.0
            with torch.no_grad():
                for _ in range(req["iters"]):
                    t0, c0 = time.perf_counter(), time.process_time()
                    y = model(x)
                    ms.append((time.perf_counter() - t0) * 1000)
                    cpu.append((time.process_time() - c0) * 1000)
                    out_sum = float(y.sum())
            reply = {"ms": ms, "cpu_ms": cpu, "out_sum": out_sum, "shape": list(y.shape)}
        else:
            reply = {"error": "unknown command"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


main()
