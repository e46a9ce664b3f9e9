#!/usr/bin/env bash
# Make this machine ready for the test suite: start PostgreSQL, RabbitMQ and NATS when
# they are installed but stopped, install Debian's Chromium when it is missing, and say
# exactly what is still missing and how to get it.
#
# Exit status: 0 when everything is there. When something is missing, 1 with CI=true
# (the suite would fail anyway), else 0 after the warning (those tests are skipped).
set -uo pipefail

missing=()
note() { printf 'services: %s\n' "$*" >&2; }
port_open() { (echo >"/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1; }
wait_port() {
  for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 1; done
  return 1
}
can_install() { [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; }
apt_updated=0
apt_install() {
  if [[ $apt_updated == 0 ]]; then apt-get update -q >&2 && apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2
}

postgres() {
  port_open 5432 && return 0
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
  if [[ -z $version ]] || ! command -v pg_ctlcluster >/dev/null 2>&1; then
    missing+=("PostgreSQL on 127.0.0.1:5432, trust auth for user postgres:"
      "  apt-get install postgresql, then in pg_hba.conf: host all postgres 127.0.0.1/32 trust")
    return
  fi
  note "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
  wait_port 5432 || missing+=("PostgreSQL $version did not start: see /var/log/postgresql/")
}

rabbitmq() {
  port_open 5672 && return 0
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    missing+=("RabbitMQ on 127.0.0.1:5672 (guest/guest) with rabbitmqctl on the PATH:"
      "  apt-get install rabbitmq-server")
    return
  fi
  note "starting RabbitMQ"
  rabbitmq-server -detached >&2 || true
  wait_port 5672 || missing+=("RabbitMQ did not start: see /var/log/rabbitmq/")
}

nats() {
  port_open 4222 && return 0
  local server
  server=$(command -v nats-server || ls /usr/sbin/nats-server 2>/dev/null || true)
  if [[ -z $server ]]; then
    missing+=("NATS with JetStream on 127.0.0.1:4222:"
      "  apt-get install nats-server (or a release from github.com/nats-io/nats-server)")
    return
  fi
  note "starting NATS with JetStream"
  local store=/var/lib/nats-server log=/var/log/nats-server.log
  if [[ ! -w /var/lib ]]; then store=${TMPDIR:-/tmp}/nats-server && log=$store.log; fi
  mkdir -p "$store"
  if command -v start-stop-daemon >/dev/null 2>&1; then
    start-stop-daemon --start --oknodo --background --exec "$server" -- \
      -a 127.0.0.1 -p 4222 -js -sd "$store" -l "$log" >&2 || true
  else
    nohup "$server" -a 127.0.0.1 -p 4222 -js -sd "$store" -l "$log" >/dev/null 2>&1 &
  fi
  wait_port 4222 || missing+=("NATS did not start: see $log")
}

# `type -P` looks on PATH only: `command -v` would find a shell function of the same name.
browser() {
  type -P chromium >/dev/null 2>&1 && return 0
  type -P chromium-browser >/dev/null 2>&1 && return 0
  if can_install; then
    note "installing Debian's chromium"
    apt_install chromium && return 0
  fi
  missing+=("Chromium for the browser tests: apt-get install chromium (as root)")
}

git_cli() {
  type -P git >/dev/null 2>&1 && return 0
  if can_install; then apt_install git && return 0; fi
  missing+=("git: apt-get install git (as root)")
}

postgres
rabbitmq
nats
browser
git_cli

if ((${#missing[@]})); then
  note "missing:"
  printf '  %s\n' "${missing[@]}" >&2
  if [[ ${CI:-} == true ]]; then exit 1; fi
  note "the tests that need these are skipped (with CI=true they fail)"
fi
exit 0
