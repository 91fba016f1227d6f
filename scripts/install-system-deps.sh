#!/usr/bin/env bash
# System packages for the end-to-end tier (real WordPress + real browser) and the Celery tests
# (a real Redis broker), from Debian.
# Idempotent and quick when everything is present. Fails loudly: CI never skips a tier.
set -euo pipefail

PACKAGES=(
  wordpress wordpress-theme-twentytwentyone php-cli php-mysql php-curl php-xml php-mbstring
  php-gd mariadb-server curl chromium phpunit php-codesniffer nodejs redis-server
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages (${missing[*]}); run 'sudo bash $0'" >&2
  exit 1
fi
# Package scripts must not start Apache, MariaDB or Redis as services: tests start their own.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
