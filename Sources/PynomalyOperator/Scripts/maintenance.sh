#!/bin/sh
# Scheduled VACUUM ANALYZE of one PynomalyDeployment's database.
#
# Settings arrive only through the environment (never pasted into this text):
#   PGHOST PGPORT PGUSER PGSSLMODE [PGPASSWORD]   libpq connection
#   DATABASE_CONNINFO dbname='...' quoted by the operator: libpq expands a bare database name that
#                     contains '=' as a whole connection string, so -d always gets this form
# POSIX sh only: the image is postgres:16-alpine (busybox).
set -eu

: "${DATABASE_CONNINFO:?DATABASE_CONNINFO is not set}"

vacuumdb --analyze -d "$DATABASE_CONNINFO"
echo "vacuumdb --analyze done"
