#!/bin/sh
# Entry point of scrydon-drill/postgres.
#
# As root: prepare $PGDATA for the postgres user and re-run this script as that user with
# setpriv (exec, so PostgreSQL ends up as PID 1 and receives the engine's signals directly;
# su would stay in between and swallow them). As postgres, on an empty $PGDATA: initdb with
# POSTGRES_USER / POSTGRES_PASSWORD, accept password logins from any address, create
# POSTGRES_DB and run /docker-entrypoint-initdb.d/*.sh|*.sql on a server that listens on no
# TCP port, then start the real server on 0.0.0.0:5432.
set -eu

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA
POSTGRES_USER="${POSTGRES_USER:-postgres}"
POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
POSTGRES_PASSWORD="${POSTGRES_PASSWORD:-}"
AUTH_METHOD="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"

run_psql() {
    db="$1"
    shift
    psql -v ON_ERROR_STOP=1 --no-psqlrc --username="$POSTGRES_USER" --dbname="$db" "$@"
}

# `docker run image -c work_mem=64MB` means options for the server.
if [ "${1#-}" != "$1" ]; then
    set -- postgres "$@"
fi

if [ "$1" != postgres ]; then
    exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "$POSTGRES_PASSWORD" ] && [ "$AUTH_METHOD" != trust ]; then
        echo "error: the database is uninitialized and POSTGRES_PASSWORD is not set." >&2
        echo "  Set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust to allow every" >&2
        echo "  connection without a password, for throwaway test databases only)." >&2
        exit 1
    fi
    pwfile=""
    if [ -n "$POSTGRES_PASSWORD" ]; then
        pwfile="$(mktemp)"
        printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    fi
    # Word splitting of POSTGRES_INITDB_ARGS is intended: it holds several options.
    # shellcheck disable=SC2086
    initdb --username="$POSTGRES_USER" ${pwfile:+--pwfile="$pwfile"} \
        --auth-local=trust --auth-host="$AUTH_METHOD" ${POSTGRES_INITDB_ARGS:-}
    if [ -n "$pwfile" ]; then rm -f "$pwfile"; fi

    # Inside a container the published port is the boundary: listen on every interface and
    # accept logins from every address with the configured method.
    printf "\nlisten_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
    printf 'host all all all %s\n' "$AUTH_METHOD" >> "$PGDATA/pg_hba.conf"

    # A temporary server on the Unix socket only: nobody connects before initialisation ends.
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start
    if [ "$POSTGRES_DB" != postgres ]; then
        echo 'CREATE DATABASE :"db";' | run_psql postgres -v db="$POSTGRES_DB"
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        if [ ! -e "$f" ]; then continue; fi
        case "$f" in
            *.sh) echo "running $f"; . "$f" ;;
            *.sql) echo "running $f"; run_psql "$POSTGRES_DB" -f "$f" ;;
            *) echo "ignoring $f" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    echo "PostgreSQL init process complete; ready for start up."
fi

exec "$@"
