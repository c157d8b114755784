#!/usr/bin/env bash
# Install everything the demo and the tests need on a fresh Debian 12 machine:
# Debian packages, the project's virtualenv, and the Pulumi engine (built from
# Go modules by scripts/engine.sh when `pulumi` is not on PATH). Each step is
# skipped when its result is already there, so a second run takes seconds.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# openssh-server and sudo: sandbox nodes; docker-registry, apache2-utils and
# openssl: the demo's local registry with htpasswd auth and a self-signed CA;
# kubernetes-client: kubectl, to compare pull Secret payloads.
packages=(openssh-server openssh-client sudo docker-registry apache2-utils openssl kubernetes-client)
missing=()
for package in "${packages[@]}"; do
  # When another package (such as one named kubectl) already provides
  # /usr/bin/kubectl, dpkg refuses to install kubernetes-client over it.
  if [ "$package" = kubernetes-client ] && command -v kubectl >/dev/null; then
    continue
  fi
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Starting services from maintainer scripts fails without systemd; the
  # sandbox starts its own sshd and registry processes.
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
  trap - EXIT
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.requirements.sha256
wanted=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "setup: installing Python packages into .venv" >&2
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
  echo "$wanted" > "$stamp"
fi

bash scripts/engine.sh >&2
