"""A budgeted Fashion-MNIST recipe search in three rounds, several runs at a time on one GPU:
which network and recipe reach the most validation accuracy in what convpool can train in
15 minutes on 2 CPU cores.

    OUT=/tmp python3 adaptive.py fashion.budget BUDGET_S [--data fashion-mnist/] [--workers 6]

Round 1 runs every line of the grid file (search.py's keys, plus "cpu": convpool's training
speed for those widths in images/s, measured here with batch 256). Each run's "cpu_s" is what
convpool would take for it on the CPU: epochs x train images / (0.84 x speed), 0.84 being what
a real `convpool train` run got of the bench speed, plus 20 s of scoring. Round 1 skips runs
over 1,000 s; rounds 2 and 3 take only runs up to 900 s. Round 2 repeats the ten best (by
validation accuracy with mirror images) with seeds 1 and 2. Round 3 combines, per network, the
changes that beat that network's plain recipe, over three seeds. Every run's line goes to
$OUT/fashion-budget-results.jsonl, and a table of means to $OUT/fashion-budget-summary.txt.
"""
import json
import multiprocessing
import os
import statistics
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

import numpy as np

OUT = os.environ.get("OUT", "/tmp")
CAP_S = 900  # rounds 2 and 3; round 1 also runs up to 1,000 s, to show what one more epoch gives
DATA = None


def cpu_seconds(cfg):
    images = cfg["epochs"] * (60000 if cfg.get("full") else 54000)
    return round(images / (0.84 * cfg["cpu"]) * (1.12 if cfg.get("wk", 2) == 3 else 1) + 20)


def _load(path, limit):
    global DATA
    import search
    import torch
    x, y = search.load_idx(path, "train", limit)
    xt, yt = search.load_idx(path, "test", limit)
    perm = np.random.default_rng(0).permutation(len(x))
    va, tr = perm[:len(x) // 10], perm[len(x) // 10:]
    mean, std = x[tr].mean() / 255, x[tr].std() / 255

    def prep(a):
        return (torch.tensor(a, dtype=torch.float32, device=search.DEV) / 255 - mean) / std

    DATA = (prep(x[tr]), torch.tensor(y[tr], device=search.DEV), prep(x[va]), torch.tensor(y[va], device=search.DEV),
            prep(xt), torch.tensor(yt, device=search.DEV))


def _run(cfg):
    import search
    return search.run(cfg, DATA)


def key(cfg):
    return json.dumps({k: v for k, v in cfg.items() if k != "seed"}, sort_keys=True)


def main():
    args = sys.argv[1:]
    opts = {}
    for name in ("--data", "--workers", "--limit"):
        if name in args:
            at = args.index(name)
            opts[name] = args[at + 1]
            del args[at:at + 2]
    grid_file, budget = args[0], float(args[1])
    data = opts.get("--data", ".gpu/fashion-mnist")
    start = time.time()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    grid = [json.loads(line) for line in open(grid_file) if line.strip() and not line.startswith("#")]
    results = []
    log = open(f"{OUT}/fashion-budget-results.jsonl", "a")
    ctx = multiprocessing.get_context("spawn")
    limit = int(opts.get("--limit", 0)) or None
    with ProcessPoolExecutor(int(opts.get("--workers", 6)), ctx, initializer=_load, initargs=(data, limit)) as pool:

        def run_round(name, cfgs, until, cap=CAP_S):
            ran = {(key(_strip(r)), r.get("seed", 0)) for r in results}
            cfgs = [c for c in cfgs if cpu_seconds(c) <= cap and (key(_strip(c)), c.get("seed", 0)) not in ran]
            pending = {pool.submit(_run, c): c for c in cfgs}
            while pending:
                done, _ = wait(pending, timeout=max(1.0, until - (time.time() - start)), return_when=FIRST_COMPLETED)
                for f in done:
                    cfg = pending.pop(f)
                    res = {**f.result(), "cpu_s": cpu_seconds(cfg), "round": name, "at": round(time.time() - start)}
                    results.append(res)
                    print(json.dumps(res), flush=True)
                    log.write(json.dumps(res) + "\n")
                    log.flush()
                if time.time() - start > until:
                    for f in pending:
                        f.cancel()
                    print(json.dumps({"round": name, "stopped": "budget", "left": len(pending)}), flush=True)
                    return

        run_round(1, grid, 0.55 * budget, 1000)
        best = list({key(_strip(r)): r for r in sorted(results, key=lambda r: r["val_tta"])
                     if r["cpu_s"] <= CAP_S}.values())[-10:]
        run_round(2, [{**_strip(r), "seed": s} for r in best for s in (1, 2)], 0.8 * budget)
        combos = combinations(grid, results)
        run_round(3, combos, 0.97 * budget)
    summary = {}
    for r in results:
        summary.setdefault(key(_strip(r)), []).append(r)
    rows = sorted(summary.items(), key=lambda kv: -statistics.mean(x["val_tta"] for x in kv[1]))
    with open(f"{OUT}/fashion-budget-summary.txt", "w") as f:
        for k, rs in rows:
            line = (f"n={len(rs)} val_tta={statistics.mean(x['val_tta'] for x in rs):.4f} "
                    f"test_tta={statistics.mean(x['test_tta'] for x in rs):.4f} "
                    f"test={statistics.mean(x['test'] for x in rs):.4f} cpu_s={rs[0]['cpu_s']} {k}")
            print(line)
            f.write(line + "\n")


def combinations(grid, results):
    """Per base line of the grid: its recipe with every change that beat it on the same network
    (validation with mirrors, 0.15 point over the base's mean), over seeds 0, 1 and 2."""
    combos = []
    for base in [g for g in grid if g.get("base")]:
        plain = [r["val_tta"] for r in results if key(_strip(r)) == key(_strip(base))]
        if not plain:
            continue
        start = _strip(base)
        merged = dict(start)
        for r in sorted(results, key=lambda r: r["val_tta"]):
            change = {k: v for k, v in _strip(r).items() if k != "seed" and start.get(k) != v}
            same_net = r.get("widths") == base.get("widths") and r["epochs"] == base["epochs"]
            if same_net and change and "full" not in change and r["val_tta"] >= statistics.mean(plain) + 0.0015:
                merged.update(change)
        if merged != start:
            combos += [{**merged, "seed": s} for s in (0, 1, 2)]
    return combos


def _strip(r):
    drop = {"val", "val_tta", "test", "test_tta", "secs", "cpu_s", "round", "at", "curve", "base"}
    return {k: v for k, v in r.items() if k not in drop}


if __name__ == "__main__":
    main()
