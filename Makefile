# The two commands a user needs: `make demo` and `make test`.
# Both set themselves up from nothing but Python 3.11, pip, git and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/kes demo

test: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy kes kes_emulators bench
	$(BIN)/pytest -n auto

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
