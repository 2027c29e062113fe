#!/usr/bin/env bash
# Until the first release lands, the schema is one migration (0001) regenerated from complaints/models.py.
# After that, schema changes are new migrations: `.venv/bin/alembic revision --autogenerate -m "..."`.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
rm -f alembic/versions/0001_initial_schema.py
COMPLAINTS_DATABASE_URL="sqlite:///$tmp/empty.db" .venv/bin/alembic revision --autogenerate -m "initial schema" --rev-id 0001 >/dev/null
# Migrations must not import application code: store the plain column types.
sed -i 's/complaints\.models\.UTCDateTime(timezone=True)/sa.DateTime(timezone=True)/g; /^import complaints.models$/d' \
  alembic/versions/0001_initial_schema.py
rm -rf "$tmp"
echo "regenerated alembic/versions/0001_initial_schema.py"
