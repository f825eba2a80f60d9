#!/usr/bin/env bash
# Make sure PostgreSQL and MariaDB are up on loopback (they are on a fresh rust-svc
# machine, but may have been stopped). Installs nothing that the machine lacks silently:
# a missing server makes the database tests fail loudly under CI=true.
set -uo pipefail

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
my_up() { mariadb-admin -h 127.0.0.1 -P 3306 -uroot ping >/dev/null 2>&1 || mysqladmin -h 127.0.0.1 -P 3306 -uroot ping >/dev/null 2>&1; }

if ! pg_up && command -v pg_ctlcluster >/dev/null; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
if ! my_up && [ -x /usr/sbin/mariadbd ]; then
  echo "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
fi
for _ in $(seq 1 30); do pg_up && my_up && break; sleep 1; done
pg_up && echo "PostgreSQL: up" || echo "PostgreSQL: NOT reachable"
my_up && echo "MariaDB: up" || echo "MariaDB: NOT reachable"
exit 0
