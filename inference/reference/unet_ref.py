"""Independent PyTorch implementation of cmrseg's U-Net, for tests and benchmarks.

Loads a checkpoint written by cmrseg (safetensors layout, parsed with numpy
alone) and runs the same network functionally with torch.nn.functional.

  unet_ref.py forward CONFIG.json WEIGHTS.safetensors INPUT.f32 N,C,H,W OUT.f32
  unet_ref.py bench   CONFIG.json WEIGHTS.safetensors N,C,H,W MODE ITERS [THREADS]
      MODE is forward or train; prints one line per iteration: seconds.
"""
import json
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + hlen])
    data = raw[8 + hlen :]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        lo, hi = e["data_offsets"]
        dt = {"F32": np.float32, "F16": np.float16}[e["dtype"]]
        a = np.frombuffer(data[lo:hi], dtype=dt).astype(np.float32).reshape(e["shape"])
        out[name] = torch.from_numpy(a.copy())
    return out


def features(cfg, s):
    return min(cfg["base_features"] << s, cfg["max_features"])


def block(p, x, prefix, stride):
    x = F.conv2d(x, p[prefix + ".conv.weight"], p[prefix + ".conv.bias"], stride=stride, padding=1)
    x = F.instance_norm(x, weight=p[prefix + ".norm.weight"], bias=p[prefix + ".norm.bias"], eps=1e-5)
    return F.leaky_relu(x, 0.01)


def forward(cfg, p, x, deep_supervision=False):
    skips = []
    h = x
    for s in range(cfg["stages"]):
        for b in range(cfg["convs_per_stage"]):
            h = block(p, h, f"encoder.{s}.{b}", 2 if (b == 0 and s > 0) else 1)
        skips.append(h)
    outs = []
    for s in range(cfg["stages"] - 2, -1, -1):
        h = F.conv_transpose2d(h, p[f"decoder.{s}.up.weight"], p[f"decoder.{s}.up.bias"], stride=2)
        h = torch.cat([h, skips[s]], 1)
        for b in range(cfg["convs_per_stage"]):
            h = block(p, h, f"decoder.{s}.{b}", 1)
        if s == 0 or deep_supervision:
            outs.append(F.conv2d(h, p[f"decoder.{s}.head.weight"], p[f"decoder.{s}.head.bias"]))
    return outs[::-1]


def dice_ce(logits, target):
    prob = torch.softmax(logits, 1)
    oh = F.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2).float()
    inter = (prob * oh).sum((0, 2, 3))
    denom = prob.sum((0, 2, 3)) + oh.sum((0, 2, 3))
    dice = (2 * inter + 1e-5) / (denom + 1e-5)
    return F.cross_entropy(logits, target) + (1 - dice[1:].mean())


def main():
    mode = sys.argv[1]
    cfg = json.load(open(sys.argv[2]))
    p = load_safetensors(sys.argv[3])
    if mode == "forward":
        shape = [int(v) for v in sys.argv[5].split(",")]
        x = torch.from_numpy(np.fromfile(sys.argv[4], dtype=np.float32).reshape(shape))
        torch.set_num_threads(2)
        with torch.no_grad():
            y = forward(cfg, p, x)[0]
        y.numpy().astype(np.float32).tofile(sys.argv[6])
        return
    if mode == "bench":
        shape = [int(v) for v in sys.argv[4].split(",")]
        what, iters = sys.argv[5], int(sys.argv[6])
        torch.set_num_threads(int(sys.argv[7]) if len(sys.argv) > 7 else 2)
        torch.manual_seed(0)
        x = torch.randn(shape)
        if what == "forward":
            with torch.no_grad():
                for _ in range(iters):
                    t0 = time.perf_counter()
                    forward(cfg, p, x)
                    print(f"{time.perf_counter() - t0:.6f}", flush=True)
        else:
            for v in p.values():
                v.requires_grad_(True)
            opt = torch.optim.SGD(list(p.values()), lr=0.01, momentum=0.99, weight_decay=3e-5, nesterov=True)
            target = torch.randint(0, cfg["classes"], (shape[0], shape[2], shape[3]))
            for _ in range(iters):
                t0 = time.perf_counter()
                opt.zero_grad()
                loss = dice_ce(forward(cfg, p, x)[0], target)
                loss.backward()
                opt.step()
                print(f"{time.perf_counter() - t0:.6f}", flush=True)
        return
    raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
