#!/usr/bin/env bash
# Contract fuzzing: Schemathesis drives the running service (gunicorn, production settings,
# PostgreSQL, demo data, a real admin token) from its own OpenAPI schema, positive and
# negative data, every check. Any server error, schema violation, undocumented status or
# wrongly accepted/refused input fails the run.
#
#   bash .ci/schemathesis.sh            (or: make contract)
#
# It needs PostgreSQL on PG_HOST:PG_PORT with a trusting `postgres` user (as .ci/run sets up)
# and the project's .venv with the `contract` extra. The database CONTRACT_DB is dropped and
# created afresh on every run; the run writes to it (assignments, patient updates).
# Tunables: CONTRACT_PORT, CONTRACT_MAX_EXAMPLES, CONTRACT_SEED, CONTRACT_WORKERS,
# CONTRACT_REPORT_DIR (JUnit report and the server log; default a temporary directory).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PG_HOST="${PG_HOST:-127.0.0.1}"
PG_PORT="${PG_PORT:-5432}"
DB="${CONTRACT_DB:-ecm_admin_contract}"
PORT="${CONTRACT_PORT:-8765}"
MAX_EXAMPLES="${CONTRACT_MAX_EXAMPLES:-30}"
SEED="${CONTRACT_SEED:-42}"
# One worker: Python 3.11 before 3.11.8 can fail parsing source in two threads at once
# ("AST constructor recursion depth mismatch"), which Hypothesis does when it names filters.
WORKERS="${CONTRACT_WORKERS:-1}"
REPORT_DIR="${CONTRACT_REPORT_DIR:-${TMPDIR:-/tmp}/ecm-contract}"
BIN=.venv/bin
BASE="http://127.0.0.1:${PORT}"
SCHEMA_URL="${BASE}/v1/admin/clinic/ecm/openapi.json"

[ -x "$BIN/schemathesis" ] || {
    echo "schemathesis is not installed in .venv: run make install (it installs .[dev,contract])" >&2
    exit 1
}

# Production settings, plain HTTP on loopback. The limits are lifted: the fuzzer sends
# thousands of requests from one token and one address, and many deliberately bad tokens.
export DATABASE_URL="postgresql://postgres@${PG_HOST}:${PG_PORT}/${DB}"
export DEBUG=0 HTTPS_ONLY=0 ALLOWED_HOSTS=127.0.0.1,localhost LOG_LEVEL=WARNING
export SECRET_KEY="contract-only-$("$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(48))')"
export API_RATE_LIMIT_PER_MINUTE=100000 AUTH_FAILURE_LIMIT=0
export PYTHONUNBUFFERED=1

started=$SECONDS
echo "contract: database ${DB} (drop, create, migrate, seed_demo)"
dropdb -h "$PG_HOST" -p "$PG_PORT" -U postgres --if-exists --force "$DB"
createdb -h "$PG_HOST" -p "$PG_PORT" -U postgres "$DB"
"$BIN/python" manage.py migrate --noinput --verbosity 0
"$BIN/python" manage.py seed_demo --force  # production settings: --force says we mean it
TOKEN="$("$BIN/python" manage.py create_token --email demo.admin@example.org --days 1 --name contract)"

mkdir -p "$REPORT_DIR"
log="$REPORT_DIR/gunicorn.log"
echo "contract: gunicorn on ${BASE} (log: ${log})"
GUNICORN_BIND="127.0.0.1:${PORT}" WEB_CONCURRENCY=2 GUNICORN_THREADS=4 GUNICORN_MAX_REQUESTS=1000000 \
    "$BIN/gunicorn" -c gunicorn.conf.py >"$log" 2>&1 &
server=$!
stop_server() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
}
trap stop_server EXIT INT TERM

ready=0
for _ in $(seq 1 60); do
    if "$BIN/python" -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('${BASE}/healthz', timeout=2).status == 200 else 1)" 2>/dev/null; then
        ready=1
        break
    fi
    kill -0 "$server" 2>/dev/null || { echo "gunicorn exited:" >&2; cat "$log" >&2; exit 1; }
    sleep 0.5
done
[ "$ready" -eq 1 ] || { echo "gunicorn did not answer /healthz in 30s:" >&2; cat "$log" >&2; exit 1; }

echo "contract: schemathesis (seed ${SEED}, at most ${MAX_EXAMPLES} examples per operation)"
rc=0
"$BIN/schemathesis" --config-file .ci/schemathesis.toml run "$SCHEMA_URL" \
    --header "X-User-Token: ${TOKEN}" \
    --checks all \
    --mode all \
    --phases examples,coverage,fuzzing,stateful \
    --seed "$SEED" \
    --max-examples "$MAX_EXAMPLES" \
    --workers "$WORKERS" \
    --generation-database none \
    --request-timeout 10 \
    --report junit --report-dir "$REPORT_DIR" \
    --no-color || rc=$?

if grep -q "Traceback\|Internal Server Error\|unhandled error" "$log"; then
    echo "contract: the server logged an error (see ${log}):" >&2
    grep -n -A20 "Traceback\|unhandled error" "$log" | head -80 >&2
    rc=1
fi
echo "contract: finished in $((SECONDS - started))s (exit ${rc})"
exit "$rc"
