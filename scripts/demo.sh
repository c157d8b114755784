#!/usr/bin/env bash
# Demo: place one registries.yaml on four sandbox K3s nodes over SSH.
#
#   bash scripts/demo.sh                 install, start nodes and registry, deploy twice
#   bash scripts/demo.sh clean           stop the nodes and the registry, remove .sandbox/local
#   bash scripts/demo.sh clean --state   the same, and remove .pulumi-state
#
# Runs as root on Debian 12. Every process it starts listens on 127.0.0.1:
# nodes s1, s2 (servers) and a1, a2 (agents) on ports 22201-22204, which
# stacks/Pulumi.local.yaml names, and the registry on 5443. The deploy runs
# twice, and the second run must leave every node unchanged. docs/demo.md
# describes the output.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

stack=local
sandbox_dir=.sandbox/local
registry_dir=$sandbox_dir/registry
fingerprint_key=$sandbox_dir/fingerprint.key
node_specs=s1:server,s2:server,a1:agent,a2:agent
base_port=22201
registry_port=5443
python=.venv/bin/python

# The demo stack contains no encrypted value, so this passphrase protects
# only the demo's own state in .pulumi-state. stacks/Pulumi.local.yaml
# contains the encryptionsalt of this passphrase, and docs/demo.md says how
# to use another one.
demo_passphrase=k3s-registries-demo

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

clean() {
  if [ ! -x "$python" ] && [ -d "$sandbox_dir" ]; then
    die "$python is missing, so the sandbox processes cannot be stopped; run scripts/setup.sh"
  fi
  if [ -f "$registry_dir/registry.json" ]; then
    "$python" -m sandbox --dir "$registry_dir" registry stop
  fi
  if [ -f "$sandbox_dir/inventory.json" ]; then
    "$python" -m sandbox --dir "$sandbox_dir" stop
  fi
  rm -rf "$sandbox_dir"
  echo "demo: removed $sandbox_dir"
  if [ "${1:-}" = "--state" ]; then
    rm -rf .pulumi-state
    echo "demo: removed .pulumi-state"
  fi
}

# Succeed when the nodes of $sandbox_dir run with the names, roles and ports
# that the stack file names.
nodes_running() {
  local status expected
  [ -f "$sandbox_dir/inventory.json" ] || return 1
  status=$("$python" -m sandbox --dir "$sandbox_dir" status 2>/dev/null) || return 1
  expected="s1:server:22201 s2:server:22202 a1:agent:22203 a2:agent:22204"
  [ "$(awk 'NR > 1 { printf "%s%s:%s:%s", sep, $1, $2, $4; sep = " " }' <<<"$status")" = "$expected" ]
}

registry_running() {
  local status
  [ -f "$registry_dir/registry.json" ] || return 1
  status=$("$python" -m sandbox --dir "$registry_dir" registry status 2>/dev/null) || return 1
  grep -q "^https://127.0.0.1:$registry_port " <<<"$status"
}

start_sandbox() {
  say "Sandbox nodes in $sandbox_dir"
  if nodes_running; then
    echo "demo: nodes s1, s2, a1, a2 already run on ports 22201-22204; keeping them"
  else
    # Starting nodes replaces the whole sandbox directory, the registry's
    # files included, so a registry left from an earlier run stops first.
    if [ -f "$registry_dir/registry.json" ]; then
      "$python" -m sandbox --dir "$registry_dir" registry stop
    fi
    if [ -f "$sandbox_dir/inventory.json" ]; then
      "$python" -m sandbox --dir "$sandbox_dir" stop
    fi
    "$python" -m sandbox --dir "$sandbox_dir" start --nodes "$node_specs" --base-port "$base_port"
  fi
  "$python" -m sandbox --dir "$sandbox_dir" status

  say "Registry on 127.0.0.1:$registry_port (files in $registry_dir)"
  if registry_running; then
    echo "demo: the registry already runs; keeping it"
  else
    "$python" -m sandbox --dir "$registry_dir" registry start --port "$registry_port"
  fi
  "$python" -m sandbox --dir "$registry_dir" registry status

  if [ ! -s "$fingerprint_key" ]; then
    (umask 077 && openssl rand -hex 32 > "$fingerprint_key")
    echo "demo: wrote a random fingerprint key to $fingerprint_key"
  fi
  chmod 600 "$fingerprint_key"
}

# Deploy the stack once: with the Pulumi engine when all of it is on PATH,
# else with the direct rollout, which runs the same node scripts over SSH.
deploy() {
  if [ "${#missing_engine[@]}" -eq 0 ]; then
    # select_engine exported the PULUMI_* settings.
    pulumi up --yes --stack "$stack" --non-interactive
  else
    "$python" -m components rollout --stack "$stack"
  fi
}

select_engine() {
  local notes engine_bin tool
  say "Pulumi engine"
  notes=$(mktemp)
  # engine.sh prints the folder to put on PATH last, and why a piece is
  # missing on stderr.
  engine_bin=$(bash scripts/engine.sh 2>"$notes" | tail -n 1) || engine_bin=""
  if [ -n "$engine_bin" ]; then
    export PATH="$engine_bin:$PATH"
  fi
  missing_engine=()
  for tool in pulumi pulumi-language-python pulumi-resource-command; do
    command -v "$tool" >/dev/null 2>&1 || missing_engine+=("$tool")
  done

  if [ "${#missing_engine[@]}" -eq 0 ]; then
    echo "demo: deploying with pulumi up (state in .pulumi-state)"
    mkdir -p .pulumi-state/home
    export PULUMI_BACKEND_URL="file://$root/.pulumi-state"
    export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE:-$demo_passphrase}"
    export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
    export PULUMI_HOME="$root/.pulumi-state/home"
    if ! pulumi stack select "$stack" --non-interactive >/dev/null 2>&1; then
      pulumi stack init "$stack" --non-interactive
    fi
  else
    local missing="${missing_engine[0]} is"
    if [ "${#missing_engine[@]}" -eq 2 ]; then
      missing="${missing_engine[0]} and ${missing_engine[1]} are"
    elif [ "${#missing_engine[@]}" -eq 3 ]; then
      missing="${missing_engine[0]}, ${missing_engine[1]} and ${missing_engine[2]} are"
    fi
    cat <<EOF
The Pulumi engine is incomplete: $missing not on PATH, so
\`pulumi up\` cannot run this program (it needs the CLI, the Python language
host and the pulumi-command provider). scripts/engine.sh gives the reason
below. The demo deploys with \`python -m components rollout --stack $stack\`
instead: it sends the same node script with the same payload over SSH, in the
same order as the component (servers one at a time, then agents in batches),
but it keeps no Pulumi state, so there is no preview and no stack history.
EOF
    sed 's/^/  /' "$notes"
    if ! "$python" -m components rollout --help >/dev/null 2>&1; then
      rm -f "$notes"
      die "this checkout has no \`python -m components rollout\` command, so nothing can deploy"
    fi
  fi
  rm -f "$notes"
}

# Print what each node contains, whether the placed credentials log in to the
# registry, and every unit restart with the ones since $1 (seconds since the
# epoch) marked. With --expect-unchanged, print only the summary, and exit 4
# when a unit restarted since $1.
# No secret value is printed: registries.yaml shows as path, mode, owner and
# sha256 only.
report() {
  "$python" - "$sandbox_dir" "$registry_dir" "$@" <<'EOF'
import base64
import datetime
import hashlib
import http.client
import pwd
import ssl
import stat
import sys
from pathlib import Path

import yaml

from sandbox import Sandbox
from sandbox.registry import Registry

directory, registry_directory, since = sys.argv[1], sys.argv[2], float(sys.argv[3])
expect_unchanged = "--expect-unchanged" in sys.argv[4:]
sandbox = Sandbox.load(directory)
registry = Registry.load(registry_directory)


def clock(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds).strftime("%H:%M:%S.%f")[:-3]


def describe(node_path: str, host_path: Path) -> str:
    info = host_path.stat()
    try:
        owner = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        owner = str(info.st_uid)
    return f"{node_path}  mode {stat.S_IMODE(info.st_mode):04o}  owner {owner}"


def login_status(node: str, registries: Path) -> str:
    """GET /v2/ with the credentials and CA file that registries.yaml on the node names."""
    config = yaml.safe_load(registries.read_text())["configs"][registry.host]
    auth = config["auth"]
    context = ssl.create_default_context(cafile=sandbox.host_path(node, config["tls"]["ca_file"]))
    token = base64.b64encode(f"{auth['username']}:{auth['password']}".encode()).decode()
    connection = http.client.HTTPSConnection("127.0.0.1", registry.port, timeout=5, context=context)
    try:
        connection.request("GET", "/v2/", headers={"Authorization": f"Basic {token}"})
        return str(connection.getresponse().status)
    except (OSError, http.client.HTTPException) as error:
        return f"failed: {error}"
    finally:
        connection.close()


def show_node(name: str, distribution: str) -> None:
    config_dir = f"/etc/rancher/{distribution}"
    registries = sandbox.host_path(name, f"{config_dir}/registries.yaml")
    if not registries.exists():
        print(f"  {config_dir}/registries.yaml  missing")
        return
    digest = hashlib.sha256(registries.read_bytes()).hexdigest()
    print(f"  {describe(f'{config_dir}/registries.yaml', registries)}  sha256 {digest[:16]}")
    certs = sandbox.host_path(name, f"{config_dir}/certs")
    for path in sorted(certs.rglob("*")) if certs.exists() else []:
        if path.is_file():
            print(f"  {describe(f'{config_dir}/certs/{path.relative_to(certs)}', path)}")
    print(f"  GET {registry.url}/v2/ with the placed credentials and CA: "
          f"{login_status(name, registries)}")


restarts = []
digests = set()
for name, node in sandbox.nodes.items():
    if not expect_unchanged:
        print(f"node {name} ({node.role}, unit {node.unit}, port {node.port})")
        show_node(name, node.distribution)
    registries = sandbox.host_path(name, f"/etc/rancher/{node.distribution}/registries.yaml")
    if registries.exists():
        digests.add(hashlib.sha256(registries.read_bytes()).hexdigest())
    restarts += [(call["start"], call["end"], name, call) for call in sandbox.restarts(name)]

if not expect_unchanged:
    print()
if len(digests) == 1:
    print(f"Every node has the same registries.yaml, sha256 {digests.pop()}.")
elif digests:
    print(f"The nodes have {len(digests)} different registries.yaml files.")
print("Unit restarts since the nodes started, in order:")
for number, (start, end, name, call) in enumerate(sorted(restarts), 1):
    mark = "  (this run)" if start >= since else ""
    print(f"  {number}. {clock(start)} - {clock(end)}  {name}: systemctl restart "
          f"{call['unit']}, exit {call['exit']}{mark}")
new = [restart for restart in restarts if restart[0] >= since]
print(f"This run restarted {len(new)} units." if new else "This run restarted no unit.")
if expect_unchanged and new:
    print("demo: the second deploy restarted units, so it was not a no-op", file=sys.stderr)
    sys.exit(4)
EOF
}

# Print the masked registries.yaml when the CLI can render a stack. With
# --stack, render masks every secret value with the stack's fingerprint key
# and prints real values only with --show-secrets.
print_masked() {
  if "$python" -m components render --help 2>/dev/null | grep -q -- '--stack'; then
    say "registries.yaml as placed, each secret value replaced by a keyed fingerprint"
    "$python" -m components render --stack "$stack"
  fi
}

main() {
  [ "$(id -u)" -eq 0 ] || die "run as root: sandbox nodes need mount namespaces"

  say "Setup: Debian packages, .venv and the Pulumi engine (scripts/setup.sh)"
  bash scripts/setup.sh

  start_sandbox
  select_engine

  local since
  since=$(date +%s.%N)
  say "Deploy"
  deploy
  print_masked
  say "What the nodes contain"
  report "$since"

  since=$(date +%s.%N)
  say "Deploy again: nothing should change"
  deploy
  say "After the second run"
  report "$since" --expect-unchanged

  printf '\ndemo: done. Clean up with: bash scripts/demo.sh clean [--state]\n'
}

case "${1:-}" in
  "") main ;;
  clean)
    case "${2:-}" in
      ""|--state) clean "${2:-}" ;;
      *) die "unknown option ${2}: use clean or clean --state" ;;
    esac
    ;;
  -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown command $1: use no argument, clean or clean --state" ;;
esac
