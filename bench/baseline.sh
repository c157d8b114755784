#!/usr/bin/env bash
# Baseline for the rollout benchmark: place registries.yaml the way a
# hand-written loop does it. Each node in turn gets four ssh calls that create
# the directory, write the file through tee, restart k3s and restart
# k3s-agent. Every node restarts on every run, changed or not. A node without
# one of the units fails that restart quickly (systemd: "Unit not found"),
# and `|| true` keeps the loop going.
#
# Usage: bench/baseline.sh HOSTS_FILE PRIVATE_KEY KNOWN_HOSTS REGISTRIES_YAML
#
#   HOSTS_FILE       one "HOST PORT" line per node, in rollout order
#   PRIVATE_KEY      SSH key that logs in as root on every node
#   KNOWN_HOSTS      known_hosts file with every node's host key
#   REGISTRIES_YAML  the file to place at /etc/rancher/k3s/registries.yaml
# The last line on stdout is "ssh calls: N".
set -euo pipefail

if [ "$#" -ne 4 ]; then
  echo "usage: $0 HOSTS_FILE PRIVATE_KEY KNOWN_HOSTS REGISTRIES_YAML" >&2
  exit 2
fi
hosts_file=$1 key=$2 known_hosts=$3 file=$4
calls=0

node_ssh() {
  local host=$1 port=$2
  shift 2
  calls=$((calls + 1))
  ssh -F /dev/null -i "$key" -p "$port" \
    -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=15 \
    -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$known_hosts" \
    -o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR \
    "root@$host" "$@"
}

while read -r host port; do
  [ -n "$host" ] || continue
  echo "node $host:$port"
  node_ssh "$host" "$port" 'mkdir -p /etc/rancher/k3s' < /dev/null
  node_ssh "$host" "$port" 'tee /etc/rancher/k3s/registries.yaml > /dev/null' < "$file"
  node_ssh "$host" "$port" 'systemctl restart k3s' < /dev/null || true
  node_ssh "$host" "$port" 'systemctl restart k3s-agent' < /dev/null || true
done < "$hosts_file"

echo "ssh calls: $calls"
