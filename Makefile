# The two commands a new user needs: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
# The suite's pytest-xdist workers: CI's machine has two cores. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
ADDR ?= 127.0.0.1:8000
# The provisioning listener: the endpoints the lab's machines call (iPXE, metadata, phone-home).
PROVISIONING_ADDR ?= 127.0.0.1:8001
ARGS ?=

.PHONY: run test venv lint clean

venv: $(STAMP)

$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Metalyard needs Python 3.11 or newer (found " + sys.version.split()[0] + ").")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { echo "Could not create a virtual environment. On Debian/Ubuntu: sudo apt-get install python3-venv"; exit 1; }
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

# Installs, migrates, loads the demo provider and runs web + worker + lab until Ctrl-C.
run: $(STAMP)
	METALYARD_DEV_KEYS=1 DEBUG=1 $(PY) manage.py migrate --noinput
	METALYARD_DEV_KEYS=1 DEBUG=1 $(PY) manage.py demo
	METALYARD_DEV_KEYS=1 DEBUG=1 exec $(PY) manage.py devserver --addr $(ADDR) --provisioning-addr $(PROVISIONING_ADDR)

# Installs, then runs ruff and the whole test suite (PostgreSQL when DATABASE_URL points at it).
test: $(STAMP)
	$(VENV)/bin/ruff check .
	METALYARD_DEV_KEYS=1 METALYARD_TASKS_SYNC=1 $(VENV)/bin/pytest -n $(TEST_WORKERS) --dist worksteal $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
