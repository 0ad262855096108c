# ECM Admin API: developer commands. Everything runs from the project's own .venv.
#
#   make run     install if needed, migrate, load demo data, print a token, serve on :8000
#   make test    the whole test suite (SQLite; PostgreSQL when DATABASE_URL is set)
#   make lint    ruff check + ruff format --check
#   make check   Django system checks, missing migrations, deployment checks
#   make serve   gunicorn with gunicorn.conf.py (production settings: SECRET_KEY required)
#   make schema  regenerate docs/openapi.yaml (the committed OpenAPI document)
#   make contract    Schemathesis fuzzing against gunicorn + PostgreSQL (.ci/schemathesis.sh)
#   make bench   the performance benchmark on PostgreSQL (bench/README.md; BENCH_ARGS=...)
#   make clean   remove caches, build output and the local SQLite database
#   make distclean   clean, and remove .venv too

PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_EMAIL ?= demo.admin@example.org
# pytest-xdist workers ("auto" = one per core); PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= auto
PYTEST_ARGS ?=

# Development mode for make run: DEBUG on, plain HTTP. DATABASE_URL is honoured when set;
# otherwise the database is db.sqlite3 in the project folder.
DEV_ENV = DEBUG=1 HTTPS_ONLY=0

PIP_ENV = PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

.PHONY: install run test lint format check serve schema contract bench lock clean distclean

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required (found " + sys.version.split()[0] + "); run: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)

# Reinstalled only when pyproject.toml or requirements.lock changes.
$(STAMP): pyproject.toml requirements.lock | $(BIN)/python
	$(PIP_ENV) $(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev,contract]'
	touch $(STAMP)

run: install
	$(DEV_ENV) $(BIN)/python manage.py migrate --noinput
	$(DEV_ENV) $(BIN)/python manage.py seed_demo
	@token=$$($(DEV_ENV) $(BIN)/python manage.py create_token --email $(DEMO_EMAIL) --days 7 --name demo) || exit 1; \
	url="http://$(HOST):$(PORT)/v1/admin/clinic/ecm"; \
	line="============================================================================"; \
	printf '\n%s\n' "$$line"; \
	printf '  ECM Admin API (development mode, demo data)\n\n'; \
	printf '  Demo admin:  %s   (token valid for 7 days)\n' "$(DEMO_EMAIL)"; \
	printf '  Token:       %s\n\n' "$$token"; \
	printf '  Try it:\n'; \
	printf '    curl -H "X-User-Token: %s" \\\n      "%s/patients?search=John&per_page=5"\n\n' "$$token" "$$url"; \
	printf '  Serving on http://%s:%s/  (Ctrl-C to stop)\n' "$(HOST)" "$(PORT)"; \
	printf '%s\n\n' "$$line"
	$(DEV_ENV) $(BIN)/python manage.py runserver $(HOST):$(PORT)

# Exit code 5 is pytest's "no tests ran": a failure here, with a message that says so.
test: install
	@workers="-n $(PYTEST_WORKERS)"; [ "$(PYTEST_WORKERS)" = "0" ] && workers="-p no:xdist"; \
	echo "$(BIN)/pytest $$workers $(PYTEST_ARGS)"; \
	$(BIN)/pytest $$workers $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	exit $$rc

# Both linters run even if the first one fails.
lint: install
	@rc=0; \
	echo "$(BIN)/ruff check ."; $(BIN)/ruff check . || rc=1; \
	echo "$(BIN)/ruff format --check ."; $(BIN)/ruff format --check . || rc=1; \
	exit $$rc

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# check --deploy runs with production settings: DEBUG off, a long random SECRET_KEY, HTTPS on.
check: install
	$(DEV_ENV) $(BIN)/python manage.py check --fail-level WARNING
	$(DEV_ENV) $(BIN)/python manage.py makemigrations --check --dry-run
	$(DEV_ENV) $(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null
	@echo "manage.py check --deploy --fail-level WARNING  (DEBUG=0, HTTPS_ONLY=1, random SECRET_KEY)"
	@SECRET_KEY="$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(64))')" \
	DEBUG=0 HTTPS_ONLY=1 $(BIN)/python manage.py check --deploy --fail-level WARNING

serve: install
	$(BIN)/gunicorn -c gunicorn.conf.py

schema: install
	$(DEV_ENV) $(BIN)/python manage.py spectacular --validate --fail-on-warn --file docs/openapi.yaml

contract: install
	bash .ci/schemathesis.sh

# Not part of make test: builds a data set (default 100,000 patients) and measures every route.
# make bench BENCH_ARGS="--patients 1000000"
BENCH_ARGS ?=
bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

# Rewrites requirements.lock from the installed packages (after changing pyproject.toml).
lock: install
	{ sed -n '/^#/p' requirements.lock; $(BIN)/python -m pip freeze --exclude-editable; } > requirements.lock.new
	mv requirements.lock.new requirements.lock
	touch $(STAMP)

clean:
	rm -rf .pytest_cache .ruff_cache build dist *.egg-info staticfiles
	rm -f db.sqlite3 db.sqlite3-wal db.sqlite3-shm db.sqlite3-journal
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
