# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP) ## create/update the virtual environment

PORT ?= 8080

run: $(STAMP) ## serve the bundled tenants and agents on 127.0.0.1:$(PORT) (in-memory store); make run PORT=8090
	$(BIN)/a2a-server serve --port $(PORT)

test: $(STAMP) ## the whole test suite (starts its own redis-server processes)
	@command -v redis-server >/dev/null || { echo "redis-server is required (apt-get install redis-server)"; exit 1; }
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet ruff mypy
	$(BIN)/ruff check a2a_server tests bench scripts
	$(BIN)/mypy

bench: $(STAMP) ## benchmark against the a2a-sdk reference server (see docs/performance.md)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) \
		|| { echo "wrk is required: apt-get install -y wrk"; exit 1; }
	@command -v redis-server >/dev/null || { echo "redis-server is required (apt-get install redis-server)"; exit 1; }
	@command -v valgrind >/dev/null || (apt-get update -qq && apt-get install -y -qq valgrind) \
		|| echo "valgrind not installed: issue 14 item 1 is reported by timed cells only"
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
