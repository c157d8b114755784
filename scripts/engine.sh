#!/usr/bin/env bash
# Build the Pulumi engine (CLI, Python language host, command provider) from Go
# modules into .tools/pulumi/bin, because no package registry ships its binaries.
#
# Usage: export PATH="$(scripts/engine.sh | tail -1):$PATH"
#
# The last line on stdout is always a folder to put on PATH. Progress and
# warnings go to stderr. A `pulumi` already on PATH (outside .tools) is used
# as is and nothing is built. A finished build is reused while its stamp file
# matches the pinned versions below; `rm -rf .tools/pulumi` forces a rebuild.
#
# Needs Go 1.26.6 or newer (the go directive of pulumi/pkg/v3 v3.274.0) and
# access to a Go module proxy. The Go module and build caches stay in their
# default places (go env GOMODCACHE, GOCACHE).
set -euo pipefail

# The Python SDK in requirements.txt is pulumi==3.272.0, but the module proxy
# rejects github.com/pulumi/pulumi/pkg/v3@v3.272.0 (403), so this is the oldest
# release at or above the SDK that it serves. main() rejects an SDK pin newer
# than this CLI.
PULUMI_VERSION=v3.274.0
PKG_MODULE=github.com/pulumi/pulumi/pkg/v3
SDK_MODULE=github.com/pulumi/pulumi/sdk/v3
VERSION_SYMBOL=github.com/pulumi/pulumi/sdk/v3/go/common/version.Version

# The language host module has no release tags, so only a pseudo-version of the
# release commit can name it, for example v3.0.0-20261103203023-<12 hex digits>.
# NOTE: no such version is pinned because the module proxy reachable here rejects
# every version of this module, and its responses for the release tags carry no
# commit hash to build the pseudo-version from. The build path for it has not run.
LANGUAGE_HOST_MODULE=github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3
LANGUAGE_HOST_VERSION=${PULUMI_LANGUAGE_PYTHON_VERSION:-}

COMMAND_MODULE=github.com/pulumi/pulumi-command/provider
COMMAND_VERSION_SYMBOL=github.com/pulumi/pulumi-command/provider/pkg/version.Version

LDFLAGS_STRIP="-s -w"

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools_dir="$repo_root/.tools/pulumi"
bin_dir="$tools_dir/bin"
build_dir="$tools_dir/build"
stamp_file="$tools_dir/stamp"
notes_dir="$tools_dir/notes"

log() {
    echo "engine.sh: $*" >&2
}

die() {
    log "error: $*"
    exit 1
}

# Print the value of NAME==VERSION from requirements.txt, or nothing.
requirement_version() {
    sed -n "s/^$1==\([^[:space:]#;]*\).*/\1/p" "$repo_root/requirements.txt" | head -1
}

# Print the module proxy's own response to a request for MODULE@VERSION, such
# as "404 Not Found". The default GOPROXY ends in ",direct", and after a proxy
# refusal the go command reports only the failed direct VCS fetch instead.
proxy_response() {
    local proxies response
    proxies=$(go env GOPROXY | tr ',|' '\n' | grep -v -x -e direct -e off | paste -sd, - || true)
    if [ -n "$proxies" ]; then
        response=$(GOPROXY=$proxies go list -m "$1" 2>&1 | tr -s '\n\t' '  ' || true)
    fi
    response=$(echo "${response:-}" | sed -E 's/^.*\.(info|mod|zip): //; s/ +$//')
    echo "${response:-no module proxy in GOPROXY}"
}

# Record that COMPONENT was not built, with REASON, so later runs can repeat it.
skip_component() {
    local component=$1 reason=$2
    mkdir -p "$notes_dir"
    echo "$component not built: $reason" >"$notes_dir/$component"
    log "$component not built: $reason"
}

# Print the replace directives of the given go.mod files as go mod edit flags.
# The go command ignores a replace in a dependency's go.mod, so the wrapper
# module repeats each one that points at another module version. Those with a
# relative path point into the pulumi repository itself, and requiring sdk/v3
# and pkg/v3 at the same release covers them.
replace_flags() {
    awk '
        /^replace[[:space:]]*\($/ { in_block = 1; next }
        in_block && /^\)/ { in_block = 0; next }
        /^replace[[:space:]]/ { sub(/^replace[[:space:]]+/, ""); print; next }
        in_block { print }
    ' "$@" | while read -r old_path arrow_or_version rest; do
        local old=$old_path
        if [ "$arrow_or_version" != "=>" ]; then
            old="$old_path@$arrow_or_version"
            rest=${rest#=> }
        fi
        read -r new_path new_version <<<"$rest"
        case "$new_path" in
            .* | /*) continue ;;
        esac
        echo "-replace=$old=$new_path@$new_version"
    done
}

# Print the GoMod file path of MODULE@VERSION, downloading it if needed.
downloaded_go_mod() {
    go mod download -json "$1" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p'
}

# Create a wrapper module in DIR that requires MODULE@VERSION pairs, carries
# their replace directives, and resolves the go.sum entries for PACKAGE@VERSION.
# Every step checks its status because callers use `prepare_wrapper || ...`,
# where bash ignores set -e.
prepare_wrapper() {
    local dir=$1 package=$2
    shift 2
    rm -rf "$dir" && mkdir -p "$dir" || return 1
    local go_mods=() requires=() flags=() module_version go_mod
    for module_version in "$@"; do
        go_mod=$(downloaded_go_mod "$module_version") && [ -n "$go_mod" ] || return 1
        go_mods+=("$go_mod")
        requires+=("-require=$module_version")
    done
    mapfile -t flags < <(replace_flags "${go_mods[@]}" | sort -u)
    (cd "$dir" && go mod init pulumi-engine-build 2>/dev/null) || return 1
    (cd "$dir" && go mod edit "${requires[@]}" "${flags[@]}") || return 1
    (cd "$dir" && go get "$package")
}

# Fail unless the wrapper module in DIR selected VERSION of MODULE, because a
# newer requirement elsewhere in the graph would silently raise it.
check_selected() {
    local dir=$1 module=$2 version=$3 selected
    selected=$(cd "$dir" && go list -m -f '{{.Version}}' "$module")
    if [ "$selected" != "$version" ]; then
        die "$module resolved to $selected, expected $version; pin a matching release in $0"
    fi
}

build_cli() {
    local dir="$build_dir/cli"
    log "building pulumi $PULUMI_VERSION from $PKG_MODULE"
    prepare_wrapper "$dir" "$PKG_MODULE/cmd/pulumi@$PULUMI_VERSION" \
        "$PKG_MODULE@$PULUMI_VERSION" "$SDK_MODULE@$PULUMI_VERSION" ||
        die "could not resolve $PKG_MODULE@$PULUMI_VERSION through the Go module proxy (see the go output above)"
    check_selected "$dir" "$SDK_MODULE" "$PULUMI_VERSION"
    check_selected "$dir" "$PKG_MODULE" "$PULUMI_VERSION"
    (
        cd "$dir" &&
            go build -trimpath -buildvcs=false \
                -ldflags "$LDFLAGS_STRIP -X $VERSION_SYMBOL=$PULUMI_VERSION" \
                -o "$bin_dir/pulumi" "$PKG_MODULE/cmd/pulumi"
    ) || die "go build of $PKG_MODULE/cmd/pulumi@$PULUMI_VERSION failed (see the go output above)"

    # The language host runs this Python script; it ships in the sdk/v3 module.
    local sdk_dir
    sdk_dir=$(cd "$dir" && go list -m -f '{{.Dir}}' "$SDK_MODULE")
    install -m 0755 "$sdk_dir/python/cmd/pulumi-language-python-exec" "$bin_dir/" ||
        die "pulumi-language-python-exec not found in $SDK_MODULE@$PULUMI_VERSION at $sdk_dir/python/cmd"
}

build_language_host() {
    local dir="$build_dir/language-python"
    if [ -z "$LANGUAGE_HOST_VERSION" ]; then
        skip_component pulumi-language-python \
            "the Go module proxy serves no version of $LANGUAGE_HOST_MODULE (for $PULUMI_VERSION: $(proxy_response "$LANGUAGE_HOST_MODULE@$PULUMI_VERSION")); set PULUMI_LANGUAGE_PYTHON_VERSION to a pseudo-version of the $PULUMI_VERSION commit to build it. Without it only Automation API inline programs run."
        return 0
    fi
    log "building pulumi-language-python $LANGUAGE_HOST_VERSION"
    if ! prepare_wrapper "$dir" "$LANGUAGE_HOST_MODULE@$LANGUAGE_HOST_VERSION" \
        "$LANGUAGE_HOST_MODULE@$LANGUAGE_HOST_VERSION" \
        "$PKG_MODULE@$PULUMI_VERSION" "$SDK_MODULE@$PULUMI_VERSION"; then
        skip_component pulumi-language-python \
            "could not download $LANGUAGE_HOST_MODULE@$LANGUAGE_HOST_VERSION: $(proxy_response "$LANGUAGE_HOST_MODULE@$LANGUAGE_HOST_VERSION")"
        return 0
    fi
    check_selected "$dir" "$SDK_MODULE" "$PULUMI_VERSION"
    check_selected "$dir" "$PKG_MODULE" "$PULUMI_VERSION"
    (
        cd "$dir" &&
            go build -trimpath -buildvcs=false \
                -ldflags "$LDFLAGS_STRIP -X $VERSION_SYMBOL=$PULUMI_VERSION" \
                -o "$bin_dir/pulumi-language-python" "$LANGUAGE_HOST_MODULE"
    ) || die "go build of $LANGUAGE_HOST_MODULE@$LANGUAGE_HOST_VERSION failed (see the go output above)"
}

# The provider's go.mod has no replace directives, so go install can build it
# straight from the module proxy.
build_command_provider() {
    local version=$1 output
    log "building pulumi-resource-command $version"
    if ! output=$(go mod download -json "$COMMAND_MODULE@$version" 2>&1); then
        skip_component pulumi-resource-command \
            "could not download $COMMAND_MODULE@$version from the Go module proxy: $(proxy_response "$COMMAND_MODULE@$version"). Programs with pulumi_command resources cannot run."
        return 0
    fi
    if ! output=$(GOBIN="$bin_dir" go install -trimpath -buildvcs=false \
        -ldflags "$LDFLAGS_STRIP -X $COMMAND_VERSION_SYMBOL=$version" \
        "$COMMAND_MODULE/cmd/pulumi-resource-command@$version" 2>&1); then
        echo "$output" >&2
        skip_component pulumi-resource-command "go install of $COMMAND_MODULE@$version failed (see the go output above)"
    fi
}

# Print the stamp that describes a build of the pinned versions.
expected_stamp() {
    echo "pulumi $PULUMI_VERSION"
    echo "pulumi-language-python ${LANGUAGE_HOST_VERSION:-none}"
    echo "pulumi-resource-command $1"
}

main() {
    local existing
    existing=$(command -v pulumi || true)
    if [ -n "$existing" ] && [ "$(realpath -m "$existing")" != "$(realpath -m "$bin_dir/pulumi")" ]; then
        log "using pulumi on PATH: $existing"
        dirname "$existing"
        return 0
    fi

    [ -f "$repo_root/requirements.txt" ] || die "missing $repo_root/requirements.txt"

    local sdk_version command_version
    sdk_version=$(requirement_version pulumi)
    command_version=$(requirement_version pulumi-command)
    [ -n "$sdk_version" ] || die "no pulumi==VERSION pin in requirements.txt"
    [ -n "$command_version" ] || die "no pulumi-command==VERSION pin in requirements.txt"
    if [ "$(printf '%s\n' "v$sdk_version" "$PULUMI_VERSION" | sort -V | head -1)" != "v$sdk_version" ]; then
        die "requirements.txt pins pulumi==$sdk_version, newer than the CLI $PULUMI_VERSION built here; raise PULUMI_VERSION in $0"
    fi
    command_version="v$command_version"

    mkdir -p "$tools_dir"
    # Serialize concurrent callers so that one build does not delete another's files.
    if command -v flock >/dev/null; then
        exec 9>"$tools_dir/.lock"
        flock 9
    fi

    local stamp
    stamp=$(expected_stamp "$command_version")
    if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ] && [ -x "$bin_dir/pulumi" ]; then
        if [ -d "$notes_dir" ]; then
            sed 's/^/engine.sh: /' "$notes_dir"/* >&2 || true
        fi
        echo "$bin_dir"
        return 0
    fi

    command -v go >/dev/null || die "go not found on PATH; install Go 1.26.6 or newer"
    log "no build for these versions in $tools_dir; building (takes minutes on a cold Go cache)"
    rm -rf "$bin_dir" "$notes_dir" "$stamp_file"
    mkdir -p "$bin_dir"
    build_cli
    build_language_host
    build_command_provider "$command_version"
    rm -rf "$build_dir"
    echo "$stamp" >"$stamp_file"
    log "built $("$bin_dir/pulumi" version) in $bin_dir"
    echo "$bin_dir"
}

main "$@"
