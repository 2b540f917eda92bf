"""Recipe search in PyTorch on a GPU: which small net + recipe reaches the accuracy targets
in the epochs that convpool can afford on 2 CPU cores. Prints one JSON line per run and
appends it to $OUT/WHICH-results.jsonl.

    OUT=/tmp python3 search.py cifar cifar.grid BUDGET_S [LIMIT] --data cifar10-train-jpeg.zip
    OUT=/tmp python3 search.py fashion fashion.grid BUDGET_S [LIMIT] --data fashion-mnist/

Each grid line is one run (JSON): arch ("fast": convpool's fast-cnn with "widths"; "article";
"resnet16": resnet-cifar), epochs, lr, and optionally opt, wd, ls (label smoothing), bs, aug,
pad (crop padding), flip, cutout, first ("whiten", "learned", "none"), wk (whitening kernel
size), wpad (its padding), head ("max": global max pool, "flat": all positions, "avgmax":
global max and mean side by side), hdrop (dropout before the head), act, scale, pct
(onecycle's warm-up share), ema (decay of an average of the weights, which is then what is
scored), full (train on all the train images: "val" is then not held out), seed.
bfloat16 autocast on a GPU; the same onecycle schedule, Nesterov SGD and crop/flip as
`convpool train`. A guide for choosing a recipe, not a measurement of convpool."""
import gzip
import io
import json
import os
import sys
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DEV = "cuda" if torch.cuda.is_available() else "cpu"
OUT = os.environ.get("OUT", "/tmp")


def _decode(args):
    from PIL import Image
    path, names = args
    z = zipfile.ZipFile(path)
    out = np.empty((len(names), 32, 32, 3), np.uint8)
    for i, n in enumerate(names):
        out[i] = np.asarray(Image.open(io.BytesIO(z.read(n))).convert("RGB"))
    return out


def load_cifar(path, limit=None):
    z = zipfile.ZipFile(path)
    names = sorted(n for n in z.namelist() if n.lower().endswith((".jpg", ".jpeg", ".png")))
    if limit:
        names = names[::len(names) // limit][:limit]
    classes = sorted({n.split("/")[-2] for n in names})
    labels = np.array([classes.index(n.split("/")[-2]) for n in names])
    chunks = [names[i:i + 1000] for i in range(0, len(names), 1000)]
    with ProcessPoolExecutor(min(16, os.cpu_count())) as ex:
        images = np.concatenate(list(ex.map(_decode, [(path, c) for c in chunks])))
    return images.transpose(0, 3, 1, 2), labels


def load_idx(folder, split, limit=None):
    pre = "train" if split == "train" else "t10k"
    with gzip.open(f"{folder}/{pre}-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(f"{folder}/{pre}-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    return (x[:limit], y[:limit]) if limit else (x, y)


class GMax(nn.Module):
    def forward(self, x):
        return x.amax(dim=(2, 3))


class AvgMax(nn.Module):
    def forward(self, x):
        return torch.cat([x.amax(dim=(2, 3)), x.mean(dim=(2, 3))], 1)


class Scale(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.s = s
    def forward(self, x):
        return x * self.s


class Res(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.b = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                               nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU())
    def forward(self, x):
        return x + self.b(x)


def cbr(i, o):
    return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]


def make_net(cfg, in_ch, ncls):
    arch = cfg["arch"]
    if arch == "resnet16":
        w = 16
        return nn.Sequential(*cbr(in_ch, w), *cbr(w, 2 * w), nn.MaxPool2d(2), Res(2 * w), *cbr(2 * w, 4 * w),
                             nn.MaxPool2d(2), *cbr(4 * w, 8 * w), nn.MaxPool2d(2), Res(8 * w), GMax(),
                             nn.Linear(8 * w, ncls, bias=False), Scale(0.125))
    if arch == "article":
        return nn.Sequential(nn.Conv2d(in_ch, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Dropout(cfg.get("drop1", 0.25)), nn.Flatten(), nn.LazyLinear(128), nn.ReLU(),
                             nn.Dropout(cfg.get("drop2", 0.5)), nn.Linear(128, ncls))
    # "fast": airbench-like conv groups
    A = nn.GELU if cfg.get("act") == "gelu" else nn.ReLU
    layers, c = [], in_ch
    if cfg.get("first", "whiten") != "none":
        k = cfg.get("wk", 2)
        layers += [nn.Conv2d(in_ch, 2 * k * k * in_ch, k, padding=cfg.get("wpad", 0), bias=True), A()]
        c = 2 * k * k * in_ch
    for w in cfg["widths"]:
        layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(w), A(),
                   nn.Conv2d(w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), A()]
        c = w
    head = cfg.get("head", "max")
    pool = {"max": [GMax()], "flat": [nn.Flatten()], "avgmax": [AvgMax()]}[head]
    drop = [nn.Dropout(cfg["hdrop"])] if cfg.get("hdrop") else []
    linear = nn.Linear(2 * c, ncls, bias=False) if head == "avgmax" else (
        nn.LazyLinear(ncls, bias=False) if head == "flat" else nn.Linear(c, ncls, bias=False))
    layers += [*pool, *drop, linear, Scale(cfg.get("scale", 1 / 9))]
    return nn.Sequential(*layers)


def whiten_init(conv, x, eps=5e-4):
    k = conv.kernel_size[0]
    p = F.unfold(x.float(), k).transpose(1, 2).reshape(-1, x.shape[1] * k * k)
    p = p - p.mean(0)
    cov = p.T @ p / len(p)
    vals, vecs = torch.linalg.eigh(cov)
    w = (vecs.T / torch.sqrt(vals + eps)[:, None]).reshape(-1, x.shape[1], k, k)
    with torch.no_grad():
        conv.weight.copy_(torch.cat([w, -w]))
        conv.bias.zero_()
    conv.weight.requires_grad_(False)


def augment(x, pad, flip=True, cutout=0):
    n, c, h, w = x.shape
    if pad:
        xp = F.pad(x, (pad,) * 4)
        oh = torch.randint(0, 2 * pad + 1, (n,), device=x.device)
        ow = torch.randint(0, 2 * pad + 1, (n,), device=x.device)
        ih = (oh[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        iw = (ow[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        batch = torch.arange(n, device=x.device)[:, None, None, None]
        x = xp[batch, torch.arange(c, device=x.device)[None, :, None, None], ih, iw]
    if flip:
        m = torch.rand(n, device=x.device) < 0.5
        x = torch.where(m[:, None, None, None], x.flip(3), x)
    if cutout:
        cy = torch.randint(0, h, (n,), device=x.device)
        cx = torch.randint(0, w, (n,), device=x.device)
        yy = torch.arange(h, device=x.device)[None, :, None]
        xx = torch.arange(w, device=x.device)[None, None, :]
        m = ((yy - cy[:, None, None]).abs() <= cutout // 2) & ((xx - cx[:, None, None]).abs() <= cutout // 2)
        x = x * (~m)[:, None].to(x.dtype)
    return x


def accuracy(net, x, y, tta=False):
    net.eval()
    hits = hits_tta = 0
    with torch.no_grad(), torch.autocast(DEV, torch.bfloat16, enabled=DEV == "cuda"):
        for i in range(0, len(x), 1000):
            xb = x[i:i + 1000]
            lo = net(xb).float()
            hits += (lo.argmax(1) == y[i:i + 1000]).sum().item()
            lo2 = lo + net(xb.flip(3)).float()
            hits_tta += (lo2.argmax(1) == y[i:i + 1000]).sum().item()
    net.train()
    return hits / len(x), hits_tta / len(x)


def run(cfg, data):
    torch.manual_seed(cfg.get("seed", 0))
    xtr, ytr, xva, yva, xte, yte = data
    if cfg.get("full"):
        xtr, ytr = torch.cat([xtr, xva]), torch.cat([ytr, yva])
    net = make_net(cfg, xtr.shape[1], 10).to(DEV)
    with torch.no_grad():
        net(xtr[:2])
    net = net.to(memory_format=torch.channels_last)
    if cfg.get("arch") == "fast" and cfg.get("first", "whiten") == "whiten":
        whiten_init(net[0], xtr[:5000])
    params = [p for p in net.parameters() if p.requires_grad]
    opt = (torch.optim.SGD(params, lr=cfg["lr"], momentum=0.9, nesterov=True, weight_decay=cfg.get("wd", 5e-4))
           if cfg.get("opt", "sgd") == "sgd" else
           torch.optim.Adam(params, lr=cfg["lr"], weight_decay=cfg.get("wd", 0.0)))
    B, E = cfg.get("bs", 256), cfg["epochs"]
    spe = len(xtr) // B
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg["lr"], total_steps=E * spe,
                                                pct_start=cfg.get("pct", 0.3))
    ema = None
    if cfg.get("ema"):
        ema = {k: v.detach().clone() for k, v in net.state_dict().items() if v.is_floating_point()}
    t0 = time.time()
    curve = []
    for epoch in range(E):
        perm = torch.randperm(len(xtr), device=DEV)
        for s in range(spe):
            idx = perm[s * B:(s + 1) * B]
            xb = xtr[idx]
            if cfg.get("aug", True):
                pad = cfg.get("pad", 4 if xb.shape[-1] >= 32 else 2)
                xb = augment(xb, pad, cfg.get("flip", True), cfg.get("cutout", 0))
            with torch.autocast(DEV, torch.bfloat16, enabled=DEV == "cuda"):
                loss = F.cross_entropy(net(xb.contiguous(memory_format=torch.channels_last)), ytr[idx],
                                       label_smoothing=cfg.get("ls", 0.0))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if ema is not None:
                step = epoch * spe + s
                decay = min(cfg["ema"], (1 + step) / (10 + step))
                with torch.no_grad():
                    for k, v in net.state_dict().items():
                        if k in ema:
                            ema[k].lerp_(v, 1 - decay)
        if cfg.get("curve"):
            curve.append(round(accuracy(net, xva, yva)[0], 4))
    if ema is not None:
        net.load_state_dict({**net.state_dict(), **ema})
    va, va_tta = accuracy(net, xva, yva)
    res = {**cfg, "val": round(va, 4), "val_tta": round(va_tta, 4), "secs": round(time.time() - t0, 1)}
    if xte is not None:
        te, te_tta = accuracy(net, xte, yte)
        res.update(test=round(te, 4), test_tta=round(te_tta, 4))
    if curve:
        res["curve"] = curve
    return res


def main():
    args = sys.argv[1:]
    data_path = None
    if "--data" in args:
        at = args.index("--data")
        data_path = args[at + 1]
        del args[at:at + 2]
    which, grid_file, budget = args[0], args[1], float(args[2])
    limit = int(args[3]) if len(args) > 3 else None
    t = time.time()
    rng = np.random.default_rng(0)
    if which == "cifar":
        x, y = load_cifar(data_path or ".gpu/cifar10-train-jpeg.zip", limit)
        xt = yt = None
    else:
        x, y = load_idx(data_path or ".gpu/fashion-mnist", "train", limit)
        xt, yt = load_idx(data_path or ".gpu/fashion-mnist", "test", limit)
    perm = rng.permutation(len(x))
    nval = len(x) // 10 if which == "cifar" else len(x) // 10
    va, tr = perm[:nval], perm[nval:]
    mean = x[tr].reshape(len(tr), x.shape[1], -1).mean((0, 2)) / 255
    std = x[tr].reshape(len(tr), x.shape[1], -1).std((0, 2)) / 255
    def prep(a):
        t_ = torch.tensor(a, dtype=torch.float32, device=DEV) / 255
        m = torch.tensor(mean, device=DEV, dtype=torch.float32)[None, :, None, None]
        return (t_ - m) / torch.tensor(std, device=DEV, dtype=torch.float32)[None, :, None, None]
    data = (prep(x[tr]), torch.tensor(y[tr], device=DEV), prep(x[va]), torch.tensor(y[va], device=DEV),
            None if xt is None else prep(xt), None if yt is None else torch.tensor(yt, device=DEV))
    print(json.dumps({"loaded": round(time.time() - t, 1), "train": len(tr), "val": len(va)}), flush=True)
    grid = [json.loads(line) for line in open(grid_file) if line.strip() and not line.startswith("#")]
    with open(f"{OUT}/{which}-results.jsonl", "a") as log:
        for cfg in grid:
            if time.time() - t > budget:
                print(json.dumps({"stopped": "budget", "left": len(grid)}), flush=True)
                break
            res = run(cfg, data)
            print(json.dumps(res), flush=True)
            log.write(json.dumps(res) + "\n")
            log.flush()


if __name__ == "__main__":
    main()
