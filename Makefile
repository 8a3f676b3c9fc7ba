# The two commands of the README: `make demo` and `make test`.
# Each creates (or refreshes, when pyproject.toml changes) a local .venv and installs gestes into it.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint format bench examples clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/gestes demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# `make bench` runs every benchmark (each benchmarks/*.py with a __main__), one at a time and
# niced (many minutes; each prints its table and saves JSON in benchmarks/results/);
# `make bench BENCH=startup` runs one. The registration benchmarks also compare with peers when
# they are installed: pip install -e '.[dev,peers]'. The A/B scripts (*_ab.py) compare two
# checkouts given on their command line: run them by hand (their docstrings say how).
BENCH ?= $(filter-out %_ab,$(basename $(notdir $(shell grep -l '__main__' benchmarks/*.py))))

bench: $(STAMP)
	@for name in $(BENCH); do \
		echo "== benchmarks.$$name"; \
		nice $(VENV)/bin/python -m benchmarks.$$name || exit 1; \
	done

# Every command example of the README and docs/, as written and in order, each page in a scratch
# folder (5-10 min; `make examples PAGE=navigation` runs one page).
examples: $(STAMP)
	$(VENV)/bin/python scripts/doc_examples.py $(if $(PAGE),--page $(PAGE))

# Numba's on-disk cache does not notice when a kernel inlined from another module changes:
# after editing registration/, `make clean` (or deleting __pycache__/*.nbi, *.nbc) recompiles.
clean:
	rm -rf $(VENV) gestes-demo .pytest_cache
	find . -path ./.venv -prune -o -name '*.nb[ic]' -exec rm -f {} +
