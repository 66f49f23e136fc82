"""Draw the K2 topic topology of one stack, from its Plan: asset classes -> exchanges -> topics -> subjects.

    .venv/bin/python tools/diagram.py --stack prod --out docs/topology.png
    .venv/bin/python tools/diagram.py --stack prod --format mermaid

The Plan (k2infra.client.naming.load_plan) is the only input: nothing here reads YAML or derives a name.
Exit codes: 0 written, 2 bad input (the problems on stderr, as `python -m k2infra validate` prints them).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script, tools/ is on the path but the repository is not
    sys.path.insert(0, str(REPO))

from k2infra.model.errors import InputError  # noqa: E402
from k2infra.model.plan import (  # noqa: E402
    Plan,
    TopicSpec,
    load_plan,
)

# Layout unit: inches (the axes span the whole figure, one data unit = one inch).
ROW = 0.62  # vertical pitch of one topic
BOX_H = 0.48
CHAR_W = 0.075  # DejaVu Sans Mono at 9 pt: 0.6 em per character
PAD = 0.25  # horizontal padding inside a box
GAP = 0.9  # between columns, room for the arrows
MARGIN = 0.35
HEADER = 0.95  # title and column headings
FONT = 9
COLOURS = {
    "asset_class": "#dbe4f0",
    "exchange": "#e4efdc",
    "topic": "#ffffff",
    "compacted": "#fdebd0",
    "subject": "#efe3f3",
}


@dataclass(frozen=True)
class Node:
    key: str
    lines: tuple[str, ...]
    kind: str  # a key of COLOURS
    y: float  # centre, inches from the bottom


def compacted(topic: TopicSpec) -> bool:
    return "compact" in topic.config.get("cleanup.policy", "")


def topic_label(topic: TopicSpec) -> tuple[str, str]:
    count = f"{topic.partitions} partition{'s' if topic.partitions != 1 else ''}"
    return topic.name, count + (", compacted" if compacted(topic) else "")


def layout(plan: Plan) -> tuple[list[list[Node]], list[tuple[str, str, bool]], float]:
    """Four columns of nodes, the edges (from, to, is_schema_edge) and the height of the drawing."""
    topics = sorted(plan.topics, key=lambda t: (t.asset_class, t.exchange, t.data_type))
    rows = {t.name: len(topics) - 1 - i for i, t in enumerate(topics)}  # top row first
    height = len(topics) * ROW

    def y_of(names: Sequence[str]) -> float:
        return (sum(rows[n] for n in names) / len(names) + 0.5) * ROW

    columns: list[list[Node]] = [[], [], [], []]
    edges: list[tuple[str, str, bool]] = []
    for ac in sorted({t.asset_class for t in topics}):
        in_class = [t for t in topics if t.asset_class == ac]
        columns[0].append(Node(f"ac:{ac}", (ac,), "asset_class", y_of([t.name for t in in_class])))
        # Subjects spread evenly over their asset class's rows, in data-type order: with one exchange per
        # class every schema arrow is horizontal, with more they fan in.
        subjects = sorted({t.schema_subject for t in in_class})
        top = max(rows[t.name] for t in in_class) + 1  # the top edge of the class, in rows
        step = len(in_class) / len(subjects)
        for i, subject in enumerate(subjects):
            columns[3].append(Node(f"s:{subject}", (subject,), "subject", (top - step * (i + 0.5)) * ROW))
        for info in (e for e in plan.exchanges if e.asset_class == ac):
            names = [t.name for t in in_class if t.exchange == info.code]
            if not names:
                continue
            key = f"ex:{info.ref}"
            columns[1].append(Node(key, (info.code, info.name), "exchange", y_of(names)))
            edges.append((f"ac:{ac}", key, False))
            edges += [(key, f"t:{n}", False) for n in names]
    for t in topics:
        columns[2].append(Node(f"t:{t.name}", topic_label(t), "compacted" if compacted(t) else "topic", y_of([t.name])))
        edges.append((f"t:{t.name}", f"s:{t.schema_subject}", True))
    return columns, edges, height


def render_png(plan: Plan, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # headless
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch

    columns, edges, height = layout(plan)
    widths = [max(len(line) for node in col for line in node.lines) * CHAR_W + 2 * PAD for col in columns]
    lefts = [MARGIN + sum(widths[:i]) + GAP * i for i in range(len(columns))]
    fig_w = lefts[-1] + widths[-1] + MARGIN
    fig_h = height + HEADER + 0.75  # + the legend below
    fig = plt.figure(figsize=(fig_w, fig_h), dpi=150)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, fig_w)
    ax.set_ylim(-0.75, height + HEADER)
    ax.axis("off")
    font = {"family": "DejaVu Sans Mono", "size": FONT}

    anchors: dict[str, tuple[float, float, float]] = {}  # key -> (left x, right x, y)
    for col, (left, width) in enumerate(zip(lefts, widths, strict=True)):
        for node in columns[col]:
            ax.add_patch(
                FancyBboxPatch(
                    (left, node.y - BOX_H / 2),
                    width,
                    BOX_H,
                    boxstyle="round,pad=0,rounding_size=0.08",
                    facecolor=COLOURS[node.kind],
                    edgecolor="#555555",
                    linewidth=0.8,
                )
            )
            bold = node.kind in ("asset_class", "exchange")
            first = {**font, "weight": "bold" if bold else "normal"}
            if len(node.lines) == 1:
                ax.text(left + width / 2, node.y, node.lines[0], ha="center", va="center", **first)
            else:
                ax.text(left + width / 2, node.y + 0.09, node.lines[0], ha="center", va="center", **first)
                ax.text(
                    left + width / 2, node.y - 0.11, node.lines[1], ha="center", va="center", color="#444444", **font
                )
            anchors[node.key] = (left, left + width, node.y)
    for start, end, schema in edges:
        _, x0, y0 = anchors[start]
        x1, _, y1 = anchors[end]
        ax.add_patch(
            FancyArrowPatch(
                (x0, y0),
                (x1, y1),
                arrowstyle="-|>",
                mutation_scale=10,
                linewidth=0.8,
                linestyle=(0, (3, 2)) if schema else "-",
                color="#7a4f8a" if schema else "#555555",
                shrinkA=1,
                shrinkB=1,
            )
        )
    headings = ("asset class", "exchange", "topic (market.{asset_class}.{data_type}.{exchange})", "schema subject")
    for left, width, heading in zip(lefts, widths, headings, strict=True):
        ax.text(left + width / 2, height + 0.22, heading, ha="center", va="bottom", style="italic", size=FONT)
    rf = {t.replication_factor for t in plan.topics}
    title = (
        f"K2 topic topology, stack {plan.stack or '(topology defaults)'}: {len(plan.topics)} topics, "
        f"{len(plan.subjects)} subjects, replication factor {'/'.join(map(str, sorted(rf)))}, "
        f"compatibility {plan.compatibility}"
    )
    ax.text(MARGIN, height + HEADER - 0.2, title, ha="left", va="top", size=FONT + 2, weight="bold")
    legend = [
        Patch(facecolor=COLOURS["topic"], edgecolor="#555555", label="topic (delete policy)"),
        Patch(facecolor=COLOURS["compacted"], edgecolor="#555555", label="compacted topic"),
        Patch(
            facecolor=COLOURS["subject"], edgecolor="#555555", label="subject (value schema, shared per asset class)"
        ),
    ]
    ax.legend(handles=legend, loc="lower left", bbox_to_anchor=(MARGIN / fig_w, 0.005), ncol=3, frameon=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    plt.close(fig)


def _id(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", key)


def render_mermaid(plan: Plan) -> str:
    columns, edges, _ = layout(plan)
    lines = [
        "flowchart LR",
        f"  %% K2 topic topology, stack {plan.stack or '(topology defaults)'}; generated by tools/diagram.py",
    ]
    shapes = {"asset_class": '(["{}"])', "exchange": '["{}"]', "topic": '["{}"]', "compacted": '["{}"]'}
    for col in columns:
        for node in col:
            text = "<br/>".join(node.lines)
            shape = shapes.get(node.kind, '[("{}")]')  # subjects as cylinders
            lines.append(f"  {_id(node.key)}{shape.format(text)}")
    for start, end, schema in edges:
        lines.append(f"  {_id(start)} {'-. schema .->' if schema else '-->'} {_id(end)}")
    compacted_ids = [_id(n.key) for n in columns[2] if n.kind == "compacted"]
    lines.append(f"  classDef compacted fill:{COLOURS['compacted']},stroke:#555")
    lines.append(f"  classDef subject fill:{COLOURS['subject']},stroke:#555")
    if compacted_ids:
        lines.append(f"  class {','.join(compacted_ids)} compacted")
    lines.append(f"  class {','.join(_id(n.key) for n in columns[3])} subject")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="prod", help="apply Pulumi.<STACK>.yaml (default: prod)")
    parser.add_argument("--config-dir", type=Path, default=REPO / "config", help="default: the repository's config/")
    parser.add_argument("--project-dir", type=Path, default=REPO, help="where Pulumi.<stack>.yaml are")
    parser.add_argument("--format", choices=("png", "mermaid"), default="png")
    parser.add_argument("--out", type=Path, help="output file (png default: docs/topology.png; mermaid: stdout)")
    args = parser.parse_args(argv)
    try:
        plan = load_plan(args.config_dir, args.stack, args.project_dir)
    except InputError as exc:
        print(exc.report(), file=sys.stderr)
        return 2
    if args.format == "mermaid":
        text = render_mermaid(plan)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text)
        else:
            sys.stdout.write(text)
        return 0
    out = args.out or REPO / "docs" / "topology.png"
    render_png(plan, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
