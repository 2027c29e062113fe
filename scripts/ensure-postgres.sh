#!/usr/bin/env bash
# The storage tests run on PostgreSQL too (127.0.0.1:5432, trust auth, database `test`).
# Start the local cluster if it is installed but down; say so clearly if there is none.
set -uo pipefail
host=127.0.0.1
if pg_isready -q -h "$host" -p 5432 2>/dev/null; then exit 0; fi
if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h "$host" -p 5432 && exit 0; sleep 1; done
fi
echo "PostgreSQL is not reachable at $host:5432 (set COMPLAINTS_TEST_PG_URL to another server)" >&2
exit 1
