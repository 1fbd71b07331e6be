# Rebootable: `make demo` runs the dashboard on a simulated fleet; `make test` runs the suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# pytest-xdist workers for `make test`: two per core. Much of the suite waits on real time (labs
# that reboot, leases that run out, a browser watching a page): on two cores, three workers left
# 18 % of the CPU idle and four 9 %, and the suite took 10 min 36 s with two workers, 8 min 34 s
# with three and 7 min 53 s with four (benchmarks/README.md). Each worker gets its own test
# database, loopback range and queues.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); echo $$((n * 2)))

.PHONY: demo test lint format check ci clean

# The runtime and the tools (tests, lint, the lab the demo runs): what every target below needs.
$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python manage.py demo

test: $(STAMP)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

check: $(STAMP) lint
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) staticfiles test-artifacts
