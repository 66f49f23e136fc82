"""The change summary as Markdown for a pull-request comment (GitHub and GitLab render it alike).

A heading with the stack, the headline in bold, then a table per kind of change (topics, schema
subjects, apps, other resources), the refusals verbatim in code blocks, the warnings and notes.
Every created topic's configs go in a collapsed `<details>` block, so that a large change stays
readable. Sections with nothing in them are left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from k2infra.deploy.guards import ALLOW_KEY
from k2infra.review.summary import (
    GUARDS,
    AppChange,
    Change,
    ChangeSummary,
    FromTo,
    Moved,
    Status,
    SubjectChange,
    TopicChange,
)

MARKER = "<!-- k2infra plan -->"  # lets a CI step find and update its own earlier comment


def render_markdown(summary: ChangeSummary) -> str:
    lines = [MARKER, f"### `k2infra plan`: stack `{summary.stack}`", "", f"**{_escape(summary.headline())}**", ""]
    if summary.refusals:
        lines += _refusals(summary)
    if summary.topics:
        lines += _topics(summary.topics)
    if summary.subjects:
        lines += _subjects(summary.subjects)
    if summary.apps:
        lines += _apps(summary.apps)
    if summary.other:
        lines += ["#### Other resources", "", "| resource | type | change |", "|---|---|---|"]
        lines += [f"| `{o.name}` | `{o.type}` | {o.change} |" for o in summary.other]
        lines.append("")
    if summary.warnings:
        lines += ["#### Warnings", ""] + [f"- {_escape(_one_line(w))}" for w in summary.warnings] + [""]
    if summary.notes:
        lines += ["#### Not read", ""] + [f"- {_escape(n)}" for n in summary.notes] + [""]
    return "\n".join(lines).rstrip() + "\n"


def _refusals(summary: ChangeSummary) -> list[str]:
    lines = ["#### Refused" if summary.status is Status.REFUSED else "#### The preview failed", ""]
    for refusal in summary.refusals:
        guard = GUARDS[refusal.guard]
        source = f"`{guard.source}`" if guard.source.endswith(".py") else guard.source
        lines += [f"**{guard.title}** ({source}):", "", "```", refusal.message.strip(), "```", ""]
    if summary.changes:
        lines += ["The preview stops at a refusal: what it had planned before it is listed below.", ""]
    return lines


def _topics(topics: Sequence[TopicChange]) -> list[str]:
    lines = [
        "#### Topics",
        "",
        "| topic | change | partitions | replication | configs | records |",
        "|---|---|---|---|---|---|",
    ]
    created: list[TopicChange] = []
    for t in topics:
        if t.change is Change.CREATE:
            created.append(t)
            configs = f"{len(t.config)} set (below)" if t.config else ""
        elif t.change is Change.DELETE:
            configs = ""
        else:
            configs = "<br>".join(f"`{k}`: {_side(v.before)} → {_side(v.after)}" for k, v in sorted(t.config.items()))
            if t.replace_reasons:
                configs = "<br>".join(filter(None, [configs, f"replaced for: {', '.join(t.replace_reasons)}"]))
        lines.append(
            f"| `{t.name}` | {t.change} | {_from_to(t.partitions, t.change)} | "
            f"{_from_to(t.replication_factor, t.change)} | {configs} | {_records(t)} |"
        )
    lines.append("")
    if created:
        lines += ["<details><summary>configs of the new topics</summary>", "", "| topic | configs |", "|---|---|"]
        lines += [
            f"| `{t.name}` | " + "<br>".join(f"`{k}={v.after}`" for k, v in sorted(t.config.items())) + " |"
            for t in created
        ]
        lines += ["", "</details>", ""]
    return lines


def _records(t: TopicChange) -> str:
    if not t.loses_data:
        return ""
    if t.records is None:
        held = "unknown (could not be counted)"
    elif t.records == 0:
        return "0 (nothing lost)"
    else:
        held = f"**{t.records:,} lost**"
    return held + (f" (allowed by `{ALLOW_KEY}`)" if t.allowed_loss else "")


def _subjects(subjects: Sequence[SubjectChange]) -> list[str]:
    lines = [
        "#### Schema subjects",
        "",
        "| subject | change | version | compatibility | registry's verdict | schema changes |",
        "|---|---|---|---|---|---|",
    ]
    for s in subjects:
        change = "new version" if s.new_version and s.change is Change.UPDATE else str(s.change)
        version = _from_to(s.version, s.change, prefix="v")
        level = _from_to(s.compatibility, s.change)
        changes = "<br>".join(_escape(c) for c in s.schema_changes)
        lines.append(f"| `{s.subject}` | {change} | {version} | {level} | {_verdict(s)} | {changes} |")
    return [*lines, ""]


def _verdict(s: SubjectChange) -> str:
    if not s.new_version:
        return ""
    v = s.verdict
    if v is None or v.compatible is None:
        return "unknown (registry not asked)"
    under = f" under {v.level}" if v.level else ""
    if v.compatible:
        return f"compatible{under}"
    return f"**incompatible{under}**" + (": " + _escape("; ".join(v.reasons)) if v.reasons else "")


def _apps(apps: Sequence[AppChange]) -> list[str]:
    lines = ["#### Apps", "", "| app | read | write | groups | quota | credential |", "|---|---|---|---|---|---|"]
    for a in apps:
        name = f"`{a.app}`" + ("" if a.declared else " (no longer declared)")
        quota = "" if a.quota is None else f"{_quota(a.quota.before)} → {_quota(a.quota.after)}"
        lines.append(
            f"| {name} | {_moved(a.reads)} | {_moved(a.writes)} | {_moved(a.groups)} | {quota} | {a.credential or ''} |"
        )
    lines.append("")
    changed = [a for a in apps if a.acls]
    if changed:
        lines += ["<details><summary>ACL bindings added and removed</summary>", ""]
        for a in changed:
            lines += [f"- `{a.principal}`"]
            lines += [f"  - added `{acl}`" for acl in a.acls.gained]
            lines += [f"  - removed `{acl}`" for acl in a.acls.lost]
        lines += ["", "</details>", ""]
    return lines


def _moved(moved: Moved) -> str:
    parts = []
    if moved.gained:
        parts.append(f"+{len(moved.gained)}: " + ", ".join(f"`{n}`" for n in moved.gained))
    if moved.lost:
        parts.append(f"−{len(moved.lost)}: " + ", ".join(f"`{n}`" for n in moved.lost))
    return "<br>".join(parts)


def _quota(config: Mapping[str, str] | None) -> str:
    if config is None:
        return "none"
    return ", ".join(f"`{k}={v}`" for k, v in sorted(config.items())) or "none"


def _from_to(value: FromTo, change: Change, prefix: str = "") -> str:
    if change is Change.CREATE:
        return _side(value.after, prefix)
    if change is Change.DELETE or value.before == value.after:
        return _side(value.before, prefix)
    return f"{_side(value.before, prefix)} → {_side(value.after, prefix)}"


def _side(value: object, prefix: str = "") -> str:
    return "–" if value is None else f"{prefix}{value}"


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _escape(text: str) -> str:
    """Text in a table cell or a list item: no pipe ends a cell, no newline ends a row."""
    return _one_line(text).replace("|", "\\|")
