"""config/kafka/apps.yaml: the declared applications, validated like the topology (every problem at
once, each as file:line: field: message)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from k2infra.model.apps import DEFAULT_PRINCIPAL_RULE, Quotas, SelectorKind, load_apps
from k2infra.model.errors import InputError
from k2infra.model.plan import load_plan
from k2infra.model.stack import load_stack_file
from k2infra.model.topology import load_topology
from tests.conftest import REPO, set_stack_config

APPS = Path("kafka") / "apps.yaml"


def write_apps(config_dir: Path, text: str) -> Path:
    path = config_dir / APPS
    path.write_text(text)
    return path


def problems(config_dir: Path, text: str) -> list[str]:
    write_apps(config_dir, text)
    with pytest.raises(InputError) as caught:
        load_apps(config_dir, load_topology(config_dir).topology)
    prefix = f"{config_dir / APPS}:"
    return [str(p).removeprefix(prefix) for p in caught.value.problems]


def test_the_shipped_apps_are_the_four_example_applications_and_the_monitor_each_with_a_quota() -> None:
    apps = load_apps(REPO / "config", load_topology(REPO / "config").topology)
    assert apps.principal_rule == DEFAULT_PRINCIPAL_RULE == "User:k2-{app}-{stack}"
    by_name = {a.name: a for a in apps.apps}
    assert sorted(by_name) == [
        "crypto-risk",
        "equities-analytics",
        "market-data-normaliser",
        "platform-monitor",
        "reference-data-cache",
    ]
    assert [a.name for a in apps.apps if a.monitors] == ["platform-monitor"]
    monitor = by_name["platform-monitor"]
    assert (monitor.consumes, monitor.produces, monitor.group, monitor.group_prefix) == ((), (), None, None)
    normaliser = by_name["market-data-normaliser"]
    assert normaliser.consumes == () and normaliser.group is None
    assert [(s.kind, s.exchange, s.data_types) for s in normaliser.produces] == [
        (SelectorKind.EXCHANGE, "equities.asx", ("trades", "quotes")),
        (SelectorKind.EXCHANGE, "crypto.binance", ("trades", "quotes")),
    ]
    [analytics] = by_name["equities-analytics"].consumes
    assert (analytics.kind, analytics.asset_class, analytics.data_types) == (SelectorKind.ASSET_CLASS, "equities", None)
    [risk] = by_name["crypto-risk"].consumes
    assert (risk.kind, risk.asset_class, risk.data_types) == (SelectorKind.ASSET_CLASS, "crypto", ("trades",))
    assert by_name["crypto-risk"].group_prefix == "crypto-risk."
    [cache] = by_name["reference-data-cache"].consumes
    assert (cache.kind, cache.data_type, cache.asset_classes) == (SelectorKind.DATA_TYPE, "reference_data", None)
    assert all(app.quotas is not None and app.quotas.config() for app in apps.apps)
    assert normaliser.quotas == Quotas(producer_byte_rate=52428800, request_percentage=200.0)
    assert normaliser.quotas.config() == {"producer_byte_rate": "52428800", "request_percentage": "200"}


def test_no_apps_file_means_no_apps(config_dir: Path) -> None:
    (config_dir / APPS).unlink()
    assert load_apps(config_dir, load_topology(config_dir).topology).apps == ()
    assert load_plan(config_dir).apps == ()


def test_unknown_keys_are_reported_with_the_closest_spelling(config_dir: Path) -> None:
    text = """\
principle: "User:k2-{app}"
apps:
  risk:
    consume:
      - asset_class: crypto
    group: risk
    quotas:
      consumer_byte_rte: 10
"""
    assert problems(config_dir, text) == [
        "1: principle: unknown key (did you mean 'principal'?)",
        "4: apps.risk.consume: unknown key (did you mean 'consumes'?)",
        "8: apps.risk.quotas.consumer_byte_rte: unknown key (did you mean 'consumer_byte_rate'?)",
    ]


def test_selectors_that_name_nothing_the_topology_has_are_reported_with_suggestions(config_dir: Path) -> None:
    text = """\
apps:
  reader:
    consumes:
      - exchange: equities.asz
      - exchange: equities
      - asset_class: equity
      - asset_class: crypto
        exchanges: [binanse]
        data_types: [trade]
      - data_type: quote
        asset_classes: [cryptos]
      - legacy: market.trades.rwa
      - exchange: crypto.binance
        data_type: [trades]
      - exchange: crypto.binance
        exchanges: [binance]
      - {}
    group: reader
"""
    assert problems(config_dir, text) == [
        "4: apps.reader.consumes[0].exchange: unknown exchange 'equities.asz' (did you mean 'equities.asx'?)",
        "5: apps.reader.consumes[1].exchange: must be asset_class.exchange such as 'equities.asx', got 'equities'",
        "6: apps.reader.consumes[2].asset_class: unknown asset class 'equity' (did you mean 'equities'?)",
        "8: apps.reader.consumes[3].exchanges[0]: unknown exchange 'binanse' (did you mean 'binance'?)",
        "9: apps.reader.consumes[3].data_types[0]: unknown data type 'trade' (did you mean 'trades'?)",
        "10: apps.reader.consumes[4].data_type: unknown data type 'quote' (did you mean 'quotes'?)",
        "11: apps.reader.consumes[4].asset_classes[0]: unknown asset class 'cryptos' (did you mean 'crypto'?)",
        "12: apps.reader.consumes[5].legacy: unknown legacy topic 'market.trades.rwa' (did you mean 'market.trades.raw'?)",
        "14: apps.reader.consumes[6].data_type: does not go with exchange (did you mean 'data_types'?)",
        "14: apps.reader.consumes[6].data_type: must be a string, got a list",
        "16: apps.reader.consumes[7].exchanges: does not go with exchange (it takes: data_types)",
        "17: apps.reader.consumes[8]: a selector takes exactly one of exchange, asset_class, data_type, legacy; got none",
    ]


def test_a_selector_whose_filters_leave_no_topic_is_reported(
    config_dir: Path, edit_topology: Callable[[Callable[[dict], None]], Path]
) -> None:
    edit_topology(
        lambda t: t["asset_classes"]["crypto"]["exchanges"]["binance"].update(data_types=["trades", "quotes"])
    )
    text = """\
apps:
  reader:
    consumes:
      - exchange: crypto.binance
        data_types: [reference_data]
      - asset_class: crypto
        data_types: [reference_data]
    group: reader
"""
    assert problems(config_dir, text) == [
        "4: apps.reader.consumes[0]: selects no topic: crypto.binance carries trades, quotes",
        "6: apps.reader.consumes[1]: selects no topic of the topology",
    ]
    # A data type the exchange does not carry is no error while the selector means some topic:
    # the grant follows the topology (the shipped normaliser writes binance trades and quotes).
    text = text.replace(
        "data_types: [reference_data]\n      - asset_class", "data_types: [trades, reference_data]\n      - asset_class"
    )
    assert problems(config_dir, text) == ["6: apps.reader.consumes[1]: selects no topic of the topology"]


def test_apps_that_do_nothing_consumers_without_a_group_and_groups_without_consumers(config_dir: Path) -> None:
    text = """\
apps:
  idle:
    description: does nothing
  reader:
    consumes:
      - data_type: trades
  writer:
    produces:
      - exchange: equities.asx
    group: writer
  both-groups:
    consumes:
      - data_type: quotes
    group: both
    group_prefix: both.
  bad-group:
    consumes:
      - data_type: quotes
    group: "team*"
"""
    assert problems(config_dir, text) == [
        "2: apps.idle: neither consumes nor produces anything; declare consumes or produces",
        "4: apps.reader: consumes topics but declares no consumer group; add group: <id> or group_prefix: <prefix>",
        "10: apps.writer.group: only a consumer reads with a group; this app consumes nothing",
        "15: apps.both-groups.group_prefix: give either group or group_prefix, not both",
        "19: apps.bad-group.group: must be letters, digits, '.', '_' and '-' (no wildcard), got 'team*'",
    ]


def test_groups_that_overlap_between_apps_are_reported_against_the_later_app(config_dir: Path) -> None:
    text = """\
apps:
  a:
    consumes: [{data_type: trades}]
    group: risk
  b:
    consumes: [{data_type: trades}]
    group: risk
  c:
    consumes: [{data_type: trades}]
    group_prefix: ri
  d:
    consumes: [{data_type: trades}]
    group: risk-eod
  e:
    consumes: [{data_type: trades}]
    group_prefix: analytics.
  f:
    consumes: [{data_type: trades}]
    group_prefix: analytics.eu.
"""
    assert problems(config_dir, text) == [
        "7: apps.b.group: group 'risk' overlaps group 'risk' of app 'a' (line 4): each app's group must be its own",
        "10: apps.c.group_prefix: group_prefix 'ri' overlaps group 'risk' of app 'a' (line 4): "
        "each app's group must be its own",
        "10: apps.c.group_prefix: group_prefix 'ri' overlaps group 'risk' of app 'b' (line 7): "
        "each app's group must be its own",
        # d's literal group 'risk-eod' is not granted by a's literal 'risk' (no overlap), but c's prefix 'ri' takes it.
        "13: apps.d.group: group 'risk-eod' overlaps group_prefix 'ri' of app 'c' (line 10): "
        "each app's group must be its own",
        "19: apps.f.group_prefix: group_prefix 'analytics.eu.' overlaps group_prefix 'analytics.' of app 'e' "
        "(line 16): each app's group must be its own",
    ]


def test_principal_rules_and_overrides_name_one_user(config_dir: Path) -> None:
    text = """\
principal: "User:k2-{stack}"
apps:
  a:
    produces: [{exchange: equities.asx}]
    principals:
      prod: "k2-a"
      dev: "User:*"
      staging: "User:team a"
"""
    assert problems(config_dir, text) == [
        "1: principal: must hold {app}, or every app would share one principal, got 'User:k2-{stack}'",
        "6: apps.a.principals.prod: must be a Kafka user principal such as 'User:k2-risk-prod', got 'k2-a'",
        "7: apps.a.principals.dev: must name one user, not a wildcard, got 'User:*'",
        "8: apps.a.principals.staging: the user name must be letters, digits, '.', '_' and '-', got 'User:team a'",
    ]
    assert problems(
        config_dir, 'principal: "User:{app}-{env}"\napps:\n  a:\n    produces: [{legacy: market.trades.raw}]\n'
    ) == ["1: principal: may only hold the placeholders {app} and {stack}, got 'User:{app}-{env}'"]


def test_app_names_and_quota_values_are_checked(config_dir: Path) -> None:
    text = """\
apps:
  Risk_Book:
    produces: [{exchange: equities.asx}]
    quotas:
      producer_byte_rate: 0
      consumer_byte_rate: 1.5
      request_percentage: -1
  empty-quota:
    produces: [{exchange: equities.asx}]
    quotas: {}
"""
    assert problems(config_dir, text) == [
        "2: apps.Risk_Book: app names must be lowercase letters, digits and hyphens, starting with a letter, "
        "got 'Risk_Book'",
        "5: apps.Risk_Book.quotas.producer_byte_rate: must be an integer number of bytes per second, at least 1, got 0",
        "6: apps.Risk_Book.quotas.consumer_byte_rate: must be an integer number of bytes per second, at least 1, "
        "got 1.5",
        "7: apps.Risk_Book.quotas.request_percentage: must be a positive number (percent of one broker thread; "
        "200 is two threads), got -1",
        "10: apps.empty-quota.quotas: sets no quota; set one of producer_byte_rate, consumer_byte_rate, "
        "request_percentage",
    ]


def test_every_problem_is_reported_at_once_with_the_file_and_line(config_dir: Path) -> None:
    path = write_apps(
        config_dir,
        "apps:\n  a:\n    consumes: [{asset_class: equitie}]\n  b:\n    description: nothing\n",
    )
    with pytest.raises(InputError) as caught:
        load_plan(config_dir)
    report = str(caught.value)
    assert report.splitlines() == [
        f"3 problems in {path}:",
        f"  {path}:2: apps.a: consumes topics but declares no consumer group; add group: <id> or group_prefix: <prefix>",
        f"  {path}:3: apps.a.consumes[0].asset_class: unknown asset class 'equitie' (did you mean 'equities'?)",
        f"  {path}:4: apps.b: neither consumes nor produces anything; declare consumes or produces",
    ]


def test_a_principal_override_applies_to_its_stack_only(project_dir: Path) -> None:
    apps = (project_dir / "config" / APPS).read_text()
    write_apps(
        project_dir / "config",
        apps.replace("  crypto-risk:\n", '  crypto-risk:\n    principals:\n      prod: "User:risk-desk"\n'),
    )
    prod = load_plan(project_dir / "config", "prod", project_dir)
    dev = load_plan(project_dir / "config", "dev", project_dir)
    assert prod.app("crypto-risk").principal == "User:risk-desk"
    assert dev.app("crypto-risk").principal == "User:k2-crypto-risk-dev"
    assert prod.app("equities-analytics").principal == "User:k2-equities-analytics-prod"
    assert load_plan(project_dir / "config").app("crypto-risk").principal == "User:k2-crypto-risk-{stack}"


def test_duplicate_principals_after_the_stacks_rule_are_reported(config_dir: Path) -> None:
    text = """\
apps:
  a:
    produces: [{exchange: equities.asx}]
  b:
    produces: [{exchange: crypto.binance}]
    principals:
      prod: "User:k2-a-prod"
  c:
    produces: [{exchange: crypto.binance}]
    principals:
      staging: "User:shared"
  d:
    produces: [{exchange: crypto.binance}]
    principals:
      staging: "User:shared"
"""
    assert problems(config_dir, text) == [
        "7: apps.b.principals.prod: principal 'User:k2-a-prod' in stack prod is also the principal of app 'a' "
        "(by the principal rule 'User:k2-{app}-{stack}'); give one of them its own in apps.b.principals",
        "15: apps.d.principals.staging: principal 'User:shared' in stack staging is also the principal of app 'c' "
        "(line 11); give one of them its own in apps.d.principals",
    ]


def test_apps_problems_and_stack_setting_problems_are_reported_together(project_dir: Path) -> None:
    write_apps(project_dir / "config", "apps:\n  a:\n    produces: [{exchange: equities.nyse}]\n")
    set_stack_config(project_dir, "dev", {"accessControll": True})
    with pytest.raises(InputError) as caught:
        load_plan(project_dir / "config", "dev", project_dir)
    messages = [p.message for p in caught.value.problems]
    assert "unknown exchange 'equities.nyse' (did you mean 'equities.asx'?)" in messages
    assert "unknown stack setting (did you mean 'accessControl'?)" in messages


def test_app_passwords_in_plaintext_are_refused_and_access_control_needs_sasl(project_dir: Path) -> None:
    set_stack_config(project_dir, "dev", {"appPasswords": {"crypto-risk": "hunter2"}, "accessControl": True})
    with pytest.raises(InputError) as caught:
        load_plan(project_dir / "config", "dev", project_dir)
    found = {(p.path, p.message) for p in caught.value.problems}
    assert found == {
        (
            "k2infra:appPasswords",
            "holds credentials and must be secret: use `pulumi config set --secret --path "
            "'k2infra:appPasswords.<name>' ...`",
        ),
        (
            "k2infra:accessControl",
            "needs a login the brokers can name: saslMechanism (SCRAM, PLAIN or OAUTHBEARER) or clientCert "
            "(mutual TLS); the apps' ACLs name authenticated principals, and the program manages them as an admin",
        ),
    }
    assert "hunter2" not in str(caught.value)


def test_app_passwords_stored_as_secrets_are_accepted_by_the_command_line(project_dir: Path) -> None:
    set_stack_config(
        project_dir,
        "prod",
        {"accessControl": True, "appPasswords": {"crypto-risk": {"secure": "v1:AAAA"}}, "appScramIterations": 8192},
    )
    stack = load_stack_file(project_dir / "config", "prod", project_dir)
    assert stack.plan.access_control is True
    assert stack.plan.app_scram_mechanism == "scram-sha512"
    assert stack.plan.app_scram_iterations == 8192
    assert "appPasswords" in stack.secret_keys


def test_a_monitor_declares_nothing_it_reads_or_writes_and_there_is_at_most_one(config_dir: Path) -> None:
    text = """\
apps:
  watcher:
    monitors: true
    consumes:
      - data_type: trades
    group: watcher
    slo: {max_lag_seconds: 5}
  second:
    monitors: true
  quiet:
    monitors: true
    quotas: {consumer_byte_rate: 1024}
"""
    assert problems(config_dir, text) == [
        "4: apps.watcher.consumes: a monitor declares no consumes: it may read every topic it observes and "
        "describe the declared apps' groups, and nothing else",
        "6: apps.watcher.group: a monitor declares no group: it may read every topic it observes and "
        "describe the declared apps' groups, and nothing else",
        "7: apps.watcher.slo: a monitor declares no slo: it may read every topic it observes and "
        "describe the declared apps' groups, and nothing else",
        "9: apps.second.monitors: app 'watcher' (line 3) is the monitor already: the observe commands log in as one app",
        "11: apps.quiet.monitors: app 'watcher' (line 3) is the monitor already: the observe commands log in as one app",
    ]
    # A monitor alone, with neither consumes nor produces, is a whole declaration.
    write_apps(config_dir, "apps:\n  quiet:\n    monitors: true\n")
    [quiet] = load_apps(config_dir, load_topology(config_dir).topology).apps
    assert quiet.monitors and quiet.consumes == quiet.produces == ()
