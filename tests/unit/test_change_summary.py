"""The change summary of a preview (k2infra.review): pure functions of (preview document, Plan, facts).

The preview documents are built here in the shape `pulumi preview --json` prints (steps with op,
urn, oldState/newState inputs and outputs; diagnostics with severity and message, the engine's
`error: ` prefix included), as recorded from the CLI 3.274.1 against the local platform.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from k2infra.cli.main import main
from k2infra.deploy import guards
from k2infra.model.plan import Plan, load_plan
from k2infra.ops.pulumi_stack import ACL_TYPE, QUOTA_TYPE, SCRAM_TYPE, SUBJECT_TYPE, TOPIC_TYPE
from k2infra.review import facts as facts_module
from k2infra.review.markdown import MARKER, render_markdown
from k2infra.review.preview import UNKNOWN, PreviewUnreadable, parse_preview, policy_violations
from k2infra.review.summary import (
    SCHEMA_VERSION,
    Facts,
    PreviewMismatch,
    Status,
    Verdict,
    needs,
    summarise,
)

PARENT = "k2infra:index:TopicPlatform"
NYSE = {"name": "New York Stock Exchange", "partitions": 100, "country": "US", "timezone": "America/New_York"}


def urn(type_: str, name: str, stack: str = "prod") -> str:
    return f"urn:pulumi:{stack}::k2infra::{PARENT}${type_}::{name}"


def step(op: str, type_: str, name: str, old: dict | None = None, new: dict | None = None, **extra: Any) -> dict:
    out: dict[str, Any] = {"op": op, "urn": urn(type_, name)}
    if old is not None:
        out["oldState"] = {"type": type_, "inputs": old, "outputs": extra.pop("old_outputs", old)}
    if new is not None:
        out["newState"] = {"type": type_, "inputs": new}
    return {**out, **extra}


def topic_inputs(name: str, partitions: int, rf: int = 3, **config: str) -> dict:
    return {"name": name, "partitions": partitions, "replicationFactor": rf, "config": {"retention.ms": "1", **config}}


def document(*steps: dict, diagnostics: list[dict] | None = None) -> str:
    root = {"op": "same", "urn": "urn:pulumi:prod::k2infra::pulumi:pulumi:Stack::k2infra-prod"}
    body = {"config": {}, "steps": [root, *steps], "changeSummary": {}}
    if diagnostics:
        body["diagnostics"] = diagnostics
    return json.dumps(body, indent=4)


def error(message: str, urn_: str = "") -> dict:
    return {"urn": urn_, "message": f"error: {message}\n", "severity": "error"}


@pytest.fixture
def prod_with_nyse(project_dir: Path) -> Plan:
    path = project_dir / "config" / "kafka" / "topics.yaml"
    topology = yaml.safe_load(path.read_text())
    topology["asset_classes"]["equities"]["exchanges"]["nyse"] = NYSE
    path.write_text(yaml.safe_dump(topology, sort_keys=False))
    return load_plan(project_dir / "config", "prod", project_dir)


@pytest.fixture
def prod_plan(project_dir: Path) -> Plan:
    return load_plan(project_dir / "config", "prod", project_dir)


NYSE_TOPICS = ("market.equities.quotes.nyse", "market.equities.reference_data.nyse", "market.equities.trades.nyse")


def add_nyse_preview() -> str:
    return document(
        *(step("create", TOPIC_TYPE, n, new=topic_inputs(n, 1 if "reference" in n else 100)) for n in NYSE_TOPICS)
    )


# -- topics and apps -------------------------------------------------------------------------------


def test_adding_an_exchange_lists_its_topics_and_the_apps_whose_prefixes_now_read_them(prod_with_nyse: Plan) -> None:
    summary = summarise(parse_preview(add_nyse_preview()), prod_with_nyse)
    assert [(t.name, t.change, t.partitions.after) for t in summary.topics] == [
        ("market.equities.quotes.nyse", "create", 100),
        ("market.equities.reference_data.nyse", "create", 1),
        ("market.equities.trades.nyse", "create", 100),
    ]
    # No ACL changes: the Prefixed ACLs already cover NYSE; who gains is what they match now.
    assert {a.app: a.reads.gained for a in summary.apps} == {
        "equities-analytics": NYSE_TOPICS,
        "reference-data-cache": ("market.equities.reference_data.nyse",),
        "platform-monitor": NYSE_TOPICS,  # the monitor reads every topic of the stack, by market.equities.
    }
    assert all(not a.writes and not a.reads.lost and a.quota is None for a in summary.apps)
    assert summary.headline() == "add 3 topics, 3 apps gain read; no data loss"
    assert (summary.status, summary.exit_code) == (Status.CHANGES, 0)


def test_an_update_shows_partitions_and_configs_from_and_to(prod_plan: Plan) -> None:
    name = "market.crypto.trades.binance"
    old = topic_inputs(name, 40, **{"retention.ms": "604800000", "max.message.bytes": "1048576"})
    new = topic_inputs(name, 60, **{"retention.ms": "259200000", "max.message.bytes": "1048576"})
    preview = document(step("update", TOPIC_TYPE, name, old, new, diffReasons=["config", "partitions"]))
    (topic,) = summarise(parse_preview(preview), prod_plan).topics
    assert (topic.change, topic.partitions.before, topic.partitions.after) == ("update", 40, 60)
    assert {k: (v.before, v.after) for k, v in topic.config.items()} == {"retention.ms": ("604800000", "259200000")}
    assert not topic.loses_data


def test_a_value_unknown_at_preview_is_taken_from_the_plan(prod_with_nyse: Plan) -> None:
    name = "market.equities.trades.nyse"
    inputs = {**topic_inputs(name, 100), "partitions": UNKNOWN}
    (topic,) = summarise(parse_preview(document(step("create", TOPIC_TYPE, name, new=inputs))), prod_with_nyse).topics
    assert topic.partitions.after == 100


def test_removing_an_app_lists_what_its_deleted_acls_granted_its_group_quota_and_credential(
    project_dir: Path, prod_plan: Plan
) -> None:
    app = prod_plan.app("crypto-risk")
    assert app is not None
    path = project_dir / "config" / "kafka" / "apps.yaml"
    apps = yaml.safe_load(path.read_text())
    del apps["apps"]["crypto-risk"]
    path.write_text(yaml.safe_dump(apps, sort_keys=False))
    plan = load_plan(project_dir / "config", "prod", project_dir)
    quota = {"entityType": "user", "entityName": app.username, "config": {"consumer_byte_rate": "10485760"}}
    preview = document(
        *(step("delete", ACL_TYPE, acl.id, old={"aclPrincipal": app.principal}) for acl in app.acls),
        step("delete", QUOTA_TYPE, f"quota:{app.username}", old=quota),
        step("delete", SCRAM_TYPE, f"scram:{app.username}", old={"username": app.username, "password": "[secret]"}),
    )
    (change,) = summarise(parse_preview(preview), plan).apps
    assert (change.app, change.declared, change.principal) == ("k2-crypto-risk-prod", False, app.principal)
    assert change.reads.lost == ("market.crypto.trades.binance",) and not change.reads.gained
    assert change.groups.lost == ("crypto-risk. (Prefixed)",)
    assert change.quota is not None and change.quota.before == {"consumer_byte_rate": "10485760"}
    assert change.quota.after is None and change.credential == "removed"
    assert change.acls.lost == tuple(sorted(acl.id for acl in app.acls)) and not change.acls.gained
    assert summarise(parse_preview(preview), plan).headline() == "1 app removed; no data loss"


def test_an_app_that_gains_a_literal_write_acl_gains_that_topic_only(prod_plan: Plan) -> None:
    principal = "User:k2-market-data-normaliser-prod"
    new_acl = f"{principal}|*|Write|Allow|Topic|market.crypto.reference_data.binance|Literal"
    plan = _with_acl(prod_plan, principal, new_acl)
    summary = summarise(parse_preview(document(step("create", ACL_TYPE, new_acl, new={}))), plan)
    (change,) = summary.apps
    assert change.writes.gained == ("market.crypto.reference_data.binance",) and not change.reads
    assert summary.headline() == "1 app gains write; no data loss"


def _with_acl(plan: Plan, principal: str, acl_id: str) -> Plan:
    from dataclasses import replace

    from k2infra.model.apps import parse_acl_id

    acl = parse_acl_id(acl_id)
    apps = tuple(replace(a, acls=(*a.acls, acl)) if a.principal == principal else a for a in plan.apps)
    return replace(plan, apps=apps)


# -- data loss -------------------------------------------------------------------------------------


def _delete_nyse_trades(plan_dir: Path) -> tuple[str, Plan]:
    name = "market.equities.trades.nyse"
    return document(step("delete", TOPIC_TYPE, name, old=topic_inputs(name, 100))), load_plan(
        plan_dir / "config", "prod", plan_dir
    )


def test_a_deleted_topic_carries_its_records_and_whether_allow_data_loss_lists_it(project_dir: Path) -> None:
    preview, plan = _delete_nyse_trades(project_dir)
    summary = summarise(parse_preview(preview), plan)
    assert needs(summary) == (["market.equities.trades.nyse"], {})
    counted = summarise(
        parse_preview(preview),
        plan,
        Facts(records={"market.equities.trades.nyse": 1234}),
        allowed_data_loss=["market.equities.trades.nyse"],
    )
    (topic,) = counted.topics
    assert (topic.change, topic.records, topic.allowed_loss) == ("delete", 1234, True)
    # equities-analytics and the monitor read market.equities. (Prefixed): the deleted topic goes from what they read.
    assert counted.headline() == "delete 1 topic, 2 apps lose read; DATA LOSS: 1,234 records in 1 topic"
    assert counted.to_dict()["data_loss"] == {"topics": ["market.equities.trades.nyse"], "records": 1234}
    assert "**1,234 lost** (allowed by `k2infra:allowDataLoss`)" in render_markdown(counted)


def test_records_that_could_not_be_counted_make_the_data_loss_unknown_not_none(project_dir: Path) -> None:
    preview, plan = _delete_nyse_trades(project_dir)
    summary = summarise(parse_preview(preview), plan, Facts(notes=("cannot count the records: no broker",)))
    assert summary.headline().endswith("; data loss unknown: the records of 1 topic could not be counted")
    assert summary.to_dict()["data_loss"]["records"] is None
    assert "cannot count the records: no broker" in render_markdown(summary)


def test_the_records_are_read_through_the_count_the_data_loss_guard_uses(monkeypatch, project_dir: Path) -> None:
    from k2infra.live.records import TopicHolding
    from k2infra.model.stack import load_stack_file

    asked: list[list[str]] = []

    def holdings(_config, names, **_kwargs):
        asked.append(list(names))
        return {"market.a.b.c": TopicHolding("market.a.b.c", 3, 3, 7)}

    monkeypatch.setattr(facts_module, "read_holdings", holdings)
    stack = load_stack_file(project_dir / "config", "dev", project_dir)
    read = facts_module.read_facts(stack, ["market.a.b.c", "market.x.y.z"], {}, timeout=1)
    assert asked == [["market.a.b.c", "market.x.y.z"]]
    assert read.records == {"market.a.b.c": 7, "market.x.y.z": 0}
    assert read.notes == ("not on the cluster (nothing to lose): market.x.y.z",)


# -- subjects --------------------------------------------------------------------------------------


def _schema_step(plan: Plan, op: str = "update") -> tuple[dict, str]:
    spec = next(s for s in plan.subjects if s.subject == "market.equities.trades-value")
    schema = json.loads(spec.schema)
    old = dict(schema, fields=[f for f in schema["fields"] if f["name"] != "venue"])
    inputs = {"subject": spec.subject, "compatibility": "FULL_TRANSITIVE", "connection": "[secret]"}
    return (
        step(
            op,
            SUBJECT_TYPE,
            spec.subject,
            old={**inputs, "schema": json.dumps(old)},
            new={**inputs, "schema": spec.schema},
            old_outputs={**inputs, "version": 3, "schema_id": 7},
        ),
        spec.schema,
    )


def test_a_new_schema_version_shows_its_field_changes_and_the_registrys_verdict(prod_plan: Plan) -> None:
    subject_step, schema = _schema_step(prod_plan)
    preview = parse_preview(document(subject_step))
    assert needs(summarise(preview, prod_plan)) == ([], {"market.equities.trades-value": schema})
    verdict = Verdict(True, "FULL_TRANSITIVE", 3)
    summary = summarise(preview, prod_plan, Facts(verdicts={"market.equities.trades-value": verdict}))
    (subject,) = summary.subjects
    assert subject.new_version and (subject.version.before, subject.version.after) == (3, 4)
    assert subject.schema_changes == ("field 'venue' added with a default",)
    assert "market.equities.trades.asx" in subject.topics
    assert summary.headline() == "1 new schema version; no data loss"
    assert "compatible under FULL_TRANSITIVE" in render_markdown(summary)


def test_a_schema_the_registry_judges_incompatible_is_refused_although_the_preview_passed(prod_plan: Plan) -> None:
    subject_step, _ = _schema_step(prod_plan)
    verdict = Verdict(False, "FULL_TRANSITIVE", 3, ("READER_FIELD_MISSING_DEFAULT_VALUE: venue",))
    summary = summarise(
        parse_preview(document(subject_step)), prod_plan, Facts(verdicts={"market.equities.trades-value": verdict})
    )
    assert (summary.status, summary.exit_code) == (Status.REFUSED, 1)
    (refusal,) = summary.refusals
    assert refusal.guard == "schema_compatibility" and "READER_FIELD_MISSING_DEFAULT_VALUE" in refusal.message
    assert summary.headline() == "refused by the registry's compatibility check"


def test_a_level_change_alone_is_no_new_version(prod_plan: Plan) -> None:
    spec = prod_plan.subjects[0]
    inputs = {"subject": spec.subject, "schema": spec.schema}
    preview = document(
        step(
            "update",
            SUBJECT_TYPE,
            spec.subject,
            old={**inputs, "compatibility": "BACKWARD"},
            new={**inputs, "compatibility": "FULL_TRANSITIVE"},
        )
    )
    summary = summarise(parse_preview(preview), prod_plan)
    (subject,) = summary.subjects
    assert not subject.new_version and subject.compatibility.after == "FULL_TRANSITIVE"
    assert needs(summary) == ([], {})
    assert summary.headline() == "compatibility of 1 subject; no data loss"


# -- refusals --------------------------------------------------------------------------------------


def test_each_preflight_refusal_is_named_by_its_guard_and_the_engines_follow_up_dropped(prod_plan: Plan) -> None:
    shrink = f"{guards.SHRINK_REFUSAL}: Kafka cannot remove partitions ...:\n  market.x: planned 2"
    loss = f"{guards.DATA_LOSS_REFUSAL}, which would lose them ...:\n  market.y: 5 records"
    preview = document(
        diagnostics=[
            error(f"{shrink}\n\n{loss}"),
            error("an unhandled error occurred: Program exited with non-zero exit code: 1"),
            error("preview failed"),
        ]
    )
    summary = summarise(parse_preview(preview, exit_code=255), prod_plan)
    assert [(r.guard, r.message) for r in summary.refusals] == [("partition_shrink", shrink), ("data_loss", loss)]
    assert summary.headline() == "refused by the partition guard and the data-loss guard"
    assert summary.exit_code == 1
    markdown = render_markdown(summary)
    assert "**the partition guard** (`k2infra/deploy/guards.py`)" in markdown
    assert f"```\n{loss}\n```" in markdown


def test_raising_ahead_of_a_region_is_a_refusal_of_the_regions_guard_not_a_failed_preview(prod_plan: Plan) -> None:
    ahead = f"{guards.REGION_REFUSAL}: MirrorMaker 2 ...:\n  market.crypto.trades.binance: 40 -> 48 partitions"
    preview = document(diagnostics=[error(ahead), error("preview failed")])
    summary = summarise(parse_preview(preview, exit_code=255), prod_plan)
    assert [(r.guard, r.message) for r in summary.refusals] == [("regions", ahead)]
    assert summary.headline() == "refused by the regions guard"
    assert summary.exit_code == 1


def test_a_protected_delete_is_refused_by_protection_and_the_planned_change_still_shown(prod_plan: Plan) -> None:
    acl = prod_plan.apps[2].acls[0]
    target = urn(ACL_TYPE, acl.id)
    preview = document(
        step("delete", ACL_TYPE, acl.id, old={}),
        diagnostics=[
            error(
                f'resource "{target}" cannot be deleted\nbecause it is protected. To unprotect the resource, ...',
                target,
            )
        ],
    )
    plan = _without_app(prod_plan, acl.principal)
    summary = summarise(parse_preview(preview), plan)
    assert [r.guard for r in summary.refusals] == ["protect"] and summary.exit_code == 1
    assert summary.apps and summary.apps[0].principal == acl.principal
    assert "The preview stops at a refusal" in render_markdown(summary)


def _without_app(plan: Plan, principal: str) -> Plan:
    from dataclasses import replace

    return replace(plan, apps=tuple(a for a in plan.apps if a.principal != principal))


def test_a_preview_that_failed_for_another_reason_is_not_a_refusal_and_exits_2(prod_plan: Plan) -> None:
    preview = document(diagnostics=[error("cannot reach the Kafka cluster at kafka-0:9093 within 30s")])
    summary = summarise(parse_preview(preview), prod_plan)
    assert (summary.status, summary.exit_code) == (Status.FAILED, 2)
    assert summary.headline() == "the preview failed: cannot reach the Kafka cluster at kafka-0:9093 within 30s"


def test_no_change_is_said_so_and_exits_0(prod_plan: Plan) -> None:
    summary = summarise(parse_preview(document()), prod_plan)
    assert (summary.status, summary.exit_code, summary.headline()) == (Status.NO_CHANGE, 0, "no change")


def test_a_preview_made_from_another_checkout_is_rejected(prod_plan: Plan) -> None:
    with pytest.raises(
        PreviewMismatch, match=r"it creates topic market\.equities\.quotes\.nyse, which the plan does not"
    ):
        summarise(parse_preview(add_nyse_preview()), prod_plan)


# -- the document ----------------------------------------------------------------------------------


def test_the_preview_document_is_found_after_other_lines_and_replacement_steps_fold() -> None:
    name = "market.crypto.trades.binance"
    text = "Previewing update (prod):\n" + document(
        step("replace", TOPIC_TYPE, name, topic_inputs(name, 4, 1), topic_inputs(name, 4, 3)),
        step(
            "create-replacement", TOPIC_TYPE, name, new=topic_inputs(name, 4, 3), replaceReasons=["replicationFactor"]
        ),
        step("delete-replaced", TOPIC_TYPE, name, old=topic_inputs(name, 4, 1)),
    )
    preview = parse_preview(text)
    (replaced,) = [s for s in preview.steps if s.op != "same"]
    assert (replaced.op, replaced.replace_keys) == ("replace", ("replicationFactor",))
    assert (replaced.old_inputs["replicationFactor"], replaced.new_inputs["replicationFactor"]) == (1, 3)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "no JSON document"),
        ('{"steps": [', "not valid JSON"),
        ('{"steps": {}}', "must be lists"),
        ('{"hello": 1}', "none of steps"),
        ('{"steps": [{"op": "create"}]}', "without `op` and `urn`"),
    ],
)
def test_text_that_is_not_a_preview_document_is_unreadable(text: str, why: str) -> None:
    with pytest.raises(PreviewUnreadable, match=why):
        parse_preview(text)


def test_the_json_document_has_its_documented_keys(prod_with_nyse: Plan) -> None:
    data = summarise(parse_preview(add_nyse_preview()), prod_with_nyse).to_dict()
    assert list(data) == [
        "schema_version",
        "stack",
        "status",
        "exit_code",
        "headline",
        "data_loss",
        "topics",
        "subjects",
        "apps",
        "other",
        "refusals",
        "warnings",
        "notes",
    ]
    assert data["schema_version"] == SCHEMA_VERSION and data["status"] == "changes"
    assert list(data["topics"][0]) == [
        "name",
        "change",
        "partitions",
        "replication_factor",
        "config",
        "replace_reasons",
        "data_loss",
    ]
    assert list(data["apps"][0]) == [
        "app",
        "principal",
        "declared",
        "read",
        "write",
        "groups",
        "acls",
        "quota",
        "credential",
    ]
    assert data["apps"][0]["read"] == {"gained": list(NYSE_TOPICS), "lost": []}


def test_the_markdown_opens_with_its_marker_and_headline_and_has_a_table_per_kind(prod_with_nyse: Plan) -> None:
    markdown = render_markdown(summarise(parse_preview(add_nyse_preview()), prod_with_nyse))
    assert markdown.startswith(f"{MARKER}\n### `k2infra plan`: stack `prod`\n\n**add 3 topics, 3 apps gain read;")
    assert "| `market.equities.trades.nyse` | create | 100 | 3 | 1 set (below) |  |" in markdown
    assert "| `equities-analytics` | +3: `market.equities.quotes.nyse`, " in markdown
    assert "<details><summary>configs of the new topics</summary>" in markdown
    assert "#### Schema subjects" not in markdown and "#### Refused" not in markdown


# -- the command -----------------------------------------------------------------------------------


def run_plan(project_dir: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["plan", "--stack", "prod", "--project-dir", str(project_dir), *args], out, err)
    return code, out.getvalue(), err.getvalue()


def test_plan_from_a_saved_preview_prints_markdown_or_json(project_dir: Path, prod_with_nyse: Plan) -> None:
    saved = project_dir / "preview.json"
    saved.write_text(add_nyse_preview())
    code, out, _ = run_plan(project_dir, "--from-preview", str(saved))
    assert code == 0 and "**add 3 topics, 3 apps gain read; no data loss**" in out
    code, out, _ = run_plan(project_dir, "--from-preview", str(saved), "--format", "json")
    assert code == 0 and json.loads(out)["headline"] == "add 3 topics, 3 apps gain read; no data loss"


def test_plan_exits_2_on_a_file_that_is_no_preview_or_is_missing(project_dir: Path) -> None:
    (project_dir / "bad.json").write_text("Previewing update (prod):\nerror: no stack named 'prod'\n")
    code, out, err = run_plan(project_dir, "--from-preview", str(project_dir / "bad.json"))
    assert (code, out) == (2, "") and "no JSON document found" in err
    code, _, err = run_plan(project_dir, "--from-preview", str(project_dir / "missing.json"))
    assert code == 2 and "missing.json" in err


def test_plan_exits_1_when_a_guard_refuses(project_dir: Path) -> None:
    saved = project_dir / "preview.json"
    saved.write_text(document(diagnostics=[error(f"{guards.DATA_LOSS_REFUSAL}, which would lose them:\n  m: 5")]))
    code, out, _ = run_plan(project_dir, "--from-preview", str(saved))
    assert code == 1 and "**refused by the data-loss guard**" in out


def test_plan_told_that_the_saved_preview_failed_does_not_summarise_it_as_a_change(
    project_dir: Path, prod_with_nyse: Plan
) -> None:
    # A policy violation fails the preview but is not in its document: only the exit code says so.
    saved = project_dir / "preview.json"
    saved.write_text(add_nyse_preview())
    code, out, _ = run_plan(project_dir, "--from-preview", str(saved), "--preview-exit-code", "255")
    assert code == 2 and "**the preview failed: pulumi preview failed without saying why" in out


def test_a_step_of_an_operation_the_summary_does_not_know_is_left_out(prod_plan: Plan) -> None:
    name = "market.crypto.trades.binance"
    preview = document(step("remove-pending-replace", TOPIC_TYPE, name, old=topic_inputs(name, 40)))
    assert summarise(parse_preview(preview), prod_plan).headline() == "no change"


def policy_event(policy: str, level: str, message: str, name: str = "market.equities.trades.nyse") -> str:
    """One line of `pulumi preview --event-log FILE` (the engine's JSON event, as the CLI writes it)."""
    event = {
        "sequence": 7,
        "timestamp": 1796590000,
        "policyEvent": {
            "resourceUrn": urn(TOPIC_TYPE, name),
            "message": f"{message}\n",
            "color": "never",
            "policyName": policy,
            "policyPackName": "k2-policies",
            "policyPackVersion": "0.0.1",
            "enforcementLevel": level,
        },
    }
    return json.dumps(event)


def test_a_mandatory_policy_violation_from_the_event_log_refuses_naming_the_rule_and_an_advisory_one_warns(
    project_dir: Path, prod_with_nyse: Plan
) -> None:
    saved, events = project_dir / "preview.json", project_dir / "events.jsonl"
    saved.write_text(add_nyse_preview())
    events.write_text(
        "\n".join(
            [
                json.dumps({"sequence": 1, "preludeEvent": {"config": {}}}),
                policy_event("topic-min-replication", "mandatory", "replication factor 1 is below 3"),
                policy_event("topic-retention-cap", "advisory", "retention above 30 days"),
                "not json: the CLI's own line",
            ]
        )
    )
    code, out, _ = run_plan(
        project_dir, "--from-preview", str(saved), "--preview-exit-code", "255", "--from-event-log", str(events)
    )
    assert code == 1 and "**refused by the policy pack**" in out
    assert "topic-min-replication (k2-policies, mandatory) on market.equities.trades.nyse: replication factor 1" in out
    code, out, _ = run_plan(
        project_dir, "--from-preview", str(saved), "--preview-exit-code", "255", "--from-event-log", str(events),
        "--format", "json",
    )  # fmt: skip
    document_ = json.loads(out)
    assert [r["guard"] for r in document_["refusals"]] == ["policy"]
    assert document_["warnings"] == [
        "topic-retention-cap (k2-policies, advisory) on market.equities.trades.nyse: retention above 30 days"
    ]


def test_the_automation_apis_policy_events_read_as_the_event_logs() -> None:
    from pulumi.automation import events

    engine = events.EngineEvent(
        sequence=1,
        timestamp=0,
        policy_event=events.PolicyEvent(
            message="too many partitions\n",
            color="never",
            policy_name="max-partitions",
            policy_pack_name="k2-policies",
            policy_pack_version="0.0.1",
            policy_pack_version_tag="0.0.1",
            enforcement_level="mandatory",
            resource_urn=urn(TOPIC_TYPE, "market.crypto.trades.binance"),
        ),
    )
    [from_object] = policy_violations([engine])
    [from_line] = policy_violations(
        [json.loads(policy_event("max-partitions", "mandatory", "too many partitions", "market.crypto.trades.binance"))]
    )
    assert from_object == from_line
    assert (from_object.policy, from_object.level, from_object.message) == (
        "max-partitions",
        "mandatory",
        "too many partitions",
    )
