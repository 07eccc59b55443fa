# Transfer Learning, Hands-On: every task of the book is one `make` target.
#   make book   set up, then build the website with every chapter executed
#   make test   set up, then run the whole test suite (what CI runs)
#   make lab    open the chapters in JupyterLab
#   make data   fetch and verify the data and weights (run it before a workshop; no npm)
#   make bench  time every chapter and measure its memory (benchmarks/results.md)
#   make bench-throughput  VGG16 images/second beside the machine's measured peak
#   make run CHAPTER=05 SCALE=gpu   run one chapter at a scale preset (laptop, workstation,
#               gpu; utils/scale.py) into _build/runs/, with a JSON record of its results
#   make dist   one archive for a room without network: the built website, the chapters,
#               the package and the verified data and weights (after `make book`)
#   make clean  remove the website build and what the chapters computed (features,
#               models, runs, converted weights); keep .venv and the downloads
#               (data/cache/downloads, data/cache/npm), so it all rebuilds offline
#   make distclean  remove the build and all of data/cache, downloads included
#   make hub    start a JupyterHub for a workshop in one room (NOT for the open internet):
#               HUB_USERS participants on HUB_IP:HUB_PORT (book/instructor-guide.md)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export TF_CPP_MIN_LOG_LEVEL := 3
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# pip gives up on a silent connection after 20 s and 2 retries, so `make setup`
# without network stops within about a minute, with a message that says what to
# do. Set either variable in the environment to change it.
export PIP_DEFAULT_TIMEOUT ?= 20
export PIP_RETRIES ?= 2
PIP_FAILED := echo "make setup: pip could not install the packages (see its message above). \
Without network, install from a wheelhouse: PIP_NO_INDEX=1 PIP_FIND_LINKS=\$$PWD/wheels make data \
(book/instructor-guide.md, step 2)." >&2; exit 1

.PHONY: setup data book site web-assets test lab bench bench-throughput bench-widgets run dist clean distclean hub hub-setup

# A claim of the text that no longer holds stops the tests, the website build and
# the benchmark (utils/checks.py); in JupyterLab it only warns the reader.
site test bench: export TLBOOK_CHECKS := strict

# The book runs on Python 3.11 to 3.13 (TensorFlow 2.21 has wheels for those); the
# Python that creates .venv/ is checked first.
PYTHON_CHECK := import sys; v = sys.version_info[:3]; sys.exit(None if (3, 11) <= v[:2] <= (3, 13) \
else "make: the book needs Python 3.11 to 3.13, but $(PYTHON) is %d.%d.%d. Name another one, \
for example: make PYTHON=python3.12 book" % v)

# The virtual environment is rebuilt only when pyproject.toml or constraints.txt changes:
# the book's packages (pyproject.toml: the chapters', TensorFlow, the website's and the
# tests') at the versions constraints.txt pins. Then a check that a chapter's
# `import utils` finds this book's package, not another one of that name (tools/check_utils.py).
$(BIN)/.installed: pyproject.toml $(wildcard constraints.txt)
	@test -x $(BIN)/python || { $(PYTHON) -c '$(PYTHON_CHECK)' && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip || { $(PIP_FAILED); }
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[tensorflow,book,test]" \
		|| { $(PIP_FAILED); }
	$(BIN)/python tools/check_utils.py
	@touch $@

setup: $(BIN)/.installed

# The hub's packages (the `hub` extra of pyproject.toml), only for `make hub` and `make test`.
$(BIN)/.installed-hub: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[tensorflow,book,test,hub]" \
		|| { $(PIP_FAILED); }
	@touch $@

# The hub's packages and its proxy, configurable-http-proxy from npm, pinned with every
# dependency and its sha512 in hub/package-lock.json and cached in data/cache/npm.
hub-setup: $(BIN)/.installed-hub
	@$(BIN)/python hub/launch.py --install-only

# The chapters' assets only: the website's JavaScript (npm) is fetched by site/book.
data: setup
	$(BIN)/python -m tools.prepare_data

book: data site
	@echo "The book is ready: $(CURDIR)/_build/html/index.html"

# The website build alone (tests/test_site.py and tests/test_browser.py call it);
# warnings are errors. Chapters execute with a cache: unchanged ones are not rerun.
site: web-assets
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going

# The JavaScript the pages load (require.js, the widget manager, MathJax), pinned
# and verified from the npm registry once, then cached: the site works offline.
web-assets: setup
	@$(BIN)/python book/fetch_web_assets.py

# The tests also need axe-core (the browser test's accessibility checks): pinned and
# cached like the web assets, but unpacked into _build/test-assets, never on the site.
# nbval executes each chapter once; tests/nbval_site_cache.py stores that execution in
# the site's jupyter-cache, so the browser test's `make site` does not run them again.
test: data web-assets hub-setup
	@$(BIN)/python book/fetch_web_assets.py --test-assets
	$(BIN)/python -m pytest notebooks tests --nbval-lax --nbval-current-env \
		--nbval-cell-timeout=900 --durations=20

# A benchmark, not a test: each chapter in a fresh kernel, cold feature cache.
bench: data
	$(BIN)/python benchmarks/run_chapters.py

# A benchmark, not a test: VGG16 images/second next to the machine's float32 peak, oneDNN
# off and on, a few other settings (benchmarks/throughput.md; about 8 minutes on 2 cores).
# TORCH_PYTHON=/path/to/a/python/with/torch adds PyTorch beside it (no chapter needs it).
TORCH_PYTHON ?= $(BIN)/python
bench-throughput: setup
	$(BIN)/python benchmarks/throughput.py --torch-python $(TORCH_PYTHON)

# A benchmark, not a test: how long each live panel of chapters 00-04 takes to answer, against
# the 3-second budget (benchmarks/widget_latency.md; under a minute on 2 cores).
bench-widgets: data
	$(BIN)/python benchmarks/widget_latency.py

# One chapter at a scale preset, executed by papermill (tools/run_chapter.py); PARAMS
# overrides single settings, e.g. make run CHAPTER=05 SCALE=gpu PARAMS="-p HEAD_EPOCHS 5".
# A claim written for the laptop preset only warns at another preset or with PARAMS.
SCALE ?= $(or $(TLBOOK_SCALE),laptop)
run: data
	@test -n "$(CHAPTER)" || { echo "make run needs a chapter: make run CHAPTER=05 SCALE=gpu" >&2; exit 2; }
	$(BIN)/python tools/run_chapter.py $(CHAPTER) --scale $(SCALE) $(PARAMS)

lab: data
	@$(BIN)/python tools/check_utils.py
	$(BIN)/jupyter lab notebooks/

# The offline bundle, _build/dist/transfer-learning-hands-on-<version>.tar.gz
# (tools/make_dist.py): it packs the website that `make book` built but does not build it.
dist: data
	$(BIN)/python -m tools.make_dist

# A JupyterHub for a closed room: one shared password, plain HTTP (hub/launch.py).
# Participants' folders stay in hub/state/ between starts; `make clean` keeps them.
HUB_USERS ?= 10
HUB_IP ?= 127.0.0.1
HUB_PORT ?= 8000
hub: data hub-setup
	$(BIN)/python hub/launch.py --users $(HUB_USERS) --ip $(HUB_IP) --port $(HUB_PORT)

# Downloaded originals are the only offline copies: clean keeps them.
clean:
	rm -rf _build
	@if [ -d data/cache ]; then \
		find data/cache -mindepth 1 -maxdepth 1 ! -name downloads ! -name npm -print \
			-exec rm -rf {} +; fi

distclean:
	rm -rf _build data/cache
