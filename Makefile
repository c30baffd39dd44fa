# Two entry points for a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install bench clean browser lint

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU wheel of torch lies on disk; ask for it first so nothing pulls a CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	# torch pinned again in the same line: no dependency may swap in another build
	$(BIN)/pip install -q -e '.[dev]' torch==2.13.0
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/difflab demo

test: $(STAMP) browser lint
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

# Headless Chromium + ChromeDriver (Debian) for the HTML report test; installed where we may (root with
# apt-get), else that one test is skipped with a note.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
		|| echo "note: could not install chromium; the browser test will be skipped"; \
	else echo "note: chromium/chromedriver missing and not root; the browser test will be skipped"; fi

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]' && $(BIN)/pip install -q --no-deps k-diffusion
	$(BIN)/difflab bench samplers
	$(BIN)/difflab bench quality
	$(BIN)/difflab bench throughput

clean:
	rm -rf $(VENV) runs .pytest_cache
