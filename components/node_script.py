"""The remote script that places registry files on one node and restarts its service.

Each node's ``pulumi_command.remote.Command`` runs :func:`build_create_script`
as ``create`` with :func:`build_payload` as the secret ``stdin``. The script
body is one fixed POSIX sh text, the same for every node. Node name, unit and
health check are passed as arguments, and a secret-free summary of the
content sits in comment lines on top. So ``pulumi preview --diff`` of
``create`` shows only which mirror or file changed.

Facts about pulumi-command (provider v1.2, ``provider/pkg/provider/remote``)
that shape this: the provider runs the command string in one SSH session, and
sshd hands it to the login shell with ``-c``. ``stdin`` is attached only when
it is not empty. On failure the whole command string and its output go into
the error message, which is why content never appears in the command.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from components.node_payload import (
    PAYLOAD_HEADER,
    REGISTRIES_FILE,
    Distribution,
    NodeFile,
    build_payload,
    check_path,
    config_dir,
)

__all__ = [
    "NodeFile",
    "ScriptSettings",
    "build_create_script",
    "build_delete_script",
    "build_payload",
    "config_dir",
    "default_health_check",
    "service_unit",
]

Role = Literal["server", "agent"]
DeleteBehaviour = Literal["keep", "remove"]

SCRIPT_NAME = "k3s-registries"
"""``$0`` of the node script, so that the process is easy to spot in ``ps``."""

_UNITS: dict[tuple[Distribution, Role], str] = {
    ("k3s", "server"): "k3s",
    ("k3s", "agent"): "k3s-agent",
    ("rke2", "server"): "rke2-server",
    ("rke2", "agent"): "rke2-agent",
}

# Kubernetes node names are DNS subdomains. The name is also printed in
# every message and passed as a shell word, so it is kept to these characters.
_NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")


@dataclass(frozen=True)
class ScriptSettings:
    """Settings of the node script for one node."""

    node: str
    """Node name, used in every message."""
    distribution: Distribution
    role: Role
    sudo: bool
    """True when the SSH user is not root: the script runs through ``sudo -n``."""
    health_check: str | None
    """Shell command that exits 0 when the node is healthy; None for the default."""
    health_timeout: int
    """Seconds to wait for the health check to pass after a restart."""
    restart: bool = True
    """False: place the files and leave the service alone."""

    def __post_init__(self) -> None:
        if not _NODE_NAME.fullmatch(self.node):
            raise ValueError(
                f"invalid node name {self.node!r}: use letters, digits, '.', '_' and '-', "
                "starting with a letter or digit"
            )
        if (self.distribution, self.role) not in _UNITS:
            raise ValueError(
                f"node {self.node}: unknown distribution/role {self.distribution}/{self.role}: "
                "expected k3s or rke2, server or agent"
            )
        if self.health_timeout < 1:
            raise ValueError(
                f"node {self.node}: health_timeout must be at least 1 second, "
                f"not {self.health_timeout}"
            )
        if self.health_check is not None and (not self.health_check.strip()
                                              or "\0" in self.health_check):
            raise ValueError(
                f"node {self.node}: health_check is empty or contains a NUL character; "
                "pass None for the default"
            )


def service_unit(distribution: Distribution, role: Role) -> str:
    """Return the systemd unit that reads ``registries.yaml`` on this kind of node."""
    try:
        return _UNITS[(distribution, role)]
    except KeyError:
        raise ValueError(
            f"unknown distribution/role {distribution}/{role}: "
            "expected k3s or rke2, server or agent"
        ) from None


def default_health_check(distribution: Distribution, role: Role) -> str:
    """Return the default health check: the unit is active and, on servers, the API is ready.

    K3s serves kubectl as ``k3s kubectl`` with its admin kubeconfig. RKE2
    installs kubectl at ``/var/lib/rancher/rke2/bin/kubectl`` and writes the
    admin kubeconfig to ``/etc/rancher/rke2/rke2.yaml`` (RKE2 documentation,
    "Cluster Access").
    """
    unit = service_unit(distribution, role)
    check = f"systemctl is-active --quiet {unit}"
    if role == "agent":
        return check
    if distribution == "k3s":
        return f"{check} && k3s kubectl get --raw=/readyz"
    return (
        f"{check} && /var/lib/rancher/rke2/bin/kubectl"
        " --kubeconfig /etc/rancher/rke2/rke2.yaml get --raw=/readyz"
    )


def summary_comment(summary: str) -> str:
    """Turn ``summary`` into shell comment lines that nothing in it can end early.

    Only a newline ends a shell comment, so splitting on newlines is enough
    for the shell. Other non-printable characters (control characters,
    Unicode line separators, bidirectional overrides) are written as escapes
    so that they cannot disguise the text in a terminal or a review.
    """
    lines = []
    for raw in summary.replace("\r\n", "\n").split("\n"):
        text = "".join(
            char if char.isprintable() else f"\\u{ord(char):04x}" for char in raw
        ).rstrip()
        lines.append(f"#   {text}" if text else "#")
    while lines and lines[-1] == "#":
        lines.pop()
    return "\n".join(lines)


def _invocation(settings: ScriptSettings, action: str, paths: Sequence[str]) -> str:
    """Return the ``exec`` line that runs the script body as root with its arguments."""
    health_check = settings.health_check or default_health_check(
        settings.distribution, settings.role
    )
    arguments = [
        SCRIPT_NAME,
        settings.node,
        action,
        config_dir(settings.distribution),
        service_unit(settings.distribution, settings.role),
        "yes" if settings.restart else "no",
        str(settings.health_timeout),
        health_check,
        *paths,
    ]
    quoted = " ".join(shlex.quote(argument) for argument in arguments)
    if not settings.sudo:
        return f'exec sh -c "$script" {quoted}'

    # `sudo -n` fails at once instead of waiting for a password. It is checked
    # first so that the error names the node instead of only printing sudo's
    # own message.
    return "\n".join([
        "if ! sudo -n true 2>/dev/null; then",
        f'  echo "node {settings.node}: sudo -n failed for user $(id -un): give this user'
        ' passwordless sudo (NOPASSWD) or connect as root" >&2',
        "  exit 1",
        "fi",
        f'exec sudo -n sh -c "$script" {quoted}',
    ])


def _wrap(settings: ScriptSettings, action: str, summary: str, paths: Sequence[str]) -> str:
    """Assemble a whole command: description, summary, script body, invocation."""
    unit = service_unit(settings.distribution, settings.role)
    purpose = "place registry files" if action == "place" else "remove registry files"
    header = [
        f"# {SCRIPT_NAME}: {purpose} on node {settings.node}"
        f" ({settings.distribution} {settings.role}) and restart {unit} when they change.",
    ]
    if action == "place":
        header.append(f"# The files arrive on stdin in the {PAYLOAD_HEADER!r} format.")
    if summary:
        header.append("# Content summary (secret values masked):")
        header.append(summary_comment(summary))
    return "\n".join([
        *header,
        f"script='{SCRIPT_BODY}'",
        _invocation(settings, action, paths),
        "",
    ])


def build_create_script(settings: ScriptSettings, summary: str) -> str:
    """Return the command for ``create`` (and ``update``): read files on stdin, place them.

    ``summary`` is a secret-free description of the content, such as the
    masked ``registries.yaml`` and file fingerprints. It becomes comment lines
    at the top, so that a preview diff shows what changed.
    """
    return _wrap(settings, "place", summary, ())


def build_delete_script(
    settings: ScriptSettings,
    files: Sequence[NodeFile | str],
    behaviour: DeleteBehaviour = "keep",
) -> str | None:
    """Return the command for ``delete``: None with "keep", a removal script with "remove".

    ``files`` are the placed files or just their paths. "keep" leaves them on
    the node, because a node without its mirror settings may no longer pull
    images. "remove" removes them, restarts the unit and checks its health.
    If that fails, it puts the files back.
    """
    if behaviour == "keep":
        return None
    if behaviour != "remove":
        raise ValueError(f"node {settings.node}: unknown delete behaviour {behaviour!r}: "
                         "expected 'keep' or 'remove'")
    paths = [item.path if isinstance(item, NodeFile) else item for item in files]
    if not paths:
        raise ValueError(f"node {settings.node}: no node files to remove")
    for path in paths:
        check_path(path, settings.distribution)
    if len(set(paths)) != len(paths):
        raise ValueError(f"node {settings.node}: a node file path is listed more than once")
    # Remove registries.yaml first, the reverse of the write order, so that it
    # never points at a certificate that is already gone.
    paths.sort(key=lambda path: posixpath.basename(path) != REGISTRIES_FILE)
    return _wrap(settings, "remove", "", paths)


# The body is POSIX sh, tested with dash (Debian's /bin/sh). It contains no
# single quote, so that the outer command can hold it in one quoted string that
# the shell passes on unchanged, and the text appears once. Content never
# reaches the argv of any process: the payload goes from stdin to files by
# `cat`, and lines move with the builtins `read` and `printf`.
SCRIPT_BODY = r"""
# Arguments: NODE ACTION CONFIG_DIR UNIT RESTART HEALTH_TIMEOUT HEALTH_CHECK [PATH...]
# ACTION "place" reads the files from stdin, "remove" removes the PATHs.
set -eu
set -f
node=$1 action=$2 config_dir=$3 unit=$4 restart=$5 health_timeout=$6 health_check=$7
shift 7
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH

# stage: "checking" until the first file changes, then "writing",
# "restarting", and "finished" or "rolling_back". The exit trap rolls back
# when the script stops in "writing" or "restarting".
stage=checking
work=
tmp=

report() { printf "node %s: %s\n" "$node" "$*" || :; }
warn() { printf "node %s: %s\n" "$node" "$*" >&2 || :; }
die() {
  if [ "$stage" = checking ]; then warn "$*; nothing was changed"; else warn "$*"; fi
  exit 1
}

on_exit() {
  code=$?
  set +e
  [ -z "$tmp" ] || rm -f "$tmp"
  case $stage in
    writing|restarting)
      was=$stage
      stage=rolling_back
      warn "stopped with exit status $code while changing files; restoring the previous files"
      restore
      if [ "$was" = restarting ]; then systemctl restart "$unit"; fi
      ;;
  esac
  [ -z "$work" ] || rm -rf "$work"
  exit "$code"
}
trap on_exit EXIT
trap "exit 129" HUP
trap "exit 130" INT
trap "exit 143" TERM
# A dropped SSH connection must not kill the script between a write and its
# restart or rollback. With SIGPIPE ignored, output fails with EPIPE instead,
# which report and warn ignore.
trap "" PIPE

# Reject a path outside the config dir, a path whose directories are not real
# directories, and a target that exists but is not a regular file.
check_target() {
  case $1 in "$config_dir"/*) ;; *) die "$1 is outside $config_dir" ;; esac
  case $1 in *//*|*/./*|*/../*|*/.|*/..|*/) die "$1 is not a normalized path" ;; esac
  case $1 in
    *[!A-Za-z0-9._:/-]*) die "$1 contains characters other than A-Z a-z 0-9 . _ : / -" ;;
  esac
  dir=$config_dir
  rest=${1#"$config_dir"/}
  while :; do
    case $rest in */*) ;; *) break ;; esac
    dir=$dir/${rest%%/*}
    rest=${rest#*/}
    if [ -L "$dir" ] || { [ -e "$dir" ] && [ ! -d "$dir" ]; }; then
      die "$dir exists and is not a directory (a symlink or a file); remove it by hand"
    fi
  done
  if [ -L "$1" ] || { [ -e "$1" ] && [ ! -f "$1" ]; }; then
    die "$1 exists and is not a regular file (a directory or a symlink); remove it by hand"
  fi
}

# Create the missing directories between the config dir and file $1: mode 0700, owner root.
make_parents() {
  dir=$config_dir
  rest=${1#"$config_dir"/}
  while :; do
    case $rest in */*) ;; *) return 0 ;; esac
    dir=$dir/${rest%%/*}
    rest=${rest#*/}
    if [ ! -d "$dir" ]; then
      printf "%s\n" "$dir" >> "$work/created-dirs"
      mkdir -m 0700 "$dir"
      chown root:root "$dir"
    fi
  done
}

# Replace $2 with a copy of $1 atomically: temp file in the same directory,
# fsync, rename. Mode $3 and owner root when given, else those of $1.
put_file() {
  tmp=$(mktemp "${2%/*}/.${2##*/}.XXXXXX")
  cp -p "$1" "$tmp"
  if [ -n "${3:-}" ]; then
    chmod "$3" "$tmp"
    chown root:root "$tmp"
  fi
  sync "$tmp"
  mv -fT "$tmp" "$2"
  tmp=
  sync "${2%/*}"
}

# Put back the previous files, remove files that did not exist before, and
# remove the directories this run created.
restore() {
  if [ -f "$work/replaced" ]; then
    while read -r i path; do
      put_file "$work/$i.old" "$path" || warn "could not restore $path"
    done < "$work/replaced"
  fi
  if [ -f "$work/added" ]; then
    while read -r path; do rm -f "$path"; done < "$work/added"
  fi
  if [ -f "$work/created-dirs" ]; then
    tac "$work/created-dirs" | while read -r dir; do rmdir "$dir" 2>/dev/null || :; done
  fi
}

# Poll the health check once a second until it passes or health_timeout runs out.
wait_healthy() {
  deadline=$(( $(date +%s) + health_timeout ))
  while :; do
    left=$(( deadline - $(date +%s) ))
    [ "$left" -gt 0 ] || left=1
    if timeout "$left" sh -c "$health_check" < /dev/null > "$work/health.out" 2>&1; then
      return 0
    fi
    [ "$(date +%s)" -lt "$deadline" ] || break
    sleep 1
  done
  head -n 5 "$work/health.out" | while IFS= read -r line; do warn "health check: $line"; done
  return 1
}

rollback() {
  set +e
  stage=rolling_back
  warn "$1; restoring the previous files"
  restore
  if systemctl restart "$unit" && wait_healthy; then
    die "$1; restored the previous files and restarted $unit, which passes its health check"
  fi
  die "$1; restored the previous files, but $unit is unhealthy after a restart: check the node"
}

# Restart the unit after a change ($1 describes it) and wait for the health
# check. Roll back when either fails.
apply() {
  if [ "$restart" != yes ]; then
    stage=finished
    report "$1; restart disabled, $unit not restarted"
    exit 0
  fi
  stage=restarting
  report "$1, restarting $unit"
  systemctl restart "$unit" < /dev/null || rollback "restart of $unit failed"
  wait_healthy || rollback "health check failed for ${health_timeout}s after restarting $unit"
  stage=finished
  report "$unit restarted and healthy"
}

# Copy stdin to a root-only file and check it completely before reading any of it.
read_payload() {
  cat > "$work/payload"
  last=$(tail -n 1 "$work/payload")
  case $last in
    "end "*) ;;
    *) die "the payload on stdin has no end line: stdin was cut short or empty" ;;
  esac
  rest=${last#end }
  count=${rest%% *}
  sum=$(sed "\$d" "$work/payload" | sha256sum)
  [ "${rest#* }" = "${sum%% *}" ] ||
    die "the payload checksum does not match: stdin was cut short or changed"
  [ "$(head -n 1 "$work/payload")" = "k3s-registries-payload 1" ] ||
    die "the payload is not in the k3s-registries-payload 1 format"

  n=0
  : > "$work/files"
  while IFS= read -r line; do
    case $line in
      "k3s-registries-payload "*|"end "*) ;;
      "file "*)
        n=$((n + 1))
        rest=${line#file }
        mode=${rest%% *}
        rest=${rest#* }
        size=${rest%% *}
        path=${rest#* }
        case $mode in 0[0-7][0-7][0-7]) ;; *) die "payload file $n: invalid mode $mode" ;; esac
        case $size in ""|*[!0-9]*) die "payload file $n: invalid size $size" ;; esac
        check_target "$path"
        printf "%s %s %s %s\n" "$n" "$mode" "$size" "$path" >> "$work/files"
        : > "$work/$n.b64"
        ;;
      *)
        [ "$n" -gt 0 ] || die "the payload has content before its first file line"
        printf "%s\n" "$line" >> "$work/$n.b64"
        ;;
    esac
  done < "$work/payload"
  [ "$n" = "$count" ] || die "the payload contains $n files but its end line counts $count"
  [ -z "$(cut -d " " -f 4- "$work/files" | sort | uniq -d)" ] ||
    die "the payload names a path more than once"
}

# Decode each file and compare it with the file on the node. The plan lists
# each file as new, changed, meta (same content, wrong mode or owner) or same.
make_plan() {
  : > "$work/plan"
  while read -r i mode size path; do
    base64 -d < "$work/$i.b64" > "$work/$i.new" || die "payload file $i ($path) is not valid base64"
    [ "$(wc -c < "$work/$i.new")" -eq "$size" ] ||
      die "payload file $i ($path) does not have its stated size of $size bytes"
    if [ ! -e "$path" ]; then
      state=new
    elif ! cmp -s "$work/$i.new" "$path"; then
      state=changed
    elif [ "$(stat -c "%a %u %g" "$path")" != "$(printf "%o" "$mode") 0 0" ]; then
      state=meta
    else
      state=same
    fi
    printf "%s %s %s %s\n" "$i" "$state" "$mode" "$path" >> "$work/plan"
  done < "$work/files"
}

place() {
  if [ -L "$config_dir" ] || { [ -e "$config_dir" ] && [ ! -d "$config_dir" ]; }; then
    die "$config_dir exists and is not a directory"
  fi
  (umask 022 && mkdir -p "$config_dir")
  umask 077
  work=$(mktemp -d "$config_dir/.registries-work.XXXXXX")
  read_payload
  make_plan

  changed=
  while read -r i state mode path; do
    case $state in new|changed) changed="$changed${changed:+, }${path#"$config_dir"/}" ;; esac
  done < "$work/plan"

  # Files are written in payload order, which puts registries.yaml last. Each
  # one is recorded before it is written, so an interrupted run restores it.
  [ -z "$changed" ] || stage=writing
  while read -r i state mode path; do
    case $state in
      meta)
        chmod "$mode" "$path"
        chown root:root "$path"
        report "set mode $mode and owner root on ${path#"$config_dir"/}"
        ;;
      new)
        printf "%s\n" "$path" >> "$work/added"
        make_parents "$path"
        put_file "$work/$i.new" "$path" "$mode"
        ;;
      changed)
        cp -p "$path" "$work/$i.old"
        printf "%s %s\n" "$i" "$path" >> "$work/replaced"
        put_file "$work/$i.new" "$path" "$mode"
        ;;
    esac
  done < "$work/plan"

  if [ -z "$changed" ]; then
    stage=finished
    report "unchanged"
    exit 0
  fi
  apply "$changed changed"
}

remove() {
  for path in "$@"; do check_target "$path"; done
  removed=
  for path in "$@"; do
    if [ -e "$path" ]; then removed="$removed${removed:+, }${path#"$config_dir"/}"; fi
  done
  if [ -z "$removed" ]; then
    report "files already absent"
    exit 0
  fi

  umask 077
  work=$(mktemp -d "$config_dir/.registries-work.XXXXXX")
  stage=writing
  i=0
  for path in "$@"; do
    [ -e "$path" ] || continue
    i=$((i + 1))
    cp -p "$path" "$work/$i.old"
    printf "%s %s\n" "$i" "$path" >> "$work/replaced"
    rm -f "$path"
  done
  apply "removed $removed"
}

[ "$(id -u)" = 0 ] || die "the script must run as root: connect as root or enable sudo"
case $config_dir in
  /etc/rancher/k3s|/etc/rancher/rke2) ;;
  *) die "config dir $config_dir is neither /etc/rancher/k3s nor /etc/rancher/rke2" ;;
esac
case $health_timeout in ""|*[!0-9]*) die "invalid health timeout $health_timeout" ;; esac
case $action in
  place) place ;;
  remove) remove "$@" ;;
  *) die "unknown action $action: expected place or remove" ;;
esac
"""

if "'" in SCRIPT_BODY:  # pragma: no cover - guards edits of the body
    raise AssertionError("the node script body must not contain a single quote")
