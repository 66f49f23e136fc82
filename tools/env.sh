# shellcheck shell=sh
# Source this (`. tools/env.sh`) to use the toolchain that
# tools/install-pulumi.sh built. It only locates tools: it sets no secrets, no
# passphrase and no backend (callers choose `pulumi login` themselves).
#
# POSIX sh, so a Makefile recipe can do:  . tools/env.sh && pulumi preview

K2_TOOLS_DIR="${K2_TOOLS_DIR:-$HOME/.cache/k2infra/tools}"
PULUMI_HOME="${PULUMI_HOME:-$K2_TOOLS_DIR/pulumi-home}"
export K2_TOOLS_DIR PULUMI_HOME

case ":$PATH:" in
*":$K2_TOOLS_DIR/bin:"*) ;;
*) PATH="$K2_TOOLS_DIR/bin:$PATH" ;;
esac
export PATH

# No network to pulumi.com here: skip the CLI's update check, and keep the
# Automation API from rejecting a CLI that differs from the Python SDK pin.
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
