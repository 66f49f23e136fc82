"""An app's deploy: its Kafka configuration fed from the k2infra stack's outputs, never hard-coded.

The StackReference's outputs go through k2infra.client (installed with the app: `pip install
k2infra[kafka]`), which validates their shape and derives what the app runs with: its topics or
the pattern that also reaches exchanges added later, the schema subjects, the partition key, and a
ready consumer configuration with the app's own credentials (a secret output, for the app's
runtime configuration store).

Config:
  k2-app-deploy:infraStack     the k2infra stack, e.g. organization/k2infra/dev
  k2-app-deploy:subscription   by_exchange:equities.asx | by_asset_class:crypto | by_data_type:trades
  k2-app-deploy:groupId        the consumer group (default k2-app)
  k2-app-deploy:saslUsername   the app's own SASL user, with the secret k2-app-deploy:saslPassword
"""

from typing import Any

import pulumi

from k2infra.client import OUTPUT_NAMES, AppCredentials, OutputsError, Platform, consumer_settings

GROUPS = ("by_exchange", "by_asset_class", "by_data_type")

config = pulumi.Config()
infra_name = config.require("infraStack")
infra = pulumi.StackReference(infra_name)
group, _, key = config.require("subscription").partition(":")
if group not in GROUPS or not key:
    raise pulumi.RunError("subscription must be by_exchange:AC.EX, by_asset_class:AC or by_data_type:DT")


def load(values: dict[str, Any]) -> Platform:
    try:
        return Platform.from_outputs(values, source=f"the outputs of {infra_name}")
    except OutputsError as exc:
        raise pulumi.RunError(str(exc)) from None


def select(platform: Platform) -> dict[str, Any]:
    topics = getattr(platform.subscriptions, group).get(key)
    if topics is None:
        known = ", ".join(sorted(getattr(platform.subscriptions, group)))
        raise pulumi.RunError(f"the infra stack has no subscription {group}:{key} (known: {known})")
    return {
        "topics": topics,
        "pattern": getattr(platform.patterns, group)[key],
        "schema_subjects": sorted({platform.topic(name).schema_subject for name in topics}),
        "partition_key_fields": sorted({platform.topic(name).partition_key for name in topics}),
    }


# Every output of the infra stack, as one dict (get_output: a missing one is None, which the
# library reports by name).
platform = pulumi.Output.all(**{name: infra.get_output(name) for name in OUTPUT_NAMES}).apply(load)
selection = platform.apply(select)
for name in ("topics", "pattern", "schema_subjects", "partition_key_fields"):
    pulumi.export(name, selection.apply(lambda chosen, name=name: chosen[name]))
pulumi.export("bootstrap_servers", platform.apply(lambda p: p.bootstrap_servers))


def consumer_config(args: list[Any]) -> dict[str, Any]:
    platform, password = args
    credentials = AppCredentials(sasl_username=config.get("saslUsername"), sasl_password=password)
    return consumer_settings(platform, config.get("groupId") or "k2-app", credentials).kafka


pulumi.export(
    "consumer_config",
    pulumi.Output.secret(pulumi.Output.all(platform, config.get_secret("saslPassword")).apply(consumer_config)),
)
