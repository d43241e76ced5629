#!/bin/sh
# Entry point of scrydon-drill/mariadb.
#
# As root: prepare the data directory for the mysql user and re-run this script as that user
# with setpriv (exec, so mariadbd ends up as PID 1 and receives the engine's signals). As
# mysql, on an empty data directory: mariadb-install-db, then one bootstrap run of mariadbd
# that sets the root password (root@localhost and root@'%'), drops the password-less accounts
# the installer makes, and creates MARIADB_DATABASE and MARIADB_USER. Then mariadbd listens on
# 0.0.0.0:3306. Options given after the image name go to mariadbd.
set -eu

DATADIR=/var/lib/mysql
ROOT_PASSWORD="${MARIADB_ROOT_PASSWORD:-${MYSQL_ROOT_PASSWORD:-}}"
DATABASE="${MARIADB_DATABASE:-${MYSQL_DATABASE:-}}"
USER_NAME="${MARIADB_USER:-${MYSQL_USER:-}}"
USER_PASSWORD="${MARIADB_PASSWORD:-${MYSQL_PASSWORD:-}}"
ALLOW_EMPTY="${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:-${MYSQL_ALLOW_EMPTY_PASSWORD:-}}"

if [ "${1#-}" != "$1" ]; then
    set -- mariadbd "$@"
fi
case "$1" in
    mariadbd|mysqld) ;;
    *) exec "$@" ;;
esac
shift

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$DATADIR" /run/mysqld
    chown mysql:mysql "$DATADIR" /run/mysqld
    exec setpriv --reuid=mysql --regid=mysql --init-groups "$0" mariadbd "$@"
fi

# One line of SQL, verbatim (dash's echo would interpret the backslashes of a password).
line() {
    printf '%s\n' "$1"
}
# SQL string literal: backslashes and single quotes doubled.
sql_string() {
    printf "'%s'" "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/''/g")"
}
# SQL identifier: backticks doubled.
sql_name() {
    printf '`%s`' "$(printf '%s' "$1" | sed -e 's/`/``/g')"
}

if [ ! -d "$DATADIR/mysql" ]; then
    if [ -z "$ROOT_PASSWORD" ] && [ -z "$ALLOW_EMPTY" ]; then
        echo "error: the database is uninitialized and MARIADB_ROOT_PASSWORD is not set." >&2
        echo "  Set MARIADB_ROOT_PASSWORD (or MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1 for a" >&2
        echo "  root account without password, for throwaway test databases only)." >&2
        exit 1
    fi
    echo "initialising the database in $DATADIR"
    mariadb-install-db --datadir="$DATADIR" --auth-root-authentication-method=normal \
        --skip-test-db --skip-name-resolve > /dev/null
    pw="$(sql_string "$ROOT_PASSWORD")"
    {
        # Bootstrap mode starts without the grant tables; FLUSH loads them so that account
        # statements work.
        line "FLUSH PRIVILEGES;"
        # The installer adds password-less root accounts for 127.0.0.1, ::1 and the host
        # name; they would match TCP logins before root@'%' does.
        line "DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost');"
        line "DELETE FROM mysql.proxies_priv WHERE Host <> 'localhost';"
        line "FLUSH PRIVILEGES;"
        line "ALTER USER 'root'@'localhost' IDENTIFIED BY $pw;"
        line "CREATE USER 'root'@'%' IDENTIFIED BY $pw;"
        line "GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;"
        if [ -n "$DATABASE" ]; then
            line "CREATE DATABASE IF NOT EXISTS $(sql_name "$DATABASE");"
        fi
        if [ -n "$USER_NAME" ] && [ -n "$USER_PASSWORD" ]; then
            line "CREATE USER $(sql_string "$USER_NAME")@'%' IDENTIFIED BY $(sql_string "$USER_PASSWORD");"
            if [ -n "$DATABASE" ]; then
                line "GRANT ALL PRIVILEGES ON $(sql_name "$DATABASE").* TO $(sql_string "$USER_NAME")@'%';"
            fi
        fi
    } | mariadbd --bootstrap --datadir="$DATADIR" --log-warnings=0 --skip-networking
    echo "MariaDB init process complete; ready for start up."
fi

exec mariadbd --datadir="$DATADIR" --port=3306 --bind-address=0.0.0.0 \
    --socket=/run/mysqld/mysqld.sock --skip-name-resolve "$@"
