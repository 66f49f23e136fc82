"""`python -m k2infra access`: who may read or write a topic, and what an app may touch, from the plan.

    python -m k2infra access --stack prod                      # every app: principal (and what proves it),
                                                               # topics, group, quotas
    python -m k2infra access --stack prod --app crypto-risk    # its topics today and its ACLs
    python -m k2infra access --stack prod --topic market.crypto.trades.binance   # who can read or write it

An app's principal is shown with what proves it in the stack's mode (k2infra.model.apps.AppAuth): its
SCRAM user, the CN of its mTLS certificate or its OAuth client id.

A topic is matched against the apps' ACLs as the broker matches them (Literal names, Prefixed
patterns), so `--topic` also answers for a topic that does not exist yet, such as a new exchange's.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from k2infra.client.naming import UnknownTopicError
from k2infra.console import EXIT_OK, print_table
from k2infra.model.apps import AclSpec, AppAccess, Operation, ResourceType, who_can
from k2infra.model.errors import did_you_mean
from k2infra.model.plan import Plan
from k2infra.model.stack import Stack


def add_parser(commands: Any, common: Any) -> None:
    access = commands.add_parser("access", help="who may read or write a topic, what an app may touch")
    common(access)
    access.add_argument("--json", action="store_true", help="machine-readable output")
    which = access.add_mutually_exclusive_group()
    which.add_argument("--app", metavar="NAME", help="what this app may read and write, and its ACLs")
    which.add_argument("--topic", metavar="NAME", help="which apps may read or write this topic")


def run(args: argparse.Namespace, stack: Stack, out: TextIO, err: TextIO) -> int:
    plan = stack.plan
    if args.app:
        app = plan.app(args.app)
        if app is None:
            known = [a.name for a in plan.apps]
            close = did_you_mean(args.app, known)
            hint = f"did you mean '{close}'?" if close else f"known: {', '.join(known) or 'none'}"
            raise UnknownTopicError(f"unknown app {args.app!r} ({hint})")
        _app(plan, app, args.json, out)
    elif args.topic:
        _topic(plan, args.topic, args.json, out)
    else:
        _apps(plan, args.json, out)
    return EXIT_OK


def _enforcement(plan: Plan) -> str | None:
    if plan.stack is None:
        return "no --stack: principals keep their {stack} placeholder, and no stack's enforcement is known"
    if not plan.access_control:
        return f"k2infra:accessControl is off for stack {plan.stack}: none of this is enforced on its cluster"
    return None


def _head(plan: Plan) -> dict[str, Any]:
    return {"stack": plan.stack, "access_control": plan.access_control, "app_auth": plan.app_auth}


def _principal(plan: Plan, app: AppAccess) -> str:
    """'User:k2-risk-prod (mTLS certificate CN=k2-risk-prod)': the principal and what proves it here."""
    credential = plan.credential(app)
    return app.principal if credential is None else f"{app.principal} ({credential})"


def _app_dict(plan: Plan, app: AppAccess) -> dict[str, Any]:
    return {**app.to_dict(), "credential": plan.credential(app)}


def _dump(payload: dict[str, Any], out: TextIO) -> None:
    out.write(json.dumps(payload, indent=2) + "\n")


def _note(plan: Plan, out: TextIO, *, principals: bool = True) -> None:
    """The notes under an answer: how the stack's principals are proven (where the answer lists several
    apps), and whether any of it is enforced."""
    if principals and plan.stack is not None and plan.app_auth_explained is not None:
        out.write(f"\nprincipals: {plan.app_auth_explained}\n")
    note = _enforcement(plan)
    if note:
        out.write(f"\nnote: {note}\n")


def _quotas(app: AppAccess) -> str:
    return ", ".join(f"{k}={v}" for k, v in app.quotas.config().items()) if app.quotas else "-"


def _group(app: AppAccess) -> str:
    return "-" if app.group is None else f"{app.group} ({app.group_pattern})"


def _apps(plan: Plan, as_json: bool, out: TextIO) -> None:
    if as_json:
        _dump({**_head(plan), "apps": {a.name: _app_dict(plan, a) for a in plan.apps}}, out)
        return
    rows = [["APP", "PRINCIPAL", "READS", "WRITES", "GROUP", "QUOTAS"]]
    for app in plan.apps:
        rows.append([app.name, app.principal, str(len(app.reads)), str(len(app.writes)), _group(app), _quotas(app)])
    print_table(rows, out)
    out.write(
        f"\n{len(plan.apps)} apps; --app NAME lists an app's topics and ACLs, --topic NAME who may use a topic.\n"
    )
    _note(plan, out)


def _app(plan: Plan, app: AppAccess, as_json: bool, out: TextIO) -> None:
    if as_json:
        _dump({**_head(plan), "app": app.name, **_app_dict(plan, app)}, out)
        return
    out.write(f"app {app.name}: {_principal(plan, app)}, group {_group(app)}, quotas {_quotas(app)}\n\n")
    rows = [["TOPIC", "ACCESS", "VIA"]]
    for name in sorted({*app.reads, *app.writes}):
        for verb, operation, topics in (("read", Operation.READ, app.reads), ("write", Operation.WRITE, app.writes)):
            if name in topics:
                rows.append([name, verb, _via(app, operation, name)])
    if len(rows) > 1:
        print_table(rows, out)
    else:
        out.write("no topic of this stack: its selectors mean none here\n")
    out.write("\n")
    rows = [["RESOURCE", "NAME", "PATTERN", "OPERATION"]]
    rows += [[str(a.resource_type), a.resource_name, str(a.pattern_type), str(a.operation)] for a in app.acls]
    print_table(rows, out)
    _note(plan, out, principals=False)  # the first line says it for this app


def _via(app: AppAccess, operation: Operation, topic: str) -> str:
    return ", ".join(
        f"{a.resource_name} ({a.pattern_type})"
        for a in app.acls
        if a.operation is operation and a.matches(ResourceType.TOPIC, topic)
    )


def _without_principal(acl: AclSpec) -> dict[str, str]:
    return {k: v for k, v in acl.to_dict().items() if k != "principal"}


def _topic(plan: Plan, topic: str, as_json: bool, out: TextIO) -> None:
    planned = plan.topic(topic) is not None or any(t.name == topic and t.declared for t in plan.legacy)
    matches = who_can(plan.apps, ResourceType.TOPIC, topic)
    by_verb: dict[str, list[tuple[AppAccess, list[AclSpec]]]] = {"read": [], "write": []}
    for verb, operation in (("read", Operation.READ), ("write", Operation.WRITE)):
        for app in plan.apps:
            granting = [acl for a, acl in matches if a is app and acl.operation is operation]
            if granting:
                by_verb[verb].append((app, granting))
    if as_json:
        _dump(
            {
                **_head(plan),
                "topic": topic,
                "planned": planned,
                **{
                    key: [
                        {
                            "app": app.name,
                            "principal": app.principal,
                            "credential": plan.credential(app),
                            "via": [_without_principal(a) for a in acls],
                        }
                        for app, acls in by_verb[verb]
                    ]
                    for key, verb in (("readers", "read"), ("writers", "write"))
                },
            },
            out,
        )
        return
    if not planned:
        out.write(f"{topic} is not a topic of this stack's plan: these are the ACLs that would apply to it\n\n")
    rows = [["APP", "PRINCIPAL", "ACCESS", "VIA"]]
    for verb, entries in by_verb.items():
        for app, acls in entries:
            rows.append(
                [
                    app.name,
                    app.principal,
                    verb,
                    ", ".join(f"{a.resource_name} ({a.pattern_type})" for a in acls),
                ]
            )
    if len(rows) > 1:
        print_table(rows, out)
    else:
        out.write(f"no app may read or write {topic}: no app's ACL matches it\n")
    _note(plan, out)
