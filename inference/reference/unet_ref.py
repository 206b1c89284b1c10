"""Independent PyTorch implementation of cmrseg's U-Net, for tests and benchmarks.

Loads a checkpoint written by cmrseg (safetensors layout, parsed with numpy
alone) and runs the same network functionally with torch.nn.functional.

  unet_ref.py forward CONFIG.json WEIGHTS.safetensors INPUT.f32 N,C,H,W OUT.f32
  unet_ref.py bench   CONFIG.json WEIGHTS.safetensors N,C,H,W MODE ITERS [THREADS [profile]]
      MODE is forward or train; prints one line per iteration: seconds.
      With "profile", the iterations after the first run under torch's
      profiler and then one line per op kind follows:
      "op NAME SECONDS_PER_ITER CALLS_PER_ITER" (see op_profile).
  unet_ref.py predict       SPEC.json
      The ensemble on slices cmrseg already preprocessed (z-scored, resampled,
      padded): every checkpoint, optional mirroring and sliding window,
      temperature, softmax, mean over checkpoints, crop. Writes the mean
      probabilities (C, Z, h, w) as float32 to spec["out"].
  unet_ref.py predict-bench SPEC.json
      The whole prediction of volumes (z-score, bilinear resampling to the
      target spacing, padding, ensemble, resampling back, mean, entropy, mutual
      information, argmax), timed; prints one line per iteration:
      "iter TOTAL PREPARE NETWORK COMBINE" in seconds.
"""
import contextlib
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


def softmax_probs(cfg, p, x, tta, temperature):
    """One checkpoint's softmax on x (B, 1, H, W), mirrored copies averaged."""
    b = x.shape[0]
    inp = torch.cat([x, x.flip(3), x.flip(2), x.flip((2, 3))]) if tta else x
    logits = forward(cfg, p, inp)[0]
    if temperature and temperature != 1:
        logits = logits / temperature
    pr = torch.softmax(logits, 1)
    if tta:
        pr = (pr[:b] + pr[b : 2 * b].flip(3) + pr[2 * b : 3 * b].flip(2) + pr[3 * b :].flip((2, 3))) / 4
    return pr


def window_steps(size, tile):
    if size <= tile:
        return [0]
    n = int(np.ceil((size - tile) / (0.5 * tile))) + 1
    step = (size - tile) / (n - 1)
    return [int(np.floor(step * i + 0.5)) for i in range(n)]


def sliding_window(fn, x, tile):
    """nnU-Net's sliding window: step half a tile, Gaussian weights, sigma = tile/8."""
    th, tw = tile
    yy, xx = torch.meshgrid(torch.arange(th, dtype=torch.float64), torch.arange(tw, dtype=torch.float64), indexing="ij")
    g = torch.exp(-(((yy - th // 2) / (th / 8)) ** 2 + ((xx - tw // 2) / (tw / 8)) ** 2) / 2)
    h, w = x.shape[2], x.shape[3]
    acc, wsum = None, torch.zeros(h, w, dtype=torch.float64)
    for y0 in window_steps(h, th):
        for x0 in window_steps(w, tw):
            pr = fn(x[:, :, y0 : y0 + th, x0 : x0 + tw]).double() * g
            if acc is None:
                acc = torch.zeros(pr.shape[0], pr.shape[1], h, w, dtype=torch.float64)
            acc[:, :, y0 : y0 + th, x0 : x0 + tw] += pr
            wsum[y0 : y0 + th, x0 : x0 + tw] += g
    return (acc / wsum).float()


def tiles_window(fn, x, tl, classes):
    """The sliding window over given tiles (cmrseg's heart region or the whole
    slice): Gaussian weights, sigma = tile/8; pixels no tile covers are
    background with probability 1."""
    th, tw = tl["tile_h"], tl["tile_w"]
    yy, xx = torch.meshgrid(torch.arange(th, dtype=torch.float32), torch.arange(tw, dtype=torch.float32), indexing="ij")
    g = torch.exp(-(((yy - th // 2) / (th / 8)) ** 2 + ((xx - tw // 2) / (tw / 8)) ** 2) / 2).to(x.device)
    h, w = x.shape[2], x.shape[3]
    acc = torch.zeros(x.shape[0], classes, h, w, device=x.device)
    wsum = torch.zeros(h, w, device=x.device)
    for y0 in tl["ys"]:
        for x0 in tl["xs"]:
            acc[:, :, y0 : y0 + th, x0 : x0 + tw] += fn(x[:, :, y0 : y0 + th, x0 : x0 + tw]) * g
            wsum[y0 : y0 + th, x0 : x0 + tw] += g
    covered = wsum > 0
    out = acc / torch.where(covered, wsum, torch.ones_like(wsum))
    out[:, 0][:, ~covered] = 1
    return out


def predict(spec):
    cfg = json.load(open(spec["config"]))
    torch.set_num_threads(spec.get("threads", 2))
    z, _, hh, ww = spec["shape"]
    x = torch.from_numpy(np.fromfile(spec["input"], dtype=np.float32).reshape(spec["shape"]))
    top, left, h, w = spec["crop"]
    tile = spec.get("tile")
    total = None
    with torch.no_grad():
        for path in spec["checkpoints"]:
            p = load_safetensors(path)
            fn = lambda t: softmax_probs(cfg, p, t, spec["tta"], spec.get("temperature", 0))
            pr = sliding_window(fn, x, tile) if tile else fn(x)
            pr = pr[:, :, top : top + h, left : left + w].double()
            total = pr if total is None else total + pr
    mean = (total / len(spec["checkpoints"])).float().permute(1, 0, 2, 3).contiguous()
    mean.numpy().tofile(spec["out"])


def predict_bench(spec):
    cfg = json.load(open(spec["config"]))
    torch.set_num_threads(spec.get("threads", 2))
    dev = torch.device(spec.get("device", "cpu"))
    params = []
    for path in spec["checkpoints"]:
        params.append({k: v.to(dev) for k, v in load_safetensors(path).items()})
    vols = []
    for v in spec["volumes"]:
        ni, nj, nk = v["dims"]
        vols.append((np.fromfile(v["path"], dtype=np.float32).reshape(nk, nj, ni), v["spacing"]))
    div = 2 ** (cfg["stages"] - 1)
    up = lambda n: (n + div - 1) // div * div
    target, patch, tta, temp = spec["target_spacing"], spec["patch_size"], spec["tta"], spec.get("temperature", 0)
    batch = spec.get("batch", 0)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(spec["iters"]):
        t_start = time.perf_counter()
        t_prep = t_net = t_comb = 0.0
        for vi, (vol, spacing) in enumerate(vols):
            t0 = time.perf_counter()
            nk, nj, ni = vol.shape
            x = torch.from_numpy(vol).double()
            x = ((x - x.mean()) / max(x.std(unbiased=False).item(), 1e-8)).float()[:, None]
            n_i = max(1, int(np.floor(ni * spacing[0] / target[0] + 0.5)))
            n_j = max(1, int(np.floor(nj * spacing[1] / target[1] + 0.5)))
            if (n_j, n_i) != (nj, ni):
                x = F.interpolate(x, size=(n_j, n_i), mode="bilinear", align_corners=False)
            hh, ww = up(max(n_j, patch[0])), up(max(n_i, patch[1]))
            top, left = (hh - n_j) // 2, (ww - n_i) // 2
            x = F.pad(x, (left, ww - n_i - left, top, hh - n_j - top)).to(dev)
            t1 = time.perf_counter()
            tl = spec.get("tiles")
            th, tw = (tl["tile_h"], tl["tile_w"]) if tl else (hh, ww)
            b = batch or max(1, (1 << 20 if dev.type == "cpu" else 1 << 22) // (th * tw * (4 if tta else 1)))
            samples = []
            with torch.no_grad():
                if tl and tl.get("locate") and vi == 0:
                    # The localisation pass (one checkpoint, coarse tiles)
                    # and the heart's bounding box, as the Go side runs them.
                    lp = params[tl["locate_checkpoint"]]
                    lfn = lambda t: softmax_probs(cfg, lp, t, tta, temp)
                    xl = x[:: tl.get("locate_stride") or 1]
                    for k0 in range(0, xl.shape[0], b):
                        fg = tiles_window(lfn, xl[k0 : k0 + b], tl["locate"], cfg["classes"]).argmax(1) > 0
                        _ = fg.nonzero().amin(0) if fg.any() else None
                for ci, p in enumerate(params):
                    outs = []
                    # Shifted tiling: checkpoint ci runs its own single tile.
                    ctl = tl
                    if tl and tl.get("checkpoint_tiles"):
                        y0, x0 = tl["checkpoint_tiles"][ci]
                        ctl = dict(tl, ys=[y0], xs=[x0])
                    for k0 in range(0, nk, b):
                        fn = lambda t: softmax_probs(cfg, p, t, tta, temp)
                        pr = tiles_window(fn, x[k0 : k0 + b], ctl, cfg["classes"]) if tl else fn(x[k0 : k0 + b])
                        pr = pr[:, :, top : top + n_j, left : left + n_i]
                        if (n_j, n_i) != (nj, ni):
                            pr = F.interpolate(pr, size=(nj, ni), mode="bilinear", align_corners=False)
                        outs.append(pr)
                    samples.append(torch.cat(outs))
                allp = torch.stack(samples).cpu()  # (S, Z, C, nj, ni)
            sync()
            t2 = time.perf_counter()
            allp = allp.double()
            mean = allp.mean(0)
            ent = -(mean * torch.log(mean.clamp_min(1e-30))).sum(1)
            ent_each = -(allp * torch.log(allp.clamp_min(1e-30))).sum(2).mean(0)
            mi = (ent - ent_each).clamp_min(0)
            labels = mean.argmax(1).to(torch.uint8)
            sample_labels = allp.argmax(2).to(torch.uint8)
            _ = (labels.sum().item(), mi.sum().item(), sample_labels.sum().item())
            t3 = time.perf_counter()
            t_prep, t_net, t_comb = t_prep + t1 - t0, t_net + t2 - t1, t_comb + t3 - t2
        print(f"iter {time.perf_counter() - t_start:.6f} {t_prep:.6f} {t_net:.6f} {t_comb:.6f}", flush=True)


# aten names of the ops cmrseg's Go runtime calls, as its Scope names them
# (inference/torch/ops.go), so that the two profiles line up row by row.
GO_OP_NAMES = {
    "aten::conv2d": "conv2d",
    "aten::conv_transpose2d": "conv_transpose2d",
    "aten::instance_norm": "instance_norm",
    "aten::leaky_relu": "leaky_relu",
    "aten::cat": "cat",
    "aten::softmax": "softmax",
    "aten::add": "add",
}


def op_profile(prof, iters):
    """Prints prof's top-level ops, per iteration, under Go's names.

    An op's time is its whole span, nested calls included (aten::conv2d ->
    convolution -> _convolution -> mkldnn_convolution, empty, ...): that is
    the call the Go side times around its C call, and the self times of the
    nested helpers would otherwise land in rows (empty, view, ...) Go has
    no match for. The legacy profiler's times are whole microseconds, and
    torch's own nesting (cpu_parent) misses a child that ends a microsecond
    after its parent or starts as it ends, which would count it twice; so a
    nested event here is one that starts before the current top-level op
    ends and ends at most a microsecond after it."""
    secs, calls = {}, {}
    events = sorted(
        prof.function_events,
        # On a tie the op Python called (a mapped name) comes first.
        key=lambda e: (e.thread, e.time_range.start, e.name not in GO_OP_NAMES, -e.time_range.end),
    )
    top = None
    for e in events:
        r = e.time_range
        if top is not None and e.thread == top.thread and r.start <= top.time_range.end and r.end <= top.time_range.end + 1:
            continue
        top = e
        name = GO_OP_NAMES.get(e.name, e.name.removeprefix("aten::"))
        secs[name] = secs.get(name, 0.0) + (r.end - r.start) / 1e6
        calls[name] = calls.get(name, 0) + 1
    for name in sorted(secs, key=secs.get, reverse=True):
        print(f"op {name} {secs[name] / iters:.6f} {calls[name] / iters:g}", flush=True)


def main():
    mode = sys.argv[1]
    if mode in ("predict", "predict-bench"):
        spec = json.load(open(sys.argv[2]))
        (predict if mode == "predict" else predict_bench)(spec)
        return
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
        profile = len(sys.argv) > 8 and sys.argv[8] == "profile"
        torch.manual_seed(0)
        x = torch.randn(shape)
        if what == "forward":

            def timed():
                t0 = time.perf_counter()
                forward(cfg, p, x)
                print(f"{time.perf_counter() - t0:.6f}", flush=True)

            # The first iteration is warm-up and stays out of the profile.
            prof = torch.autograd.profiler.profile() if profile else contextlib.nullcontext()
            with torch.no_grad():
                for _ in range(min(iters, 1)):
                    timed()
                with prof:
                    for _ in range(iters - 1):
                        timed()
            if profile and iters > 1:
                op_profile(prof, iters - 1)
        elif profile:
            raise SystemExit("bench: profile is only for MODE forward")
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
