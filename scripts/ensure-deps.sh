#!/usr/bin/env bash
# Installs what infradash's make targets need and the machine lacks, from Debian's packages.
# Usage: scripts/ensure-deps.sh postgres|chromium|promtool ...
set -euo pipefail

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
updated=""

apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-deps: $* missing and apt-get is not available; install it with your package manager" >&2
    exit 1
  fi
  if [ -z "$updated" ]; then
    $sudo apt-get update -qq
    updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

have_postgres() {
  command -v initdb >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

for dep in "$@"; do
  case "$dep" in
    postgres)
      # The server binaries and, when running as root, the postgres user to run them as.
      if ! have_postgres || { [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; }; then
        echo "ensure-deps: installing PostgreSQL server binaries" >&2
        apt_install postgresql
      fi
      ;;
    node)
      # npm fetches the pinned linters (scripts/lint-openapi.sh); nothing is built with it.
      if ! command -v npm >/dev/null 2>&1; then
        echo "ensure-deps: installing Node.js and npm for the OpenAPI lint" >&2
        apt_install nodejs npm
      fi
      ;;
    chromium)
      if ! command -v chromium >/dev/null 2>&1; then
        echo "ensure-deps: installing chromium for the browser tests" >&2
        apt_install chromium
      fi
      ;;
    promtool)
      # The tests lint /metrics with `promtool check metrics`; Debian ships it in the prometheus
      # package. Only the tool is wanted: on a systemd machine the package also enables and
      # starts a Prometheus server, which is stopped and disabled again when this installed it.
      if ! command -v promtool >/dev/null 2>&1; then
        echo "ensure-deps: installing prometheus (for promtool) for the metrics test" >&2
        apt_install prometheus
        if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
          $sudo systemctl disable --now prometheus >/dev/null 2>&1 || true
        fi
      fi
      ;;
    *) echo "ensure-deps: unknown dependency $dep" >&2; exit 2 ;;
  esac
done
