#!/usr/bin/env bash
# The virtualenv the Python trainer's tests and benchmark use: torch 2.13.0
# (the default PyPI wheel, several GB once with its CUDA dependencies), Pillow
# (the folder reader), vermin (the Python 3.6 compatibility check), and
# torchvision and numpy when they install (the script's own ResNet18 is used
# without them). Idempotent: creates or completes the venv when something is
# missing, else does nothing. Prints the venv's python on stdout; progress on
# stderr.
#
#   export TRAINWATT_PYTHON="$(scripts/python_venv.sh)"
set -euo pipefail
TORCH_VERSION=2.13.0
TORCHVISION_VERSION=0.28.0
VENV="${TRAINWATT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/trainwatt/venv-torch-$TORCH_VERSION}"
PY="$VENV/bin/python"

have() {
  # Package metadata only: importing torch takes seconds.
  "$PY" - "$@" <<'PYEOF' 2>/dev/null
import sys
try:
    from importlib.metadata import version, PackageNotFoundError
except ImportError:
    sys.exit(1)
for spec in sys.argv[1:]:
    name, _, want = spec.partition("==")
    try:
        got = version(name)
    except PackageNotFoundError:
        sys.exit(1)
    if want and got.split("+")[0] != want:
        sys.exit(1)
PYEOF
}

if [ ! -x "$PY" ]; then
  echo "python_venv: creating $VENV" >&2
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV" >&2
fi
if ! have "torch==$TORCH_VERSION" pillow vermin; then
  echo "python_venv: installing torch==$TORCH_VERSION, pillow and vermin into $VENV (several GB the first time)" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "torch==$TORCH_VERSION" pillow vermin >&2
fi
if ! have "torchvision==$TORCHVISION_VERSION" numpy; then
  echo "python_venv: installing torchvision==$TORCHVISION_VERSION and numpy (optional)" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps "torchvision==$TORCHVISION_VERSION" numpy >&2 \
    || echo "python_venv: torchvision did not install; the trainer uses its own ResNet18 definition" >&2
fi
echo "$PY"
