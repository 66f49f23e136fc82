#!/usr/bin/env bash
# The change summary of a pull request, as a CI job makes it (docs/review.md): one `pulumi preview
# --json` of the stack, rendered by `python -m k2infra plan --from-preview` as Markdown (the comment to
# post) and as JSON (for automation). Generic: it needs a checkout, `pulumi` and the project's Python
# on PATH (or PYTHON=...), and the environment below; posting the comment is the pipeline's own step.
#
#   tools/ci/preview-summary.sh --stack prod [--project-dir .] [--out-dir preview-summary] [--policy-pack policy]
#
# Environment (secrets from the CI's secret store, never from the repository):
#   PULUMI_BACKEND_URL        the shared state backend (e.g. postgres://... or s3://...; file:// for a try-out)
#   PULUMI_CONFIG_PASSPHRASE  decrypts the stack's secrets for the preview (or the stack's secrets provider's own)
#   K2_SASL_PASSWORD, K2_SCHEMA_REGISTRY_PASSWORD (or K2_SCHEMA_REGISTRY_TOKEN)
#                             for the summary's own reads: record counts of topics the change deletes,
#                             the registry's compatibility verdict on new schemas
#
# Writes OUT/preview.json (pulumi's document), OUT/summary.md and OUT/summary.json (empty when there is
# no summary: summary.md then says why), prints the Markdown on stdout, and exits as `plan` does:
# 0 summarised, 1 a guard refuses the change, 2 nothing could be summarised (the preview did not run,
# or failed for another reason). A pipeline posts OUT/summary.md whatever the exit code (a refusal is
# a summary too) and fails the job on 1 or 2.
set -uo pipefail

say() { echo "[preview-summary] $*" >&2; }

stack="" project_dir="." out_dir="preview-summary"
packs=()
while [ $# -gt 0 ]; do
    case "$1" in
        --stack) stack="$2"; shift 2 ;;
        --project-dir) project_dir="$2"; shift 2 ;;
        --out-dir) out_dir="$2"; shift 2 ;;
        --policy-pack) packs+=(--policy-pack "$2"); shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) say "unknown argument: $1 (see --help)"; exit 2 ;;
    esac
done
[ -n "$stack" ] || { say "--stack is required"; exit 2; }
python="${PYTHON:-python3}"
command -v pulumi >/dev/null || { say "pulumi is not on PATH"; exit 2; }
[ -n "${PULUMI_BACKEND_URL:-}" ] || say "PULUMI_BACKEND_URL is not set: the CLI's own login is used"
mkdir -p "$out_dir"

# A refused preview exits non-zero and still prints its document: the summary reads the refusal from it.
say "pulumi preview --json of stack $stack in $project_dir"
# Its --event-log has what the document leaves out: the policy packs' violations. The flag is hidden
# behind PULUMI_DEBUG_COMMANDS (the Automation API sets it the same way to read its events).
PULUMI_DEBUG_COMMANDS=true pulumi preview --json --non-interactive --stack "$stack" --cwd "$project_dir" \
    "${packs[@]}" --event-log "$out_dir/events.jsonl" >"$out_dir/preview.json" 2>"$out_dir/preview.stderr"
previewed=$?
say "pulumi preview exited $previewed (its stderr: $out_dir/preview.stderr)"

# The exit code goes along: a failure the document does not record is still one; the event log (when
# the preview got as far as writing one) names the policy packs' violations.
events=()
[ -s "$out_dir/events.jsonl" ] && events=(--from-event-log "$out_dir/events.jsonl")
plan() {
    "$python" -m k2infra plan --stack "$stack" --project-dir "$project_dir" \
        --from-preview "$out_dir/preview.json" --preview-exit-code "$previewed" "${events[@]}" "$@"
}
plan --format json >"$out_dir/summary.json" 2>/dev/null
plan --format markdown >"$out_dir/summary.md" 2>"$out_dir/plan.stderr"
code=$?
cat "$out_dir/plan.stderr" >&2
if [ ! -s "$out_dir/summary.md" ]; then
    # Nothing to summarise: the comment says so, with the reasons `plan` and the preview gave.
    { echo "<!-- k2infra plan -->"; echo "### \`k2infra plan\`: stack \`$stack\`"; echo
      echo "**no summary: \`python -m k2infra plan\` exited $code**"; echo; echo '```'
      cat "$out_dir/plan.stderr"; tail -n 20 "$out_dir/preview.stderr"; echo '```'; } >"$out_dir/summary.md"
fi
cat "$out_dir/summary.md"
say "summary in $out_dir/summary.md and $out_dir/summary.json; exit $code"
exit "$code"
