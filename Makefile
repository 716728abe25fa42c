# lava-causal: `make demo` and `make test` set up their environments themselves.
#
#   .venv       the core (problems, MAP, float simulator, compiler, emulator, budget,
#               placement, NIR): the newest Python >= 3.11 found, numpy 2, no Lava.
#   .venv-lava  the Lava backend: Python 3.10 (lava-nc 0.10 needs >= 3.10, < 3.11 and
#               numpy < 2), made only when a Python 3.10 is found.
#
# Pythons are looked up on PATH, then in pyenv's versions folder ($(pyenv root) or
# ~/.pyenv). With no Python >= 3.11 the core environment falls back to 3.10.

VENV      := .venv
VPY       := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
LAVA_VENV := .venv-lava
LPY       := $(LAVA_VENV)/bin/python
LSTAMP    := $(LAVA_VENV)/.installed
OUT       ?= out

PYENV_VERSIONS := $(shell if command -v pyenv >/dev/null 2>&1; then echo "$$(pyenv root)/versions"; \
  else echo "$$HOME/.pyenv/versions"; fi)

# find_python(minor list): the newest interpreter of those minors, on PATH or in pyenv.
define find_python
$(shell for minor in $(1); do \
  if python3.$$minor -c 'import sys; assert sys.version_info[:2] == (3, '$$minor')' >/dev/null 2>&1; then \
    command -v python3.$$minor; exit 0; fi; \
  found=$$(ls -d "$(PYENV_VERSIONS)"/3.$$minor.*/bin/python3.$$minor 2>/dev/null | sort -V | tail -n 1); \
  if [ -n "$$found" ]; then echo "$$found"; exit 0; fi; \
  done)
endef

PYTHON310  := $(call find_python,10)
PYTHONCORE := $(call find_python,14 13 12 11)
ifeq ($(strip $(PYTHONCORE)),)
PYTHONCORE := $(PYTHON310)
CORE_IS_LAVA := 1
endif

.PHONY: demo test test-core test-lava test-all bench venv venv-lava clean

venv: $(STAMP)

# The core environment; remade when it was built with another interpreter.
$(STAMP): pyproject.toml
	@if [ -z "$(PYTHONCORE)" ]; then \
	  echo "error: no Python >= 3.10 found on PATH or in $(PYENV_VERSIONS); install one (e.g. 'pyenv install 3.12')" >&2; \
	  exit 1; \
	fi
	@if [ -x "$(VPY)" ] && [ "$$($(VPY) -c 'import sys; print(sys.version.split()[0])')" != \
	     "$$($(PYTHONCORE) -c 'import sys; print(sys.version.split()[0])')" ]; then \
	  echo "removing $(VENV): made with another Python"; rm -rf $(VENV); fi
	@if [ ! -x "$(VPY)" ]; then echo "creating $(VENV) with $(PYTHONCORE)"; "$(PYTHONCORE)" -m venv $(VENV); fi
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[dev$(if $(CORE_IS_LAVA),$(comma)lava)]'
	@touch $(STAMP)

comma := ,

# The Lava environment (Python 3.10 only); a no-op that says why when there is none.
venv-lava:
	@if [ -z "$(PYTHON310)" ]; then \
	  echo "no Python 3.10 found (lava-nc 0.10 needs 3.10): the Lava backend is not set up"; \
	else $(MAKE) --no-print-directory $(LSTAMP); fi

$(LSTAMP): pyproject.toml
	@if [ ! -x "$(LPY)" ]; then echo "creating $(LAVA_VENV) with $(PYTHON310)"; "$(PYTHON310)" -m venv $(LAVA_VENV); fi
	$(LPY) -m pip install -q --upgrade pip
	$(LPY) -m pip install -q -e '.[dev,lava]'
	@touch $(LSTAMP)

# The demo runs in the core environment; its Lava comparison in the Lava one.
demo: $(STAMP) venv-lava
	$(VPY) examples/demo.py --out $(OUT) --lava skip
	@if [ -x "$(LPY)" ] && [ -f "$(LSTAMP)" ]; then \
	  $(LPY) examples/demo.py --out $(OUT) --lava only; \
	else echo "[lava fixed_pt] skipped: no Python 3.10 environment (lava-nc 0.10 needs Python 3.10)"; fi

# Both suites: the core one (everything not marked 'lava') on the core Python, the
# Lava one (tests marked 'lava') on 3.10 when there is one.
test: test-core test-lava

test-core: $(STAMP)
	@echo "== core suite on $$($(VPY) -c 'import sys; print("Python", sys.version.split()[0])')"
	$(VPY) -m pytest -q -m "not lava"

test-lava: venv-lava
	@if [ -x "$(LPY)" ] && [ -f "$(LSTAMP)" ]; then \
	  echo "== Lava suite on $$($(LPY) -c 'import sys, lava; from importlib.metadata import version; print("Python", sys.version.split()[0], "lava-nc", version("lava-nc"))')"; \
	  $(LPY) -m pytest -q -m lava; \
	else echo "== Lava suite skipped: no Python 3.10 found (lava-nc 0.10 needs Python 3.10)"; fi

test-all: $(STAMP) venv-lava
	RUN_SLOW=1 $(VPY) -m pytest -q -m "not lava"
	@if [ -x "$(LPY)" ]; then RUN_SLOW=1 $(LPY) -m pytest -q -m lava; fi

bench: $(STAMP) venv-lava
	$(VPY) -m pip install -q -e '.[bench]'
	$(VPY) benchmarks/float_simulator.py
	$(LPY) -m pip install -q -e '.[bench]'
	$(LPY) benchmarks/emulator_vs_lava.py
	$(LPY) benchmarks/decode.py
	$(VPY) benchmarks/chip_accuracy.py
	$(VPY) benchmarks/error_budget.py

clean:
	rm -rf $(VENV) $(LAVA_VENV) $(OUT) *.egg-info
