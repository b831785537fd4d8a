# Two commands do all the set-up on a fresh machine:
#   make run    the TUI: train ResNet18 here, live, beside a recorded session
#   make test   the tests
# libtorch is assembled from PyPI wheels by scripts/fetch_libtorch.py (cached
# per user); set LIBTORCH or LIBTORCH_USE_PYTORCH to use your own instead.

CARGO ?= cargo
PYTHON ?= python3
LIBTORCH_STAMP := .libtorch/libtorch/build-version

.PHONY: run test libtorch build bench clippy fmt ci clean-libtorch

run: libtorch
	$(CARGO) run --release -- watch $(ARGS)

test: libtorch
	$(CARGO) test --all-targets --features test-util
	$(CARGO) test --doc

build: libtorch
	$(CARGO) build --release

# Fetches nothing when LIBTORCH or LIBTORCH_USE_PYTORCH is set.
libtorch:
	@$(PYTHON) scripts/fetch_libtorch.py

bench: libtorch
	$(CARGO) bench

clippy: libtorch
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --check

ci: test clippy fmt

clean-libtorch:
	rm -rf .libtorch
