# The README's two commands: `make run` (the main job) and `make test`. Each sets up first:
# a private uv in .tools/, then the locked environment in .venv/. Needs only python3 and make.
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
RUN := $(UV) run --frozen

.PHONY: setup run test lint bench deploy clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

setup: $(UV)
	$(UV) sync --frozen --python $(PYTHON)

run: setup
	$(RUN) fleetcast pipeline
	$(RUN) fleetcast serve

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .

test: lint
	$(RUN) pytest

bench: setup
	$(RUN) python -m bench

deploy: setup
	$(RUN) fleetcast deploy

clean:
	-$(RUN) fleetcast server stop
	-$(RUN) fleetcast redis stop
	rm -rf .fleetcast
