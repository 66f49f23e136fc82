# shellcheck shell=sh
# Source this (`. tools/env.sh`) to use the Pulumi toolchain: a `pulumi` the machine already has, or
# the one tools/install-pulumi.sh built. It only locates tools: it sets no secrets, no passphrase
# and no backend (callers choose `pulumi login` themselves).
#
# Which Pulumi CLI (K2_PULUMI):
#   auto (default)  the first `pulumi` on PATH (outside the built toolchain) when its version fits the
#                   pinned Python SDK: major 3 and at least K2_PULUMI_SDK (the pulumi== pin of
#                   requirements.txt); else the built one
#   system          that `pulumi`, or an error saying why it does not fit
#   build           the built one ($K2_TOOLS_DIR/bin), whatever is on PATH
# K2_PULUMI_SYSTEM is then the system CLI's path, or empty when the built one is used.
#
# POSIX sh, so a Makefile recipe can do:  . tools/env.sh && pulumi preview

K2_TOOLS_DIR="${K2_TOOLS_DIR:-$HOME/.cache/k2infra/tools}"
PULUMI_HOME="${PULUMI_HOME:-$K2_TOOLS_DIR/pulumi-home}"
export K2_TOOLS_DIR PULUMI_HOME

# No network to pulumi.com here: skip the CLI's update check, and keep the Automation API from
# rejecting a CLI that differs from the Python SDK pin.
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true

K2_PULUMI_SDK=3.272.0 # = pulumi== in requirements.txt (tests/unit/test_pulumi_choice.py checks)

# k2_system_pulumi: the path of the first `pulumi` on PATH outside the built toolchain if its version
# fits (see above); nothing, and the reason in K2_PULUMI_WHY, otherwise.
k2_system_pulumi() {
    K2_PULUMI_WHY="no pulumi on PATH (outside $K2_TOOLS_DIR/bin)"
    k2_ifs=$IFS
    IFS=:
    for k2_dir in $PATH; do
        IFS=$k2_ifs
        [ "$k2_dir" != "$K2_TOOLS_DIR/bin" ] && [ -x "$k2_dir/pulumi" ] || continue
        k2_version="$("$k2_dir/pulumi" version 2>/dev/null | head -n 1)"
        k2_version="${k2_version#v}"
        if [ "${k2_version%%.*}" = 3 ] &&
            [ "$(printf '%s\n%s\n' "$K2_PULUMI_SDK" "$k2_version" | sort -V | head -n 1)" = "$K2_PULUMI_SDK" ]; then
            echo "$k2_dir/pulumi"
        else
            K2_PULUMI_WHY="$k2_dir/pulumi is version '${k2_version:-unknown}': the SDK needs 3.x, at least $K2_PULUMI_SDK"
        fi
        break
    done
    IFS=$k2_ifs
}

K2_PULUMI_SYSTEM=""
case "${K2_PULUMI:-auto}" in
    auto) K2_PULUMI_SYSTEM="$(k2_system_pulumi)" ;;
    build) ;;
    system)
        K2_PULUMI_SYSTEM="$(k2_system_pulumi)"
        if [ -z "$K2_PULUMI_SYSTEM" ]; then
            k2_system_pulumi >/dev/null # for K2_PULUMI_WHY (a $(...) runs in a subshell)
            echo "error: K2_PULUMI=system: $K2_PULUMI_WHY (K2_PULUMI=build builds one)" >&2
            return 1 2>/dev/null || exit 1
        fi
        ;;
    *)
        echo "error: K2_PULUMI=$K2_PULUMI: use system, build or auto" >&2
        return 1 2>/dev/null || exit 1
        ;;
esac
export K2_PULUMI_SYSTEM

if [ -z "$K2_PULUMI_SYSTEM" ]; then
    # The built CLI is for machines without Pulumi's downloads, where the engine's attempt to fetch
    # a plugin it lacks can only fail: for the docker plugin (pulumi-docker is in the venv, its
    # plugin is built only by `make tools-docker`) that attempt cost every `pulumi` run 2.5-2.7 s
    # (an --otel-traces span `installPlugin`, measured on the dev stack: preview 4.3 s -> 1.5 s).
    # A plugin a run really needs and lacks is then named by the engine's error at once.
    export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="${PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION:-true}"
    case ":$PATH:" in
    *":$K2_TOOLS_DIR/bin:"*) ;;
    *) PATH="$K2_TOOLS_DIR/bin:$PATH" ;;
    esac
    export PATH
fi
