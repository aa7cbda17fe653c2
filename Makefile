# Two commands on a fresh machine (Python 3.11):
#   make book [DATA=/path/to/CCPD2019] [PROFILE=cpu|smoke|paper] [SMALL_PLATES=dir]   builds the HTML book
#   make test [DATA=/path/to/shared/data]                              runs the tests
# Both create the project-local virtual environment .venv on first use.

PYTHON ?= python3
VENV := .venv
PROFILE ?= cpu
DATA ?=
SMALL_PLATES ?=

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".[book,ocr,dev]"
	# the PP-OCRv4 weights ship in this wheel; its own dependencies are not needed
	$(VENV)/bin/python -m pip install --quiet --no-deps rapidocr==3.8.4
	# paddlex installs opencv-contrib-python, which overwrites cv2: put the headless build back
	$(VENV)/bin/python -m pip install --quiet --force-reinstall --no-deps opencv-python-headless==5.0.0.93
	touch $@

.PHONY: book test install clean browser lab
install: $(VENV)/.installed

book: $(VENV)/.installed
	$(VENV)/bin/lpsr book --profile $(PROFILE) $(if $(DATA),--data $(DATA)) $(if $(SMALL_PLATES),--small-plates $(SMALL_PLATES))

# the chapters in JupyterLab, run by the project's kernel (.venv's python3)
lab: $(VENV)/.installed
	$(VENV)/bin/jupyter lab notebooks

test: $(VENV)/.installed browser
	$(VENV)/bin/ruff check lpsr tests bench notebooks
	$(VENV)/bin/ruff format --check lpsr tests bench
	LPSR_DATA=$(abspath $(DATA)) $(VENV)/bin/python -m pytest $(PYTEST_ARGS)

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
