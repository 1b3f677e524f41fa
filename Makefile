# Two commands do all the set-up on a fresh machine with only Python: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint clean

# Re-install only when the project's metadata changes; the stamp keeps `make test` fast on a warm venv.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Plan (writes nothing), write the canonical tree into build/ (git-ignored, so the fixtures stay clean), then
# prove it on a private PostgreSQL started for the command (DATABASE_URL, when set, is used instead).
demo: $(STAMP)
	$(BIN)/consolidate plan --mapping mapping.yaml
	$(BIN)/consolidate apply --mapping mapping.yaml
	$(BIN)/consolidate verify --mapping mapping.yaml
	@echo "report: build/deploy/migrations/CONSOLIDATION.md"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
