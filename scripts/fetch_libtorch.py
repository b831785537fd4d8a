#!/usr/bin/env python3
"""Assemble a CPU-only libtorch 2.13.0 in .libtorch/libtorch from PyPI wheels.

tch 0.26 needs libtorch 2.13.0. PyPI's torch wheel carries libtorch (headers
and shared libraries); we keep only what a CPU build links against, so no
download from download.pytorch.org is needed. Wheels are cached per user
(XDG cache directory) so a second clone, or CI's fresh clone, reuses them.

Skipped when LIBTORCH or LIBTORCH_USE_PYTORCH is set: the user brings their
own libtorch (a Jetson with NVIDIA's PyTorch wheel, a CUDA server).
"""
import os
import platform
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

TORCH_VERSION = "2.13.0"
ROOT = Path(__file__).resolve().parent.parent
DEST = ROOT / ".libtorch" / "libtorch"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "trainwatt" / "wheels"

# (requirement, platform tags). pip does not widen --platform, so name each tag.
WHEELS = [
    ("torch==" + TORCH_VERSION, ["manylinux_2_28_x86_64"]),
    ("nvidia-cuda-runtime==13.0.96", ["manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_25_x86_64"]),
    ("nvidia-cuda-cupti==13.0.85", ["manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_25_x86_64"]),
]
# Libraries copied into lib/: libtorch_cpu.so lists libcudart and libcupti as
# needed even though a CPU build never calls them.
LIBS = {
    "torch": ["torch/lib/libtorch_cpu.so", "torch/lib/libc10.so", "torch/lib/libgomp.so.1"],
    "nvidia_cuda_runtime": ["nvidia/cu13/lib/libcudart.so.13"],
    "nvidia_cuda_cupti": ["nvidia/cu13/lib/libcupti.so.13"],
}

USE_OWN = """\
trainwatt links against libtorch {v}. Use your own instead of the fetched one:
  - a PyTorch {v} installed in the active Python:   export LIBTORCH_USE_PYTORCH=1
  - an unpacked libtorch {v} directory:             export LIBTORCH=/path/to/libtorch
On a Jetson (aarch64) install NVIDIA's PyTorch wheel for your JetPack and set
LIBTORCH_USE_PYTORCH=1 (and LIBTORCH_BYPASS_VERSION_CHECK=1 if its version is
not {v}). Without training, build with: cargo build --release --no-default-features
""".format(v=TORCH_VERSION)


def say(msg):
    print("fetch-libtorch: " + msg, file=sys.stderr)


def wheel_for(req):
    name = req.split("==")[0].replace("-", "_")
    version = req.split("==")[1]
    for p in sorted(CACHE.glob(f"{name}-{version}-*.whl")):
        return p
    return None


def download(req, platforms):
    CACHE.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--python-version", "3.12", "--implementation", "cp", "-d", str(CACHE), "--quiet"]
    for p in platforms:
        cmd += ["--platform", p]
    cmd.append(req)
    say("downloading " + req + " into " + str(CACHE))
    subprocess.run(cmd, check=True)
    w = wheel_for(req)
    if w is None:
        sys.exit(f"fetch-libtorch: pip reported success but no wheel for {req} is in {CACHE}")
    return w


def main():
    if os.environ.get("LIBTORCH") or os.environ.get("LIBTORCH_USE_PYTORCH"):
        say("LIBTORCH or LIBTORCH_USE_PYTORCH is set: using your libtorch, nothing to fetch")
        return 0
    if (DEST / "build-version").is_file() and (DEST / "build-version").read_text().strip() == TORCH_VERSION \
            and (DEST / "lib" / "libtorch_cpu.so").is_file():
        return 0
    machine = platform.machine()
    if sys.platform != "linux" or machine not in ("x86_64", "AMD64"):
        sys.stderr.write(f"fetch-libtorch: no CPU libtorch wheel is fetched for {sys.platform}/{machine}.\n" + USE_OWN)
        return 2
    wheels = {}
    for req, platforms in WHEELS:
        wheels[req.split("==")[0].replace("-", "_")] = wheel_for(req) or download(req, platforms)
    tmp = DEST.with_name("libtorch.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "lib").mkdir(parents=True)
    say("unpacking headers and CPU libraries into " + str(DEST))
    with zipfile.ZipFile(wheels["torch"]) as z:
        for info in z.infolist():
            if info.filename.startswith("torch/include/") and not info.is_dir():
                target = tmp / "include" / info.filename[len("torch/include/"):]
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    for key, members in LIBS.items():
        with zipfile.ZipFile(wheels[key]) as z:
            for m in members:
                target = tmp / "lib" / Path(m).name
                with z.open(m) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                target.chmod(0o755)
    # The wheel's libtorch.so pulls in libtorch_cuda.so and all of CUDA; a
    # linker script pointing at libtorch_cpu is all a CPU build needs.
    (tmp / "lib" / "libtorch.so").write_text("INPUT(-ltorch_cpu)\n")
    (tmp / "build-version").write_text(TORCH_VERSION + "\n")
    shutil.rmtree(DEST, ignore_errors=True)
    tmp.rename(DEST)
    say("libtorch " + TORCH_VERSION + " (CPU) ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
