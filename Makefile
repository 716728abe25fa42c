# lava-causal: `make demo` and `make test` set up .venv themselves on a fresh machine.
# lava-nc needs Python 3.10 (>= 3.10, < 3.11) and numpy < 2.

VENV      := .venv
VPY       := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
OUT       ?= out

# A python3.10 that runs on PATH, else pyenv's newest 3.10.x, else nothing.
PYTHON310 := $(shell \
  if python3.10 -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; then \
    command -v python3.10; \
  elif command -v pyenv >/dev/null 2>&1; then \
    ls -d "$$(pyenv root)"/versions/3.10.*/bin/python3.10 2>/dev/null | sort -V | tail -n 1; \
  elif [ -d "$$HOME/.pyenv/versions" ]; then \
    ls -d "$$HOME"/.pyenv/versions/3.10.*/bin/python3.10 2>/dev/null | sort -V | tail -n 1; \
  fi)

.PHONY: demo test test-all bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@if [ ! -x "$(VPY)" ]; then \
	  if [ -z "$(PYTHON310)" ]; then \
	    echo "error: Python 3.10 not found (lava-nc needs 3.10). Put python3.10 on PATH or install it with 'pyenv install 3.10'." >&2; \
	    exit 1; \
	  fi; \
	  echo "creating $(VENV) with $(PYTHON310)"; \
	  "$(PYTHON310)" -m venv $(VENV); \
	fi
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(VPY) examples/demo.py --out $(OUT)

test: $(STAMP)
	$(VPY) -m pytest -q

test-all: $(STAMP)
	RUN_SLOW=1 $(VPY) -m pytest -q

bench: $(STAMP)
	$(VPY) -m pip install -q -e '.[bench]'
	$(VPY) benchmarks/float_simulator.py
	$(VPY) benchmarks/emulator_vs_lava.py
	$(VPY) benchmarks/chip_accuracy.py
	$(VPY) benchmarks/error_budget.py

clean:
	rm -rf $(VENV) $(OUT) *.egg-info
