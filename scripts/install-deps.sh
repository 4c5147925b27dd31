#!/usr/bin/env bash
# Installs what kubesnap needs on a Debian machine that has Swift, skipping what is present.
#   scripts/install-deps.sh          build and run: libcurl, libyaml, OpenSSL headers, restic
#   scripts/install-deps.sh --test   also what the tests use: rclone, kubectl check, moto_server
set -euo pipefail

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

packages=(libcurl4-openssl-dev libyaml-dev libssl-dev restic ca-certificates pkg-config)
# chromium and chromium-driver: the console's browser tests (Selenium drives Debian's Chromium).
[ "$want_test" = 1 ] && packages+=(rclone python3-pip curl chromium chromium-driver)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "$want_test" = 1 ]; then
  if ! command -v moto_server >/dev/null 2>&1; then
    echo "installing: moto[server] (PyPI)"
    python3 -m pip install --quiet 'moto[server]' 2>/dev/null \
      || python3 -m pip install --quiet --break-system-packages 'moto[server]'
  fi
  if ! command -v aws >/dev/null 2>&1; then
    echo "installing: awscli (PyPI; the S3 tests make their buckets with it)"
    python3 -m pip install --quiet awscli 2>/dev/null \
      || python3 -m pip install --quiet --break-system-packages awscli
  fi
  if ! python3 -c 'import selenium' >/dev/null 2>&1; then
    echo "installing: selenium (PyPI; the console's browser tests)"
    python3 -m pip install --quiet selenium 2>/dev/null \
      || python3 -m pip install --quiet --break-system-packages selenium
  fi
  if [ ! -x /usr/bin/kubectl ] && ! command -v kubectl >/dev/null 2>&1; then
    echo "kubectl is needed by the tests (a real client of the built-in API server); install kubectl v1.32" >&2
    exit 1
  fi
fi
