# Two commands do all the set-up on a fresh machine:
#   make run    the TUI: train ResNet18 here, live, beside a recorded session
#   make test   the tests
# libtorch is assembled from PyPI wheels by scripts/fetch_libtorch.py (cached
# per user); set LIBTORCH or LIBTORCH_USE_PYTORCH to use your own instead.

CARGO ?= cargo
PYTHON ?= python3
LIBTORCH_STAMP := .libtorch/libtorch/build-version

.PHONY: run test libtorch build bench clippy fmt ci clean-libtorch fuzz

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

# Fuzzing (needs nightly and `cargo install cargo-fuzz`): every target for
# FUZZ_SECONDS each, one after another, one job. The working corpus lives in
# fuzz/corpus/ (ignored), started from fuzz/seeds/ plus lines cut from the
# shared fixtures by fuzz/seed-corpus.sh; crashes land in fuzz/artifacts/.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= session_reader tegrastats nvidia_smi protocol theme

fuzz:
	@sh fuzz/seed-corpus.sh
	@for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz $$t for $(FUZZ_SECONDS) s"; \
	  (cd fuzz && $(CARGO) +nightly fuzz run $$t corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) -jobs=1 -workers=1 -max_len=65536 -timeout=10 -print_final_stats=1) || exit 1; \
	done
