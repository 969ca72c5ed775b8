# The two commands a user needs: `make demo` and `make test`.
# Both set themselves up from nothing but Python 3.11, pip, git and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CHECKOV := $(VENV)/checkov/bin/checkov

.PHONY: demo test clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# checkov pins versions of packages that kes's own dependencies have outgrown, so it has
# an environment of its own; tests/deploy/test_linters.py runs it from there.
$(CHECKOV): | $(BIN)/.installed
	$(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/python -m pip install --quiet 'checkov==3.3.30'

demo: $(BIN)/.installed
	$(BIN)/kes demo

test: $(BIN)/.installed $(CHECKOV)
	$(BIN)/ruff check .
	$(BIN)/mypy kes kes_emulators bench
	$(BIN)/pytest -n auto

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
