#!/usr/bin/env bash
# The backtest benchmark (docs/commands.md, issue 11: at least 5,000 events/s over 100,000 stored
# events). Fills a fresh SQLite store (or the PostgreSQL database of STORAGE_URL, which must
# be empty) with EVENTS decided events through the store API (examples/backtest_fill.rs),
# then times `switchboard backtest` over them on a release build: once with the shipped
# rules (nothing changed) and once with a changed copy (every event compared, many changed).
#
#   bench/backtest.sh                       # 100000 events, 10000 users, SQLite
#   EVENTS=20000 bench/backtest.sh
#   STORAGE_URL=postgres://postgres@127.0.0.1:5432/bt bench/backtest.sh
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${EVENTS:-100000}
USERS=${USERS:-10000}
# PROFILE=dev measures a debug build (only as a floor: the figure is the release one).
PROFILE=${PROFILE:-release}
OUT=target/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
BIN=${SWITCHBOARD_BIN:-$OUT/switchboard}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cargo build --profile "$PROFILE" --bins --examples >&2
export SWITCHBOARD_STORAGE_URL=${STORAGE_URL:-sqlite://$WORK/backtest.db}
cp switchboard.toml "$WORK/switchboard.toml"
cp -r rules "$WORK/rules"
"$OUT/examples/backtest_fill" "$WORK/switchboard.toml" "$EVENTS" "$USERS"
# A live PostgreSQL store has statistics (autovacuum analyses it as it grows); one filled in
# seconds has none yet, and without them the planner reads each page by a bitmap scan and a
# sort of the whole window instead of walking the primary key (0.5 s a page instead of 7 ms).
case "$SWITCHBOARD_STORAGE_URL" in
  postgres*) psql -q "$SWITCHBOARD_STORAGE_URL" -c "VACUUM ANALYZE events" -c "VACUUM ANALYZE rule_runs" ;;
esac

# A changed copy: the VIP rule tags everyone who writes "premium" as "lead" too.
cp -r "$WORK/rules" "$WORK/changed"
rm -rf "$WORK/changed/shadow"
printf '\nif event.text.contains("premium") { add_tag("lead"); }\n' >> "$WORK/changed/30-vip-tag.rhai"

run() {
  local label=$1; shift
  local start end
  start=$(date +%s.%N)
  "$BIN" backtest --config "$WORK/switchboard.toml" --since 2h "$@" > "$WORK/out.txt"
  end=$(date +%s.%N)
  local last; last=$(tail -n 1 "$WORK/out.txt")
  local n; n=${last%% events*}
  python3 -c "import sys; n=int(sys.argv[1]); s=float(sys.argv[3])-float(sys.argv[2]); print(f'{sys.argv[4]}: {sys.argv[5]} in {s:.2f} s = {n/s:,.0f} events/s')" \
    "$n" "$start" "$end" "$label" "$last"
}
run "shipped rules (unchanged)"
run "changed rules" --rules "$WORK/changed"
run "changed rules, --json" --rules "$WORK/changed" --json
