#!/usr/bin/env python3
"""trainwatt's built-in trainer against the same work in a plain PyTorch loop.

Both sides train ResNet18-CIFAR (3x3 stem, no max-pool; torchvision's blocks and
initialisation) with SGD (momentum 0.9, weight decay 5e-4) on the same kind of
synthetic 3x32x32 data, with the same thread count, on the CPU. Per step both
do the same work: index a batch out of the in-memory dataset, forward, cross
entropy, zero_grad, backward, step, and accumulate loss and hits.

Reported per batch size: training images/s (the mean over the epochs after a
warm-up epoch; validation is off) and peak RSS of the whole process (from
wait4's rusage), for both, and their ratios. Each configuration runs
--repeats times, interleaved, and the best throughput is kept.

Usage (release build first; torch 2.13.0 in a virtualenv outside the repo):
    cargo build --release
    python3 -m venv ~/.cache/trainwatt/bench-venv
    ~/.cache/trainwatt/bench-venv/bin/pip install torch==2.13.0
    python3 benches/train_vs_pytorch.py            # batch sizes 2, 8, 32
"""
import argparse
import json
import os
import subprocess
import sys
import time

DEFAULT_PY = os.path.expanduser("~/.cache/trainwatt/bench-venv/bin/python")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_measured(cmd, env=None):
    """Run cmd, return (stdout lines, peak RSS in bytes, wall seconds)."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = p.stdout.read(), p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{err.decode(errors='replace')}")
    # ru_maxrss is in KiB on Linux.
    return out.decode().splitlines(), ru.ru_maxrss * 1024, time.monotonic() - t0


def steady_rate(lines):
    rates = [d["images_per_s"] for d in map(json.loads, lines) if d.get("kind") == "epoch"]
    steady = rates[1:] or rates
    return sum(steady) / len(steady)


def trainwatt_cmd(a, bs, steps):
    return [a.trainwatt, "train", "--model", "resnet18-cifar", "--data", f"synthetic:{steps * bs}",
            "--val-fraction", "0", "--batch-size", str(bs), "--epochs", str(a.epochs),
            "--steps-per-epoch", str(steps), "--threads", str(a.threads), "--device", "cpu",
            "--lr", "0.01", "--seed", "1", "--json"]


def pytorch_cmd(a, bs, steps):
    return [a.python, os.path.abspath(__file__), "--worker", "--batch-size", str(bs),
            "--steps", str(steps), "--epochs", str(a.epochs), "--threads", str(a.threads)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trainwatt", default=os.path.join(REPO, "target/release/trainwatt"))
    ap.add_argument("--python", default=DEFAULT_PY, help="python with torch==2.13.0")
    ap.add_argument("--batch-sizes", default="2,8,32")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--epochs", type=int, default=3, help="epochs per run; the first is warm-up")
    ap.add_argument("--images", type=int, default=480, help="images per epoch (at least 10 steps)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--batch-size", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return pytorch_worker(a)
    for path, what in [(a.trainwatt, "cargo build --release"), (a.python, "the bench virtualenv (see --help)")]:
        if not os.path.exists(path):
            sys.exit(f"{path} not found: run {what} first")
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    rows = []
    for bs in [int(b) for b in a.batch_sizes.split(",")]:
        steps = max(10, a.images // bs)
        best = {"trainwatt": (0.0, 0), "pytorch": (0.0, 0)}
        for _ in range(a.repeats):
            for name, cmd in [("trainwatt", trainwatt_cmd(a, bs, steps)), ("pytorch", pytorch_cmd(a, bs, steps))]:
                lines, rss, _ = run_measured(cmd, env)
                rate = steady_rate(lines)
                r, m = best[name]
                best[name] = (max(r, rate), max(m, rss))
                print(f"  batch {bs:>3} {name:<9} {rate:8.1f} images/s  peak RSS {rss / 2**20:7.0f} MiB", file=sys.stderr)
        (tr, tm), (pr, pm) = best["trainwatt"], best["pytorch"]
        rows.append((bs, tr, pr, tm, pm))
    print(f"\nResNet18-CIFAR SGD training, synthetic 3x32x32, CPU, {a.threads} threads, "
          f"{a.epochs - 1} measured epochs of ~{a.images} images, best of {a.repeats}\n")
    print("| batch | trainwatt images/s | PyTorch images/s | speed ratio | trainwatt peak RSS | PyTorch peak RSS | RSS ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for bs, tr, pr, tm, pm in rows:
        print(f"| {bs} | {tr:.1f} | {pr:.1f} | {tr / pr:.2f}x | {tm / 2**20:.0f} MiB | {pm / 2**20:.0f} MiB | {tm / pm:.2f} |")


def pytorch_worker(a):
    """The plain PyTorch loop (runs inside the bench virtualenv)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(a.threads)

    class Block(nn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(c_out)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(c_out)
            self.downsample = None
            if stride != 1 or c_in != c_out:
                self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

        def forward(self, x):
            y = F.relu(self.bn1(self.conv1(x)), inplace=True)
            y = self.bn2(self.conv2(y))
            y += x if self.downsample is None else self.downsample(x)
            return F.relu(y, inplace=True)

    class ResNet18Cifar(nn.Module):
        def __init__(self, classes):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            layers, c_in = [], 64
            for c_out, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
                layers.append(nn.Sequential(Block(c_in, c_out, stride), Block(c_out, c_out, 1)))
                c_in = c_out
            self.layer1, self.layer2, self.layer3, self.layer4 = layers
            self.fc = nn.Linear(512, classes)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

        def forward(self, x):
            x = F.relu(self.bn1(self.conv1(x)), inplace=True)
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    torch.manual_seed(1)
    bs, steps, n = a.batch_size, a.steps, a.batch_size * a.steps
    # trainwatt's synthetic data: a smooth pattern per class plus noise.
    patterns = F.interpolate(torch.randn(10, 3, 4, 4), size=(32, 32), mode="bilinear", align_corners=False)
    labels = torch.randint(10, (n,))
    images = patterns[labels] + 1.5 * torch.randn(n, 3, 32, 32)
    torch.manual_seed(1)
    model = ResNet18Cifar(10).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    total = 0
    for epoch in range(1, a.epochs + 1):
        perm = torch.randperm(n)
        loss_sum, hits = torch.zeros(()), torch.zeros((), dtype=torch.int64)
        t0 = time.monotonic()
        for step in range(steps):
            idx = perm[step * bs:(step + 1) * bs]
            x, y = images.index_select(0, idx), labels.index_select(0, idx)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                loss_sum += loss.detach() * bs
                hits += (logits.argmax(1) == y).sum()
        dt = time.monotonic() - t0
        total += steps * bs
        print(json.dumps({"kind": "epoch", "epoch": epoch, "train_loss": loss_sum.item() / (steps * bs),
                          "train_acc": hits.item() / (steps * bs), "images_per_s": steps * bs / dt,
                          "images": total}), flush=True)


if __name__ == "__main__":
    main()
