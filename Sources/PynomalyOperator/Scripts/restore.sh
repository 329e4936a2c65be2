#!/bin/sh
# pg_restore of one backup file from the backup volume over a PynomalyDeployment's database.
#
# Settings arrive only through the environment (never pasted into this text):
#   PGHOST PGPORT PGUSER PGSSLMODE [PGPASSWORD]   libpq connection
#   DATABASE_CONNINFO dbname='...' quoted by the operator: libpq expands a bare database name that
#                     contains '=' as a whole connection string, so -d always gets this form
#   BACKUP_DIR       the mounted backup volume (absolute path)
#   BACKUP_PREFIX    the PynomalyDeployment's name: first part of its scheduled backup files
#   RESTORE_FILE     the file name to restore, or
#   RESTORE_LATEST   "true": the newest scheduled backup PREFIX-YYYYMMDDTHHMMSSZ.dump
# POSIX sh only: the image is postgres:16-alpine (busybox).
set -eu

fail() {
    echo "restore: $*" >&2
    exit 1
}

: "${BACKUP_DIR:?BACKUP_DIR is not set}"
: "${BACKUP_PREFIX:?BACKUP_PREFIX is not set}"
: "${DATABASE_CONNINFO:?DATABASE_CONNINFO is not set}"

case $BACKUP_DIR in
    /*) ;;
    *) fail "BACKUP_DIR must be an absolute path" ;;
esac
[ -d "$BACKUP_DIR" ] || fail "BACKUP_DIR $BACKUP_DIR is not a directory"

if [ -n "${RESTORE_FILE-}" ]; then
    file=$RESTORE_FILE
    # The name comes from the user (PynomalyRestore spec.backupFile): it must name a file directly
    # in the volume, so '../x', '/etc/x' and hidden partial files are refused.
    case $file in
        */*) fail "refusing backup file '$file': it must be a file name in the backup volume, without '/'" ;;
        .*) fail "refusing backup file '$file': hidden files are not backups" ;;
    esac
    if [ -L "$BACKUP_DIR/$file" ] || [ ! -f "$BACKUP_DIR/$file" ]; then
        fail "backup file '$file' is not a regular file in the backup volume"
    fi
elif [ "${RESTORE_LATEST-}" = true ]; then
    # Scheduled files only (exact pattern): the timestamp in the name orders them, and the glob
    # expands sorted, so the last match is the newest. Emergency backups are never picked.
    file=
    for path in "$BACKUP_DIR"/*; do
        name=${path##*/}
        case $name in
            "$BACKUP_PREFIX"-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z.dump) ;;
            *) continue ;;
        esac
        [ -f "$path" ] && [ ! -L "$path" ] || continue
        file=$name
    done
    [ -n "$file" ] || fail "no backup file $BACKUP_PREFIX-<timestamp>.dump in the backup volume"
else
    fail "set RESTORE_FILE to a file name or RESTORE_LATEST=true"
fi

echo "restoring $file"
# --clean --if-exists: drop what the dump recreates (tables dropped since are recreated);
# --no-owner: the restoring user owns the objects; --exit-on-error: a partial restore fails the Job
# instead of reporting success.
pg_restore --clean --if-exists --no-owner --exit-on-error -d "$DATABASE_CONNINFO" "$BACKUP_DIR/$file"
echo "restored $file"

if [ -f /dev/termination-log ] && [ -w /dev/termination-log ]; then
    printf 'restored-file=%s\n' "$file" > /dev/termination-log || true
fi
