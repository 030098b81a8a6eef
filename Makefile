# The README's two commands: `make run` (the main job) and `make test`. Each sets up first:
# a private uv in .tools/, then the locked environment in .venv/. Needs only python3 and make.
PYTHON ?= python3
# One pin for uv: the `build` group in pyproject.toml (BentoML builds with that copy).
UV_VERSION := $(shell sed -n 's/^build = \["uv==\([0-9.]*\)"\]/\1/p' pyproject.toml)
TOOLS := .tools
UV := $(TOOLS)/bin/uv
# The venv's own commands, called directly: no tool on PATH, and a signal to make reaches them
# (make forwards SIGTERM to its child; uv would be one more process in between).
BIN := .venv/bin

.PHONY: setup run serve test lint bench deploy clean service-requirements

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

setup: $(UV)
	$(UV) sync --frozen --python $(PYTHON)

run: setup
	$(BIN)/fleetcast pipeline
	$(BIN)/fleetcast serve --deployments

serve: setup
	$(BIN)/fleetcast serve

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: setup
	$(BIN)/python -m bench

# The Bento's lean requirements: service/requirements.in resolved with uv.lock as constraints, so
# every version is the lock's and only what the service imports is installed.
service-requirements: setup
	$(UV) export --frozen --no-default-groups --no-hashes --no-emit-project --no-header \
		--no-annotate -o .tools/locked.txt
	$(UV) pip compile service/requirements.in --constraints .tools/locked.txt --universal \
		--python-version 3.11 --no-header --no-annotate --offline -o service/requirements.txt

deploy: setup
	$(BIN)/fleetcast deploy

clean:
	-$(BIN)/fleetcast server stop
	-$(BIN)/fleetcast redis stop
	rm -rf .fleetcast
