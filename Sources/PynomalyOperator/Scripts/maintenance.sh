#!/bin/sh
# Scheduled VACUUM ANALYZE of one PynomalyDeployment's database.
#
# Settings arrive only through the environment (never pasted into this text):
#   PGHOST PGPORT PGUSER PGDATABASE PGSSLMODE [PGPASSWORD]
# POSIX sh only: the image is postgres:16-alpine (busybox).
set -eu

: "${PGDATABASE:?PGDATABASE is not set}"

# libpq treats a database name containing '=' as a whole connection string; dbname='...' with
# conninfo quoting (backslash and single quote escaped) keeps it a name. The trailing x protects
# trailing newlines from the command substitution.
dbname=$(printf '%s' "$PGDATABASE" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g"; printf x)
dbname=${dbname%x}

vacuumdb --analyze -d "dbname='$dbname'"
echo "vacuumdb --analyze done"
