#!/usr/bin/env bash
# The bad-day benchmarks: the outage drill (examples/outage.rs) on SQLite and PostgreSQL,
# backlog scaling (the drain rate with 10,000 and with 100,000 events waiting), and two
# PostgreSQL instances against one. Prints one block per run; the README's figures come
# from here. Needs a release build (it builds one) and, for PostgreSQL, PG_URL naming a
# database this script may empty (default postgres://postgres@127.0.0.1:5432/drill; set
# PG_URL= to skip PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
pg_url=${PG_URL-postgres://postgres@127.0.0.1:5432/drill}

cargo build --release --bins --examples -q
drill=target/release/examples/outage

echo "== SQLite: outage drill, 100,000 events over 10,000 users"
"$drill" 100000 10000
echo "== SQLite: backlog scaling, 10,000 events over 1,000 users waiting"
ONLY=down "$drill" 10000 1000
if [ -n "$pg_url" ]; then
  echo "== PostgreSQL: outage drill, 100,000 events over 10,000 users"
  STORAGE_URL="$pg_url" "$drill" 100000 10000
  echo "== PostgreSQL: backlog scaling, 10,000 events over 1,000 users waiting"
  STORAGE_URL="$pg_url" ONLY=down "$drill" 10000 1000
  echo "== PostgreSQL: two instances on one database"
  STORAGE_URL="$pg_url" INSTANCES=2 ONLY=down "$drill" 100000 10000
fi
echo "== SQLite: end to end from an empty queue (examples/e2e.rs)"
USERS=5000 target/release/examples/e2e 30000 64
USERS=10000 target/release/examples/e2e 30000 64
