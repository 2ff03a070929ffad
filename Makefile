# Two commands on a fresh machine: `make run` (set up + main job), `make test` (set up + tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The shared offline datasets (Multi30k, Flickr8k, CIFAR-10, MNIST); unset it to download from the public origins.
export PIPELINE_DATASETS ?= $(abspath ../shared/datasets)
export RAY_AUTH_MODE ?= disabled

.PHONY: setup lint run test test-fast serve loadtest bench bench-peer clean-runs

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned: pip takes the CPU build from this machine's disk (CUDA build on a GPU machine)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test]"
	# the adversarial parity tests' peer library; --no-deps: its declared deps would replace the pinned torch
	$(BIN)/pip install -q --no-deps torchattacks==3.5.1
	@command -v java >/dev/null || echo "note: no Java runtime: METEOR and the PTB tokenizer are skipped (apt-get install default-jre-headless)"
	touch $@

setup: $(BIN)/.installed

# Main job, quick CPU preset: prepare Multi30k, train EN→DE, score test_2016_flickr (greedy and beam 5).
run: setup
	$(BIN)/pipeline train conf/translate_en_de.yaml --preset quick
	$(BIN)/pipeline evaluate --config conf/translate_en_de.yaml --preset quick --splits test_2016_flickr --beam-size 1 5

# ruff (pyproject: pycodestyle, pyflakes, isort, bugbear, pyupgrade, mccabe ≤ 10) and the formatter's check.
LINT_PATHS := pipeline serving tests $(wildcard scripts)
lint: setup
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

test: setup
	$(BIN)/pytest -q

test-fast: setup
	$(BIN)/pytest -q -m "not slow"

# Training throughput (vectorised vs per-step loop) on the reference model, decoding speed with the quick model.
bench: setup
	$(BIN)/pipeline bench --checkpoint data/runs/en_de_quick/checkpoints/best.pt

# Ray Serve app on 127.0.0.1 (conf/serve.yaml): needs the quick checkpoints (`make run`, and
# `pipeline train conf/caption_flickr8k.yaml --preset quick` for /v1/caption).
serve: setup
	$(BIN)/pipeline serve --config conf/serve.yaml

# Load benchmark against a local app: 1/8/32 clients, batching on vs off, translate and caption.
# The label recorded with the results: this machine's core count and CPU model (pause other jobs first).
MACHINE ?= $(shell nproc)-core VM, $(shell grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), idle
loadtest: setup
	$(BIN)/pipeline loadtest --out data/bench --overload 256 --machine "$(MACHINE)"

# Peer comparison with JoeyNMT 2.3.0 (in its own venv) on Multi30k EN→DE, same architecture, threads and
# wall time each, one after the other (docs/peer_benchmark.md): about 35 min with the defaults.
PEER_VENV ?= .venv-peer
MINUTES ?= 10
THREADS ?= 2
PRECISION ?= fp32  # the pipeline's training precision: fp32 or bf16 (CPU autocast; pays with AMX)
TARGET_BLEU ?=  # optional: also time both to this beam-5 BLEU (JoeyNMT's figure from a MINUTES=20 run)

$(PEER_VENV)/.installed:
	$(PYTHON) -m venv $(PEER_VENV)
	# torch first, pinned: the CPU build from this machine's disk, so JoeyNMT's requirements pull no CUDA build
	$(PEER_VENV)/bin/pip install -q torch==2.13.0
	# importlib_metadata: needed under torch 2.13 but not declared; subword-nmt: the joint BPE (a JoeyNMT dependency)
	$(PEER_VENV)/bin/pip install -q joeynmt==2.3.0 importlib_metadata subword-nmt==0.3.8
	touch $@

bench-peer: setup $(PEER_VENV)/.installed
	$(BIN)/python scripts/bench_peer.py --minutes $(MINUTES) --threads $(THREADS) --precision $(PRECISION) --peer-python $(PEER_VENV)/bin/python \
		$(if $(strip $(TARGET_BLEU)),--target-bleu $(TARGET_BLEU))

clean-runs:
	rm -rf data/runs data/reports
