#!/usr/bin/python3
"""PyTorch peer of bench/engine.ts (run by it, never by CI): the same two models, seeds, batches and Adam
steps, timed the same way. Driven over stdin/stdout by bench/engine.ts (protocol at the bottom).
"""
import json
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F



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
    def __init__(self, in_features=1024, hidden=32, attn_hidden=16, outputs=5):
        super().__init__()
        self.norm = nn.LayerNorm(in_features)
        self.proj = nn.Linear(in_features, hidden)
        self.attn = nn.Sequential(nn.Linear(hidden, attn_hidden), nn.Tanh(), nn.Linear(attn_hidden, 1))
        self.classifier = nn.Linear(hidden, outputs)

    def forward(self, x):
        h = torch.relu(self.proj(self.norm(x)))
        scores = self.attn(h).squeeze(-1)
        weights = torch.softmax(scores, dim=1)
        pooled = torch.bmm(weights.unsqueeze(1), h).squeeze(1)
        return self.classifier(pooled)


class Trainer:
    def __init__(self, spec):
        torch.manual_seed(spec["seed"])
        if spec["model"] == "cnn":
            self.model = SmallConvNet(2, tuple(spec["widths"]), spec["outputs"])
        else:
            self.model = AttentionPoolHead(spec["features"], spec["hidden"], spec["attn_hidden"], spec["outputs"])
        torch.manual_seed(spec["seed"] + 1)
        self.batches = []
        for _ in range(spec["batches"]):
            x = torch.randn(spec["input_shape"])
            y = (torch.rand([spec["input_shape"][0], spec["outputs"]]) > 0.5).float()
            self.batches.append((x, y))
        self.opt = torch.optim.Adam(self.model.parameters(), lr=spec["lr"])
        self.model.train()
        self.step = 0

    def run(self, steps):
        losses = []
        start = time.perf_counter()
        cpu_start = time.process_time()
        for _ in range(steps):
            x, y = self.batches[self.step % len(self.batches)]
            self.step += 1
            self.opt.zero_grad()
            loss = F.binary_cross_entropy_with_logits(self.model(x), y)
            loss.backward()
            self.opt.step()
            losses.append(loss.item())
        cpu_ms = (time.process_time() - cpu_start) * 1000 / steps
        return (time.perf_counter() - start) * 1000 / steps, cpu_ms, losses


# Protocol: one JSON command per stdin line, one JSON answer per stdout line, so that the TypeScript side
# can interleave short chunks of its own steps with ours (fair timing on a shared machine).
trainers = {}
for line in sys.stdin:
    cmd = json.loads(line)
    if "setup" in cmd:
        torch.set_num_threads(cmd["threads"])
        trainers = {spec["model"]: Trainer(spec) for spec in cmd["setup"]}
        answer = {"threads": torch.get_num_threads()}
    elif "run" in cmd:
        ms, cpu_ms, losses = trainers[cmd["run"]].run(cmd["steps"])
        answer = {"ms_per_step": ms, "cpu_ms_per_step": cpu_ms, "losses": losses}
    elif "overhead" in cmd:
        a = torch.ones(16)
        start = time.perf_counter()
        for _ in range(cmd["overhead"]):
            a.add(a).mul(2)
        answer = {"us_per_op": (time.perf_counter() - start) * 1e6 / (2 * cmd["overhead"])}
    else:
        answer = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    print(json.dumps(answer), flush=True)
