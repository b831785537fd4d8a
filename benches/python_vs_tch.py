#!/usr/bin/env python3
"""trainwatt's two trainers on the same work: the built-in tch trainer
(`trainwatt train`, libtorch 2.13.0 linked in) against the Python trainer
(trainer/python/trainwatt_train.py on PyTorch 2.13.0 from PyPI).

Both train ResNet18-CIFAR with SGD (momentum 0.9, weight decay 5e-4, lr 0.01)
on synthetic 3x32x32 data generated from the same seed, on the CPU with the
same thread count, validation off. Per batch size, the runs alternate
(tch, Python, tch, Python, ...) so drifting machine load hits both alike.

Reported per batch size: training images/s (each trainer's own figure for the
last step of an epoch: images of the epoch so far over the seconds since it
began; the mean over the epochs after a warm-up epoch, best of --repeats) and
the peak RSS of the trainer process (wait4's ru_maxrss; for `trainwatt train`
the trainer runs inside that process).

Usage (a release build with the `train` feature, and the test virtualenv):
    LIBTORCH=... cargo build --release
    python3 benches/python_vs_tch.py --python "$(scripts/python_venv.sh)"
"""
import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "trainer", "python", "trainwatt_train.py")
DEFAULT_PY = os.path.expanduser("~/.cache/trainwatt/venv-torch-2.13.0/bin/python")


def run_measured(cmd):
    """Run cmd; return (stdout lines, its peak RSS in bytes, wall seconds)."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.stdout.read(), p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit("%s failed (%d):\n%s" % (" ".join(cmd), code, err.decode(errors="replace")))
    return out.decode().splitlines(), ru.ru_maxrss * 1024, time.monotonic() - t0


def steady(rates):
    rates = rates[1:] or rates
    return sum(rates) / len(rates)


def tch_rate(lines):
    """`trainwatt train --json`: the epoch lines carry the last step's images/s."""
    return steady([d["images_per_s"] for d in map(json.loads, lines) if d.get("kind") == "epoch"])


def python_rate(lines):
    """The protocol: the last step line of each epoch (step == steps)."""
    last = {}
    for line in lines:
        if line.startswith("{"):
            d = json.loads(line)
            if d.get("trainwatt") == "step" and d["step"] == d["steps"]:
                last[d["epoch"]] = d["images_per_s"]
    return steady([last[e] for e in sorted(last)])


def common(a, bs, steps):
    return ["--model", "resnet18-cifar", "--data", "synthetic:%d" % (steps * bs),
            "--val-fraction", "0", "--batch-size", str(bs), "--epochs", str(a.epochs),
            "--steps-per-epoch", str(steps), "--threads", str(a.threads), "--device", "cpu",
            "--lr", "0.01", "--seed", "1"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trainwatt", default=os.path.join(REPO, "target", "release", "trainwatt"),
                    help="a trainwatt built with the train feature")
    ap.add_argument("--python", default=DEFAULT_PY, help="python with torch (scripts/python_venv.sh)")
    ap.add_argument("--batch-sizes", default="2,8,32")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--epochs", type=int, default=3, help="epochs per run; the first is warm-up")
    ap.add_argument("--images", type=int, default=96, help="images per epoch (at least 3 steps)")
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    for path, what in [(a.trainwatt, "LIBTORCH=... cargo build --release"),
                       (a.python, "scripts/python_venv.sh")]:
        if not os.path.exists(path):
            sys.exit("%s not found: run %s first" % (path, what))
    rows = []
    for bs in [int(b) for b in a.batch_sizes.split(",")]:
        steps = max(3, a.images // bs)
        best = {}
        for _ in range(a.repeats):
            for name, cmd, rate_of in [
                ("tch", [a.trainwatt, "train", "--json"] + common(a, bs, steps), tch_rate),
                ("python", [a.python, "-u", SCRIPT] + common(a, bs, steps), python_rate),
            ]:
                lines, rss, wall = run_measured(cmd)
                rate = rate_of(lines)
                r, m, w = best.get(name, (0.0, 0, 0.0))
                best[name] = (max(r, rate), max(m, rss), max(w, wall))
                print("  batch %3d %-6s %7.1f images/s  peak RSS %5.0f MiB  %5.1f s"
                      % (bs, name, rate, rss / 2.0 ** 20, wall), file=sys.stderr)
        rows.append((bs, best["tch"], best["python"]))
    print("\nResNet18-CIFAR SGD, synthetic 3x32x32, CPU, %d threads, %d measured epochs of ~%d images, "
          "best of %d, runs alternating\n" % (a.threads, a.epochs - 1, a.images, a.repeats))
    print("| batch | tch images/s | Python images/s | Python/tch | tch peak RSS | Python peak RSS |")
    print("|---:|---:|---:|---:|---:|---:|")
    for bs, (tr, tm, _), (pr, pm, _) in rows:
        print("| %d | %.1f | %.1f | %.2fx | %.0f MiB | %.0f MiB |"
              % (bs, tr, pr, pr / tr, tm / 2.0 ** 20, pm / 2.0 ** 20))


if __name__ == "__main__":
    main()
