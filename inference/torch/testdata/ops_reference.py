"""PyTorch reference for the Go runtime's op tests.

Reads cases.json written by ops_test.go: for each case, its inputs (raw
little-endian float32 or int64 files), the op name and parameters, and the
weights R of the scalar loss sum(out * R). Writes the forward output and the
gradient of every input that requires one, as raw float32 files.
"""
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(2)


def dice_ce(logits, target):
    # The Dice + CE loss composition the trainer uses (nnU-Net style soft
    # Dice over the batch, foreground classes, smooth 1e-5).
    p = torch.softmax(logits, 1)
    oh = F.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2).float()
    inter = (p * oh).sum((0, 2, 3))
    denom = p.sum((0, 2, 3)) + oh.sum((0, 2, 3))
    dice = (2 * inter + 1e-5) / (denom + 1e-5)
    return F.cross_entropy(logits, target) + (1 - dice[1:].mean())


OPS = {
    "conv2d_s1": lambda x, w, b, p: F.conv2d(x, w, b, stride=1, padding=1),
    "conv2d_s2": lambda x, w, b, p: F.conv2d(x, w, b, stride=2, padding=1),
    "conv_transpose2d": lambda x, w, b, p: F.conv_transpose2d(x, w, b, stride=2),
    "instance_norm": lambda x, w, b, p: F.instance_norm(x, weight=w, bias=b, eps=1e-5),
    "leaky_relu": lambda x, p: F.leaky_relu(x, 0.01),
    "cat": lambda a, b, p: torch.cat([a, b], 1),
    "softmax": lambda x, p: torch.softmax(x, 1),
    "log_softmax": lambda x, p: torch.log_softmax(x, 1),
    "cross_entropy": lambda x, t, p: F.cross_entropy(x, t),
    "exp": lambda x, p: torch.exp(x),
    "log": lambda x, p: torch.log(x),
    "add": lambda a, b, p: a + b,
    "sub": lambda a, b, p: a - b,
    "mul": lambda a, b, p: a * b,
    "div": lambda a, b, p: a / b,
    "mul_scalar": lambda x, p: x * 2.5,
    "add_scalar": lambda x, p: x + 1e-5,
    "sum_dims": lambda x, p: x.sum((0, 2, 3)),
    "mean_dims": lambda x, p: x.mean((2, 3), keepdim=True),
    "mean": lambda x, p: x.mean(),
    "sum": lambda x, p: x.sum(),
    "flip": lambda x, p: torch.flip(x, (3,)),
    "pad": lambda x, p: F.pad(x, (1, 2, 3, 0)),
    "crop": lambda x, p: F.pad(x, (-1, -2, -1, -1)),
    "resize_bilinear": lambda x, p: F.interpolate(x, size=(13, 9), mode="bilinear", align_corners=False),
    "resize_nearest": lambda x, p: F.interpolate(x, size=(13, 9), mode="nearest"),
    "dropout_eval": lambda x, p: F.dropout2d(x, 0.5, training=False),
    "one_hot": lambda t, p: F.one_hot(t, 4).permute(0, 3, 1, 2).float(),
    "argmax": lambda x, p: torch.argmax(x, 1).float(),
    "permute": lambda x, p: x.permute(0, 2, 3, 1),
    "reshape": lambda x, p: x.reshape(2, -1),
    "slice": lambda x, p: x[:, 1:3],
    "dice_ce": lambda x, t, p: dice_ce(x, t),
}


def main(spec_path):
    with open(spec_path) as f:
        cases = json.load(f)
    for c in cases:
        ins = []
        for i in c["inputs"]:
            dt = np.float32 if i["dtype"] == "f32" else np.int64
            a = np.fromfile(i["path"], dtype=dt).reshape(i["shape"])
            t = torch.from_numpy(a.copy())
            if i["grad"]:
                t.requires_grad_(True)
            ins.append(t)
        out = OPS[c["op"]](*ins, c.get("params", {}))
        out.detach().numpy().astype(np.float32).tofile(c["out"])
        if c.get("r"):
            r = torch.from_numpy(np.fromfile(c["r"], dtype=np.float32).reshape(out.shape))
            (out * r).sum().backward()
            for i, t in zip(c["inputs"], ins):
                if i["grad"]:
                    t.grad.numpy().astype(np.float32).tofile(i["grad_out"])


if __name__ == "__main__":
    main(sys.argv[1])
