#!/bin/sh
# pg_dump backup of one PynomalyDeployment's database into the backup volume, then pruning.
#
# Every setting arrives through the environment (the operator never pastes spec values into this
# text, so no spec value can change what runs here):
#   PGHOST PGPORT PGUSER PGSSLMODE [PGPASSWORD]   libpq connection
#   DATABASE_CONNINFO dbname='...' quoted by the operator: libpq expands a bare database name that
#                     contains '=' as a whole connection string, so -d always gets this form
#   BACKUP_DIR        the mounted backup volume (absolute path)
#   BACKUP_PREFIX     the PynomalyDeployment's name: first part of every file name
#   RETENTION_DAYS    prune scheduled files older than this many days; unset: no pruning
#   BACKUP_FILE_NAME  exact file name to write (emergency backup); unset: PREFIX-<UTC time>.dump
# POSIX sh only: the image is postgres:16-alpine (busybox).
set -eu

fail() {
    echo "backup: $*" >&2
    exit 1
}

: "${BACKUP_DIR:?BACKUP_DIR is not set}"
: "${BACKUP_PREFIX:?BACKUP_PREFIX is not set}"
: "${DATABASE_CONNINFO:?DATABASE_CONNINFO is not set}"

# An absolute directory, so no path below can be read as an option by find or pg_dump.
case $BACKUP_DIR in
    /*) ;;
    *) fail "BACKUP_DIR must be an absolute path" ;;
esac
[ -d "$BACKUP_DIR" ] || fail "BACKUP_DIR $BACKUP_DIR is not a directory"

case ${RETENTION_DAYS-} in
    '') ;;
    *[!0-9]*) fail "RETENTION_DAYS must be a whole number of days" ;;
esac

if [ -n "${BACKUP_FILE_NAME-}" ]; then
    file=$BACKUP_FILE_NAME
else
    file="$BACKUP_PREFIX-$(date -u +%Y%m%dT%H%M%SZ).dump"
fi
# A plain name inside BACKUP_DIR: no directories, and not hidden (hidden names are partial files).
case $file in
    */* | .*) fail "refusing backup file name '$file': it must be a plain, non-hidden file name" ;;
esac

# Dump into a hidden partial file and rename it when complete: a half-written dump (crash, deadline,
# full volume) never looks like a backup to pruning or to a restore.
partial="$BACKUP_DIR/.$file.partial"
trap 'rm -f "$partial"' EXIT
trap 'exit 1' HUP INT TERM

pg_dump -Fc -d "$DATABASE_CONNINFO" -f "$partial"
mv -f "$partial" "$BACKUP_DIR/$file"
echo "wrote $file ($(wc -c < "$BACKUP_DIR/$file" | tr -d ' ') bytes)"

# The file name for the operator's status; only when the kubelet provides the file (never create it).
if [ -f /dev/termination-log ] && [ -w /dev/termination-log ]; then
    printf 'backup-file=%s\n' "$file" > /dev/termination-log || true
fi

if [ -z "${RETENTION_DAYS-}" ]; then
    exit 0
fi

# Prune only this deployment's scheduled files: exactly PREFIX-YYYYMMDDTHHMMSSZ.dump. Other
# deployments sharing the volume, emergency backups (-emergency.dump) and anything else are never
# touched. Age is the file's mtime, in minutes so busybox and GNU find agree.
minutes=$((RETENTION_DAYS * 1440))
for path in "$BACKUP_DIR"/*; do
    name=${path##*/}
    case $name in
        "$BACKUP_PREFIX"-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z.dump) ;;
        *) continue ;;
    esac
    [ -f "$path" ] && [ ! -L "$path" ] || continue
    if [ -n "$(find "$path" -type f -mmin +"$minutes" -print)" ]; then
        rm -f "$path"
        echo "pruned $name (older than $RETENTION_DAYS days)"
    fi
done
