#!/usr/bin/env bash
# Runs one step of a make target quietly: a line saying what it does, its whole output in a log
# under .state/logs/, and on failure the end of that log and its path. K2_VERBOSE=1 (`make V=1`)
# shows the output as it comes instead (still kept in the log).
#
#   tools/quiet.sh NAME "what it does" COMMAND [ARGS...]
#
# The exit status is the command's.
set -uo pipefail

[ $# -ge 3 ] || { echo "usage: tools/quiet.sh NAME DESCRIPTION COMMAND [ARGS...]" >&2; exit 2; }
name="$1" what="$2"
shift 2
logs="${K2_LOG_DIR:-.state/logs}"
mkdir -p "$logs"
log="$logs/$name.log"
start=$SECONDS

if [ "${K2_VERBOSE:-}" = 1 ]; then
    echo "==> $what (log: $log)"
    "$@" 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
else
    printf '%s ... ' "$what"
    "$@" >"$log" 2>&1
    status=$?
fi
took=$((SECONDS - start))
if [ "$status" -eq 0 ]; then
    [ "${K2_VERBOSE:-}" = 1 ] || echo "done (${took} s)"
    exit 0
fi
if [ "${K2_VERBOSE:-}" != 1 ]; then
    echo "failed (${took} s, exit $status)"
    lines=$(wc -l <"$log")
    # a short log is the message (a refusal, the commands to run): show it whole
    if [ "$lines" -le 60 ]; then
        sed 's/^/  /' "$log"
    else
        echo "  ... (the last 40 of $lines lines)"
        tail -n 40 "$log" | sed 's/^/  /'
    fi
fi
echo "full log: $log"
exit "$status"
