#!/usr/bin/env python3
"""trainwatt's Python trainer: ResNet18 with the machine's own PyTorch.

The same options and semantics as trainwatt's built-in (tch) trainer, for
machines where libtorch 2.13 cannot run (a Jetson Nano with JetPack 4.6:
Python 3.6 and NVIDIA's PyTorch 1.10 wheel) or where another PyTorch is
installed. trainwatt embeds this file, writes it to its cache and runs it as
a child (`trainwatt record --trainer python`); it also runs on its own:

    python3 -u trainwatt_train.py --data synthetic:640 --batch-size 16 --epochs 3

Progress goes to stdout as trainwatt's protocol (one JSON object per line):
`start` (the configuration), `step` (at most about five a second, plus the
last step of each epoch: `loss.item()` synchronises a GPU, so the loss is read
only when a line is due), `epoch_end` (train loss, train and validation
accuracy as fractions) and `done` (status completed, cancelled, out_of_memory
or error, and a message). Everything else goes to stderr.

Exit codes: 0 completed, 1 error, 2 bad options, 3 out of memory (CUDA or
CPU), 130 cancelled (SIGTERM or SIGINT: the current step finishes first).

Compatible with Python 3.6 and PyTorch 1.10 up to the newest: no syntax or
library call newer than those (checked with `vermin --target=3.6-`).
torchvision's resnet18 is used when torchvision imports; otherwise an
equivalent definition below, with the same parameter names (the state_dict
keys are torchvision's). Both get the same initial weights from a seed.

Test hooks (environment variables, for trainwatt's own tests):
  TRAINWATT_TEST_INJECT_OOM_ABOVE=N (or the hidden --inject-oom-above N)  a
      batch size above N fails at the first step with the error PyTorch's CPU
      allocator raises when memory runs out;
  TRAINWATT_NO_TORCHVISION=1  use the definition below even when torchvision
      imports.
"""
import argparse
import json
import math
import os
import signal
import sys
import time

EXIT_ERROR, EXIT_USAGE, EXIT_OOM, EXIT_CANCELLED = 1, 2, 3, 130
SYNTHETIC_DEFAULT_IMAGES = 640
SYNTHETIC_CLASSES = 10
DEFAULT_IMAGE_SIZE = 32
STEP_EVERY_S = 0.2
CIFAR_RECORD = 1 + 3 * 32 * 32
CIFAR_TRAIN_FILES = ["data_batch_%d.bin" % i for i in range(1, 6)]
CIFAR_TEST_FILE = "test_batch.bin"
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
OOM_MARKERS = ("out of memory", "can't allocate memory", "outofmemoryerror", "memoryerror",
               "cudnn_status_not_enough_memory", "cublas_status_alloc_failed")
MASK64 = (1 << 64) - 1


def emit(kind, **fields):
    """Write one protocol line to stdout (non-finite numbers become null)."""
    msg = {"trainwatt": kind}
    for k, v in fields.items():
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        msg[k] = v
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


class Failure(Exception):
    """A run that cannot go on: the message is for the user, `code` the exit status."""

    def __init__(self, message, code=EXIT_ERROR):
        Exception.__init__(self, message)
        self.code = code


# ---------------------------------------------------------------- options


def parse_data(s):
    kind, sep, rest = s.partition(":")
    if kind == "synthetic" and not sep:
        return ("synthetic", SYNTHETIC_DEFAULT_IMAGES)
    if kind == "synthetic":
        if rest.isdigit() and int(rest) >= 2:
            return ("synthetic", int(rest))
        raise argparse.ArgumentTypeError(
            "`synthetic:%s`: expected a number of images of at least 2, e.g. `synthetic:640`" % rest)
    if kind in ("cifar10", "folder"):
        if sep and rest:
            return (kind, rest)
        raise argparse.ArgumentTypeError("`%s`: give the directory, e.g. `%s:/data/%s`" % (s, kind, kind))
    raise argparse.ArgumentTypeError(
        "`%s`: expected `synthetic`, `synthetic:N`, `cifar10:DIR` or `folder:DIR`" % s)


def data_name(spec):
    return "%s:%s" % spec


def parse_device(s):
    if s in ("auto", "cpu"):
        return s
    if s == "cuda":
        return "cuda:0"
    if s.startswith("cuda:") and s[5:].isdigit():
        return "cuda:%d" % int(s[5:])
    raise argparse.ArgumentTypeError("`%s`: expected `auto`, `cpu`, `cuda` or `cuda:N`" % s)


def int_at_least(low, high=None):
    def parse(s):
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError("`%s`: expected a whole number" % s)
        if v < low or (high is not None and v > high):
            span = "at least %d" % low if high is None else "in %d..=%d" % (low, high)
            raise argparse.ArgumentTypeError("%d is not %s" % (v, span))
        return v
    return parse


class Parser(argparse.ArgumentParser):
    """Bad options are reported as a protocol `done` line too, so the session says why."""

    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write("%s: error: %s\n" % (self.prog, message))
        emit("done", status="error", message="bad option: " + message)
        sys.exit(EXIT_USAGE)


def parse_args(argv):
    p = Parser(prog="trainwatt_train.py", description="ResNet18 training that reports to trainwatt.")
    p.add_argument("--model", choices=["resnet18", "resnet18-cifar"],
                   help="network [default: resnet18-cifar up to 64-pixel images, resnet18 above]")
    p.add_argument("--data", type=parse_data, default=parse_data("synthetic"), metavar="SPEC",
                   help="synthetic[:N], cifar10:DIR or folder:DIR [default: synthetic]")
    p.add_argument("--batch-size", type=int_at_least(1), default=16)
    p.add_argument("--epochs", type=int_at_least(1), default=3)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--seed", type=int_at_least(0), default=42)
    p.add_argument("--threads", type=int_at_least(1), help="CPU threads [default: all cores]")
    p.add_argument("--device", type=parse_device, default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--augment", action="store_true",
                   help="random crops (4-pixel padding) and flips for cifar10/folder images")
    p.add_argument("--image-size", type=int_at_least(8, 1024), help="side in pixels [default: 32]")
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--steps-per-epoch", type=int_at_least(1), metavar="N")
    p.add_argument("--save-model", metavar="PATH", help="torch.save the state_dict here at the end")
    p.add_argument("--inject-oom-above", type=int, metavar="N", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    a.image_size = a.image_size or DEFAULT_IMAGE_SIZE
    if a.model is None:
        a.model = "resnet18-cifar" if a.image_size <= 64 else "resnet18"
    if a.threads is None:
        a.threads = available_cores()
    hook = os.environ.get("TRAINWATT_TEST_INJECT_OOM_ABOVE", "")
    if a.inject_oom_above is None and hook:
        if not hook.isdigit():
            p.error("TRAINWATT_TEST_INJECT_OOM_ABOVE=%s: expected a batch size" % hook)
        a.inject_oom_above = int(hook)
    return a


def available_cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def val_count(total, val_fraction):
    """Images held out: at least one on each side when the fraction is positive."""
    if total < 2 or val_fraction <= 0.0 or not math.isfinite(val_fraction):
        return 0
    v = int(math.floor(total * min(val_fraction, 1.0) + 0.5))
    return max(1, min(v, total - 1))


def steps_per_epoch(train_images, batch_size, cap):
    """Full batches only (batch norm cannot train on one image), capped by --steps-per-epoch."""
    full = train_images // max(batch_size, 1)
    return full if cap is None else min(full, cap)


# ---------------------------------------------------------------- data


class Rng(object):
    """splitmix64, as the tch trainer's: the same seed gives the same split and crops."""

    def __init__(self, seed):
        self.state = (seed ^ 0x5DEECE66D1CE4E5B) & MASK64

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def permutation(self, n):
        v = list(range(n))
        for i in range(n - 1, 0, -1):
            j = self.next_u64() % (i + 1)
            v[i], v[j] = v[j], v[i]
        return v


class Dataset(object):
    """Images in memory: `train` and `val` are (images, labels) tensor pairs."""

    def __init__(self, classes, side, train, val, norm, augmentable):
        self.classes, self.side = classes, side
        self.train, self.val = train, val
        self.norm, self.augmentable = norm, augmentable

    def batch(self, split, idx, device, rng):
        import torch.nn.functional as F
        xs = split[0].index_select(0, idx).to(device)
        ys = split[1].index_select(0, idx).to(device)
        if self.norm is not None:
            mean, std = self.norm
            xs = (xs.float() / 255.0 - mean.to(device)) / std.to(device)
        if xs.shape[2] != self.side or xs.shape[3] != self.side:
            xs = F.interpolate(xs, size=(self.side, self.side), mode="bilinear", align_corners=False)
        if rng is not None and self.augmentable:
            xs = augment_batch(xs, rng)
        return xs, ys


def augment_batch(xs, rng):
    """Per image: a horizontal flip (half the time), then a random crop of the 4-pixel-padded image."""
    import torch
    import torch.nn.functional as F
    n, side = xs.shape[0], xs.shape[2]
    flips = [rng.next_u64() & 1 == 1 for _ in range(n)]
    flip = torch.tensor(flips, dtype=torch.bool).view(n, 1, 1, 1).to(xs.device)
    xs = torch.where(flip, xs.flip(3), xs)
    padded = F.pad(xs, (4, 4, 4, 4))
    crops = []
    for i in range(n):
        dy, dx = rng.next_u64() % 9, rng.next_u64() % 9
        crops.append(padded[i, :, dy:dy + side, dx:dx + side])
    return torch.stack(crops, 0)


def norm_tensors(mean, std):
    import torch
    return torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)


def bytes_tensor(data):
    import torch
    buf = bytearray(data)
    if hasattr(torch, "frombuffer"):
        return torch.frombuffer(buf, dtype=torch.uint8).clone()
    return torch.ByteTensor(torch.ByteStorage.from_buffer(bytes(buf))).clone()


class Raw(object):
    """A dataset as read from disk, before torch: pixel bytes (N x 3 x side x side) and labels."""

    def __init__(self, classes, side, pixels, labels, test=None):
        self.classes, self.side = classes, side
        self.pixels, self.labels, self.test = pixels, labels, test


def read_dataset(a):
    """Read cifar10/folder files (pure Python: bad files are reported before torch loads).
    None for synthetic data, which is generated with torch."""
    if not 0.0 <= a.val_fraction < 1.0:
        raise Failure("--val-fraction %r: expected a share in [0, 1)" % a.val_fraction)
    kind, arg = a.data
    try:
        if kind == "cifar10":
            return read_cifar10(arg)
        if kind == "folder":
            return read_folder(arg, a.image_size)
        return None
    except Failure as e:
        raise Failure("dataset %s: %s" % (data_name(a.data), e), e.code)


def make_dataset(a, raw):
    """The dataset as tensors: generated (synthetic) or converted from `raw`, and split."""
    import torch
    if raw is None:
        return synthetic(a.data[1], a.image_size, a.val_fraction, a.seed)
    n = len(raw.labels)
    images = bytes_tensor(raw.pixels).view(n, 3, raw.side, raw.side)
    labels = bytes_tensor(raw.labels).to(torch.int64)
    if raw.test is not None:
        train, _ = split_from(images, labels, 0.0, a.seed)
        px, lb = raw.test
        val = (bytes_tensor(px).view(len(lb), 3, 32, 32), bytes_tensor(lb).to(torch.int64))
    else:
        train, val = split_from(images, labels, a.val_fraction, a.seed)
    cifar = a.data[0] == "cifar10"
    norm = norm_tensors(CIFAR_MEAN if cifar else IMAGENET_MEAN, CIFAR_STD if cifar else IMAGENET_STD)
    return Dataset(raw.classes, a.image_size, train, val, norm, True)


def synthetic(n, side, val_fraction, seed):
    """A coarse random 4x4 pattern per class, smoothly upsampled, plus noise stronger than it."""
    import torch
    import torch.nn.functional as F
    torch.manual_seed(seed)
    patterns = F.interpolate(torch.randn(SYNTHETIC_CLASSES, 3, 4, 4), size=(side, side),
                             mode="bilinear", align_corners=False)
    labels = torch.randint(SYNTHETIC_CLASSES, (n,), dtype=torch.int64)
    xs = patterns.index_select(0, labels) + torch.randn(n, 3, side, side) * 1.5
    t = n - val_count(n, val_fraction)
    return Dataset(SYNTHETIC_CLASSES, side, (xs[:t], labels[:t]), (xs[t:], labels[t:]), None, False)


def split_from(images, labels, val_fraction, seed):
    import torch
    n = labels.shape[0]
    t = n - val_count(n, val_fraction)
    perm = torch.tensor(Rng(seed).permutation(n), dtype=torch.int64)
    tr, va = perm[:t], perm[t:]
    return (images.index_select(0, tr), labels.index_select(0, tr)), \
        (images.index_select(0, va), labels.index_select(0, va))


def read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except (IOError, OSError) as e:
        raise Failure("%s: %s" % (path, e.strerror or e))


def parse_cifar_file(path, data):
    """Pixel bytes and labels of one CIFAR-10 binary file, with errors naming it."""
    if not data or len(data) % CIFAR_RECORD != 0:
        raise Failure(
            "%s: %d bytes is not a whole number of %d-byte CIFAR-10 records (1 label byte, then "
            "1024 red, 1024 green and 1024 blue bytes); is this the binary version "
            "(cifar-10-binary.tar.gz), not the Python one?" % (path, len(data), CIFAR_RECORD))
    labels = bytearray(data[0::CIFAR_RECORD])
    if max(labels) > 9:
        i = next(k for k, v in enumerate(labels) if v > 9)
        raise Failure("%s: record %d (byte %d): label %d is not a CIFAR-10 class (0 to 9)"
                      % (path, i + 1, i * CIFAR_RECORD, labels[i]))
    pixels = bytearray()
    for off in range(0, len(data), CIFAR_RECORD):
        pixels += data[off + 1:off + CIFAR_RECORD]
    return pixels, labels


def read_cifar_files(paths):
    pixels, labels = bytearray(), bytearray()
    for p in paths:
        px, lb = parse_cifar_file(p, read_bytes(p))
        pixels += px
        labels += lb
    return pixels, labels


def read_cifar10(d):
    expected = ("the CIFAR-10 binary version: data_batch_1.bin ... data_batch_5.bin and "
                "test_batch.bin (cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html)")
    if not os.path.isdir(d):
        raise Failure("%s: not found; expected a directory holding %s" % (d, expected))
    nested = os.path.join(d, "cifar-10-batches-bin")
    if not os.path.exists(os.path.join(d, CIFAR_TRAIN_FILES[0])) and os.path.isdir(nested):
        d = nested
    present = [os.path.join(d, f) for f in CIFAR_TRAIN_FILES if os.path.exists(os.path.join(d, f))]
    if not present:
        raise Failure("%s: not found; expected %s" % (os.path.join(d, CIFAR_TRAIN_FILES[0]), expected))
    pixels, labels = read_cifar_files(present)
    test = os.path.join(d, CIFAR_TEST_FILE)
    return Raw(10, 32, pixels, labels, read_cifar_files([test]) if os.path.exists(test) else None)


def sorted_entries(d):
    try:
        return [os.path.join(d, e) for e in sorted(os.listdir(d))]
    except OSError as e:
        raise Failure("%s: %s" % (d, e.strerror or e))


def open_image_module():
    try:
        from PIL import Image
    except ImportError:
        raise Failure("reading PNG/JPEG images needs Pillow, which this Python (%s) lacks: "
                      "install it with `%s -m pip install pillow`" % (sys.executable, sys.executable))
    return Image


def read_folder(d, side):
    """One subfolder per class (sorted by name) of PNG/JPEG images, resized to `side`."""
    expected = "a directory with one subfolder per class, each holding .png/.jpg/.jpeg images"
    if not os.path.isdir(d):
        raise Failure("%s: not found; expected %s" % (d, expected))
    class_dirs = [p for p in sorted_entries(d) if os.path.isdir(p)]
    if len(class_dirs) < 2:
        raise Failure("%s: found %d class subfolder(s); expected %s, at least two classes"
                      % (d, len(class_dirs), expected))
    Image = open_image_module()
    pixels, labels = bytearray(), bytearray()
    for cls, cdir in enumerate(class_dirs):
        files = [p for p in sorted_entries(cdir)
                 if os.path.isfile(p) and p.lower().endswith(IMAGE_EXTENSIONS)]
        if not files:
            raise Failure("%s: class folder holds no .png/.jpg/.jpeg images; every class needs "
                          "at least one" % cdir)
        for f in files:
            try:
                img = Image.open(f)
                img = img.convert("RGB").resize((side, side), Image.BILINEAR)
            except Exception as e:  # PIL raises several kinds for undecodable files
                raise Failure("%s: cannot decode the image: %s" % (f, e))
            hwc = img.tobytes()
            for c in range(3):  # interleaved RGB to planes (CHW), as CIFAR stores them
                pixels += hwc[c::3]
            labels.append(cls)
    return Raw(len(class_dirs), side, pixels, labels)


# ---------------------------------------------------------------- model


def resnet18_module():
    """torchvision's resnet18 constructor when torchvision imports, else None."""
    if os.environ.get("TRAINWATT_NO_TORCHVISION") == "1":
        return None
    try:
        import torchvision
        from torchvision.models import resnet18
    except Exception:  # absent, or built for another torch (operator errors)
        return None
    return resnet18, "torchvision " + torchvision.__version__


def define_resnet18(classes):
    """torchvision's ResNet18 layout and parameter names, for machines without torchvision."""
    import torch.nn as nn

    class BasicBlock(nn.Module):
        def __init__(self, c_in, c_out, stride, downsample):
            nn.Module.__init__(self)
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(c_out)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(c_out)
            self.downsample = downsample

        def forward(self, x):
            y = self.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            y = y + (x if self.downsample is None else self.downsample(x))
            return self.relu(y)

    class ResNet(nn.Module):
        def __init__(self):
            nn.Module.__init__(self)
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            c_in = 64
            for i, (c_out, stride) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)]):
                down = None
                if stride != 1 or c_in != c_out:
                    down = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                         nn.BatchNorm2d(c_out))
                blocks = [BasicBlock(c_in, c_out, stride, down), BasicBlock(c_out, c_out, 1, None)]
                setattr(self, "layer%d" % (i + 1), nn.Sequential(*blocks))
                c_in = c_out
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(512, classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.avgpool(x).flatten(1))

    return ResNet()


def build_model(kind, classes, seed):
    """ResNet18 (`resnet18-cifar`: 3x3 stride-1 stem, no max-pool), initialised from `seed`
    the way torchvision initialises it, so both implementations start from the same weights."""
    import torch
    import torch.nn as nn
    tv = resnet18_module()
    model = tv[0](num_classes=classes) if tv else define_resnet18(classes)
    if kind == "resnet18-cifar":
        model.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        model.maxpool = nn.Identity()
    torch.manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1.0)
            nn.init.constant_(m.bias, 0.0)
        elif isinstance(m, nn.Linear):
            m.reset_parameters()
    return model, (tv[1] if tv else "trainwatt_train.py")


# ---------------------------------------------------------------- running


class Cancel(object):
    """SIGTERM/SIGINT set a flag the loop reads before each step."""

    def __init__(self):
        self.signal = None
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.handle)

    def handle(self, signum, frame):
        self.signal = signum

    def __bool__(self):
        return self.signal is not None

    __nonzero__ = __bool__


def is_oom(e):
    if isinstance(e, MemoryError):
        return True
    text = ("%s: %s" % (type(e).__name__, e)).lower()
    return any(m in text for m in OOM_MARKERS)


def first_line(e):
    lines = str(e).strip().splitlines()
    return "%s: %s" % (type(e).__name__, lines[0] if lines else "")


def resolve_device(spec):
    import torch
    if spec == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return spec
    n, count = int(spec[5:]), torch.cuda.device_count() if torch.cuda.is_available() else 0
    if n >= count:
        hint = ""
        if count == 0:
            hint = (" (a CPU-only PyTorch, or no visible GPU); use --device cpu, or install "
                    "a CUDA build of PyTorch")
        raise Failure("--device %s: PyTorch %s sees %d CUDA device(s)%s" % (spec, torch.__version__, count, hint))
    return spec


def start_line(a, ds, steps, device, impl):
    import torch
    emit("start", model=a.model, dataset=data_name(a.data), batch_size=a.batch_size,
         epochs=a.epochs, steps=steps, train_images=int(ds.train[1].shape[0]),
         val_images=int(ds.val[1].shape[0]), lr=a.lr, device=device, threads=a.threads,
         seed=a.seed, momentum=a.momentum, weight_decay=a.weight_decay, image_size=a.image_size,
         augment=a.augment, val_fraction=a.val_fraction, classes=ds.classes, trainer="python",
         framework="pytorch " + torch.__version__, resnet=impl,
         python="%d.%d.%d" % sys.version_info[:3])


def evaluate(model, ds, device, bs, cancel):
    """Validation accuracy (None without validation images), or the string "cancelled"."""
    import torch
    n = int(ds.val[1].shape[0])
    if n == 0:
        return None
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, n, bs):
            if cancel:
                return "cancelled"
            idx = torch.arange(start, min(start + bs, n), dtype=torch.int64)
            xs, ys = ds.batch(ds.val, idx, device, None)
            correct += int((model(xs).argmax(1) == ys).sum().item())
    model.train()
    return correct / float(n)


class Where(object):
    """Where the run stands, for messages about how it ended."""
    epoch, step = 0, 0


def inject_oom(a):
    """Test hook: fail like PyTorch's CPU allocator does when memory runs out."""
    raise RuntimeError(
        "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
        "you tried to allocate %d bytes (injected by the test hook for batch sizes above %d; batch size %d)"
        % (a.batch_size * 64 * a.image_size ** 2 * 4, a.inject_oom_above, a.batch_size))


def train_epoch(a, model, opt, ds, steps, device, rng, cancel, at, totals):
    """One epoch of SGD steps. Returns (loss sum, hits, images) with the sums still on the device."""
    import torch
    import torch.nn.functional as F
    bs = a.batch_size
    perm = torch.randperm(int(ds.train[1].shape[0]))
    loss_sum = torch.zeros((), device=device)
    hits = torch.zeros((), dtype=torch.int64, device=device)
    images, t0 = 0, time.monotonic()
    for step in range(1, steps + 1):
        at.step = step
        if cancel:
            return None
        if a.inject_oom_above is not None and bs > a.inject_oom_above:
            inject_oom(a)
        xs, ys = ds.batch(ds.train, perm[(step - 1) * bs:step * bs], device, rng)
        logits = model(xs)
        loss = F.cross_entropy(logits, ys)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            loss_sum += loss.detach() * bs
            hits += (logits.argmax(1) == ys).sum()
        images += bs
        totals[0] += bs
        now = time.monotonic()
        if step == steps or totals[1] is None or now - totals[1] >= STEP_EVERY_S:
            totals[1] = now  # loss.item() synchronises a GPU: only when a line is due
            secs = now - t0
            emit("step", epoch=at.epoch, step=step, steps=steps, loss=float(loss.item()),
                 images=totals[0], images_per_s=images / secs if secs > 0 else None)
    return loss_sum, hits, images


def train(a, cancel, at):
    """The whole run; returns (status, message)."""
    raw = read_dataset(a)  # before torch loads (seconds on a small board): bad files fail fast
    import torch
    torch.set_num_threads(a.threads)
    device = resolve_device(a.device)
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    ds = make_dataset(a, raw)
    train_n = int(ds.train[1].shape[0])
    steps = steps_per_epoch(train_n, a.batch_size, a.steps_per_epoch)
    if steps == 0:
        raise Failure("--batch-size %d is larger than the %d training images of %s; use a smaller "
                      "batch size or more images" % (a.batch_size, train_n, data_name(a.data)))
    model, impl = build_model(a.model, ds.classes, a.seed)
    model = model.to(device).train()
    start_line(a, ds, steps, device, impl)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum,
                          weight_decay=a.weight_decay)
    rng = Rng(a.seed) if a.augment else None
    totals = [0, None]  # images so far, time of the last step line
    for epoch in range(1, a.epochs + 1):
        at.epoch, at.step = epoch, 0
        done = train_epoch(a, model, opt, ds, steps, device, rng, cancel, at, totals)
        if done is None:
            return "cancelled", "cancelled at epoch %d, step %d" % (epoch, at.step)
        loss_sum, hits, n = done
        val_acc = evaluate(model, ds, device, a.batch_size, cancel)
        if val_acc == "cancelled":
            return "cancelled", "cancelled during validation after epoch %d" % epoch
        emit("epoch_end", epoch=epoch, loss=loss_sum.item() / n, acc=hits.item() / float(n),
             val_acc=val_acc, images=totals[0])
    if a.save_model:
        try:
            torch.save(model.state_dict(), a.save_model)
        except (IOError, OSError, RuntimeError) as e:
            raise Failure("training finished but the weights could not be written to %s: %s"
                          % (a.save_model, e))
        return "completed", "weights saved to %s" % a.save_model
    return "completed", None


def main(argv):
    a = parse_args(argv)
    cancel, at = Cancel(), Where()
    try:
        status, message = train(a, cancel, at)
    except Failure as e:
        status, message, code = "error", str(e), e.code
    except Exception as e:  # MemoryError and torch's OOM errors included
        if not is_oom(e):
            import traceback
            traceback.print_exc()
            status, message, code = "error", "PyTorch failed at epoch %d, step %d: %s" % (
                at.epoch, at.step, first_line(e)), EXIT_ERROR
        else:
            status, code = "out_of_memory", EXIT_OOM
            message = "out of memory at batch size %d (epoch %d, step %d): %s" % (
                a.batch_size, at.epoch, at.step, first_line(e))
    else:
        code = EXIT_CANCELLED if status == "cancelled" else 0
    if status != "completed":
        sys.stderr.write("trainwatt_train.py: %s\n" % message)
    emit("done", status=status, message=message)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
