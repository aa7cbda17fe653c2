# Two commands on a fresh machine (Python 3.11):
#   make book [DATA=/path/to/CCPD2019] [PROFILE=cpu|smoke|paper] [SMALL_PLATES=dir]   builds the HTML book
#   make test [DATA=/path/to/shared/data]                              runs the tests
# Both create the project-local virtual environment .venv on first use.

PYTHON ?= python3
VENV := .venv
PROFILE ?= cpu
DATA ?=
SMALL_PLATES ?=
STARTED := $(shell date +%s)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".[book,ocr,export,dev]"
	# the PP-OCRv4 weights ship in this wheel; its own dependencies are not needed
	$(VENV)/bin/python -m pip install --quiet --no-deps rapidocr==3.8.4
	# paddlex installs opencv-contrib-python, which overwrites cv2: put the headless build back
	$(VENV)/bin/python -m pip install --quiet --force-reinstall --no-deps opencv-python-headless==5.0.0.93
	echo $$(( $$(date +%s) - $(STARTED) )) > $(VENV)/.install-seconds
	touch $@

.PHONY: book test install clean browser lab
install: $(VENV)/.installed

book: $(VENV)/.installed
	$(VENV)/bin/lpsr book --profile $(PROFILE) $(if $(DATA),--data $(DATA)) $(if $(SMALL_PLATES),--small-plates $(SMALL_PLATES))

# the chapters in JupyterLab, run by the project's kernel (.venv's python3)
lab: $(VENV)/.installed
	$(VENV)/bin/jupyter lab notebooks

# each phase's time is printed at the end (install: when this command installed)
test: $(VENV)/.installed
	@t0=$$(date +%s); $(MAKE) --no-print-directory browser; t1=$$(date +%s); \
	$(VENV)/bin/ruff check lpsr tests bench notebooks && $(VENV)/bin/ruff format --check lpsr tests bench; lint=$$?; \
	t2=$$(date +%s); rc=$$lint; \
	if [ $$lint = 0 ]; then LPSR_DATA=$(abspath $(DATA)) $(VENV)/bin/python -m pytest $(PYTEST_ARGS); rc=$$?; fi; \
	t3=$$(date +%s); \
	if [ $$(stat -c %Y $(VENV)/.installed) -ge $(STARTED) ]; then install="$$(cat $(VENV)/.install-seconds) s"; else install="done before"; fi; \
	echo "make test phases: install $$install, browser $$((t1 - t0)) s, lint $$((t2 - t1)) s, pytest $$((t3 - t2)) s; total $$((t3 - $(STARTED))) s"; \
	exit $$rc

# Debian's Chromium for the book's browser check (tests/test_book.py); installed when this is
# Debian and we are root, otherwise that check is skipped with a message.
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; } || \
	    echo "could not install chromium: the book's browser check will be skipped"; \
	  fi; \
	fi

clean:
	rm -rf _build
