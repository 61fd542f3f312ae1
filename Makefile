# The two commands of the README: `make run` and `make test`. Each sets itself up first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PORT ?= 8501
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TF_CPP_MIN_LOG_LEVEL := 2

# `make run CATALOG=catalogs/fashion-products.toml`: your own catalog, prepared, built and served
# from its own folders (.catalogs/<name>/), beside the default Fashion-MNIST build.
CATALOG ?=
ifneq ($(CATALOG),)
CATALOG_NAME := $(basename $(notdir $(CATALOG)))
DATA_DIR := .catalogs/$(CATALOG_NAME)/data
ARTIFACTS_DIR := .catalogs/$(CATALOG_NAME)/artifacts
else
DATA_DIR := data
ARTIFACTS_DIR := artifacts
endif

API_HOST ?= 127.0.0.1
API_PORT ?= 8000

.PHONY: run test test-fast results lint api milvus-server setup setup-dev data data-package words wordnet browser build evaluate bench bench-scale bench-load clean

run: setup data words wordnet build
	MULTIMODAL_DATA=$(DATA_DIR) MULTIMODAL_ARTIFACTS=$(ARTIFACTS_DIR) $(PY) -m streamlit run streamlit_app.py --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

# Random order (pytest-randomly); the header says `Using --randomly-seed=N`.
# Repeat an order: make test PYTEST_ARGS=--randomly-seed=N; keep file order: PYTEST_ARGS="-p no:randomly".
# Two workers share one toy build, cached by the code's fingerprint in .cache/toy-build/.
PYTEST_ARGS ?=
PYTEST_WORKERS ?= 2
test: setup-dev data-package words wordnet browser lint
	$(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# The unit tier: no model training, no build (tests marked slow are left out).
test-fast: setup-dev lint
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# docs/results.md from the served metrics.json and benchmarks/results/*.json.
results: setup
	$(PY) -m multimodal results

lint: setup-dev
	$(PY) -m ruff check .

# The REST API on the built engine (docs at http://$(API_HOST):$(API_PORT)/docs).
api: setup data wordnet build
	$(PY) -m multimodal api --host $(API_HOST) --port $(API_PORT)

# A Milvus Lite gRPC server: a local stand-in for a Milvus cluster (see docker-compose.milvus.yml for the real one).
milvus-server: setup
	$(PY) -m multimodal milvus-server --port 19530

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(VENV)/bin/python
	$(PIP) install --disable-pip-version-check -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt requirements.txt | $(VENV)/bin/python
	$(PIP) install --disable-pip-version-check -q -r requirements-dev.txt
	touch $(VENV)/.installed $@

# Debian ships Fashion-MNIST; elsewhere the loader falls back to the Keras cache or download.
data-package:
	@if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null; \
	else \
		echo "note: install the Debian package dataset-fashion-mnist (as root), or set FASHION_MNIST_DIR;"; \
		echo "      otherwise Fashion-MNIST is read from ~/.keras/datasets or downloaded by Keras."; \
	fi

# Debian's English word list (wamerican): the evaluation measures false parses on ordinary words.
words:
	@if [ -f /usr/share/dict/words ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wamerican >/dev/null; \
	else \
		echo "note: install the Debian package wamerican (as root) to measure false parses on English words"; \
	fi

# Princeton WordNet (Debian's wordnet-base): the dictionary layer of query understanding reads it.
wordnet:
	@if [ -f /usr/share/wordnet/data.noun ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wordnet-base >/dev/null; \
	else \
		echo "note: install the Debian package wordnet-base (as root); without it text search reads unlisted words with the sentence model alone"; \
	fi

# Debian's Chromium for the browser test; Playwright drives it and downloads no browser itself.
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "note: install Debian's chromium to run the browser test; it is skipped without it"; \
	fi

data: data-package
ifneq ($(CATALOG),)
	@test -f $(DATA_DIR)/manifest.json || $(PY) -m multimodal prepare --catalog $(CATALOG) --data-dir $(DATA_DIR)
else
	@test -f data/manifest.json || $(PY) -m multimodal prepare
endif

build: setup data
	$(PY) -m multimodal build --data-dir $(DATA_DIR) --artifacts-dir $(ARTIFACTS_DIR)

evaluate: setup words
	$(PY) -m multimodal evaluate

# Warm query latency (median, p95) of the built engine.
bench: setup
	$(PY) benchmarks/latency.py

# Stores at 10k / 100k / 1M items (JSON in benchmarks/results/scale.json; tens of minutes).
bench-scale: setup build
	nice -n 5 $(PY) benchmarks/scale.py

# Concurrent API clients, 60 s per round (JSON in benchmarks/results/load.json).
bench-load: setup build
	nice -n 5 $(PY) benchmarks/load.py

clean:
	rm -rf artifacts/* data/*.npy data/*.csv data/manifest.json
