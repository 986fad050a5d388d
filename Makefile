# gradlab — the two commands on a fresh machine are `make demo` and `make test`.
# Every target creates .venv (Python 3.11+) and installs what it needs first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.gradlab-installed
PYTEST_ARGS ?=

.PHONY: install browser services demo test test-fast lint lab lab-instructor bench release clean

$(STAMP): pyproject.toml lib/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "gradlab needs Python 3.11 or newer; run: make PYTHON=python3.11 ...")'
	@# Debian's own python3 ships venv and ensurepip separately (python3-venv)
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; \
	  else echo "gradlab: $(PYTHON) cannot create virtual environments; install python3-venv (sudo apt-get install python3-venv)" >&2; exit 1; fi; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# both distributions, editable: the course library (lib/) and the grader with its tests
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ./lib -e '.[test]'
	touch $(STAMP)

## the grader runs student kernels under bubblewrap (gradlab_grader.kernel.sandbox); as root with apt,
## install it when missing; otherwise grading works with resource limits only and says so
install: $(STAMP)
	@command -v bwrap >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap; \
	  else echo "gradlab: bubblewrap (bwrap) is missing: student code will run without the sandbox; install it (sudo apt-get install bubblewrap)" >&2; fi; }

## make browser: Debian's chromium for the real-browser tests (Playwright comes with .[test];
## its own browser downloads are never used).  Root installs it with apt; anyone else is told.
CHROMIUM ?= /usr/bin/chromium
browser: install
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "gradlab: the real-browser tests need $(CHROMIUM): run 'sudo apt-get install chromium'" \
	       "(they are skipped without it, and fail when CI=true)" >&2; fi; }

## make services: Debian's PostgreSQL server binaries for the gradebook tests (tests/services.py
## starts a throw-away server in a temporary directory; nothing is enabled system-wide).
## Root installs them with apt; anyone else is told.
services: install
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
	  else echo "gradlab: the PostgreSQL gradebook tests need Debian's postgresql: run 'sudo apt-get install" \
	       "postgresql' (they are skipped without it, and fail when CI=true)" >&2; fi; }

## make demo: release, collect, autograde, feedback and export a bundled class into ./grading
demo: install
	$(BIN)/gradlab demo

## make test: the whole test suite (library, notebooks, grader), two workers
test: install browser services
	$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

## make test-fast: the library and unit tests, no kernels, browsers or services (a few minutes);
## a test that starts one unmarked fails (tests/conftest.py)
test-fast: install
	$(BIN)/python -m pytest -m "not kernel and not browser and not slow" -n 2 $(PYTEST_ARGS)

## make lint: ruff (style, bugs, import order) on everything, mypy on the grader (pyproject.toml)
lint: install
	@status=0; $(BIN)/ruff check . || status=1; $(BIN)/mypy || status=1; exit $$status

## make lab: JupyterLab for students on course/: Validate, widgets and ipympl, none of nbgrader's
## instructor tools (the settings the library's wheel installs for students, lib/jupyter-config,
## and lab/student's nbgrader_config.py)
AS_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
lab: install
	JUPYTER_CONFIG_PATH=$(CURDIR)/lib/jupyter-config:$(CURDIR)/lab/student $(BIN)/jupyter lab --ServerApp.root_dir=course $(AS_ROOT)

## make lab-instructor: JupyterLab in the grading workspace (WORKSPACE, default ./grading, released
## first if new) with nbgrader's formgrader and Create Assignment (settings in lab/instructor)
WORKSPACE ?= grading
lab-instructor: install
	test -f $(WORKSPACE)/nbgrader_config.py || $(BIN)/gradlab --workspace $(WORKSPACE) release
	cd $(WORKSPACE) && JUPYTER_CONFIG_PATH=$(CURDIR)/lab/instructor JUPYTER_PATH=$(CURDIR)/lab/instructor/share \
	  $(CURDIR)/$(BIN)/jupyter lab $(AS_ROOT)

## make bench: speed against the tools a user would otherwise run, side by side
bench: install browser
	$(BIN)/python bench/run.py

## make release: regenerate course/ from solutions/
release: install
	$(BIN)/gradlab release

clean:
	rm -rf $(VENV) grading .pytest_cache
