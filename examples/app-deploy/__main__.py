"""An app's deploy: which topics to consume, read from the k2infra stack, never hard-coded.

Config:
  k2-app-deploy:infraStack     the k2infra stack, e.g. organization/k2infra/dev
  k2-app-deploy:subscription   by_exchange:equities.asx | by_asset_class:crypto | by_data_type:trades
"""

import pulumi

config = pulumi.Config()
infra = pulumi.StackReference(config.require("infraStack"))
group, _, key = config.require("subscription").partition(":")
if group not in ("by_exchange", "by_asset_class", "by_data_type") or not key:
    raise pulumi.RunError("subscription must be by_exchange:AC.EX, by_asset_class:AC or by_data_type:DT")


def select(subscriptions: dict) -> list[str]:
    topics = subscriptions.get(group, {}).get(key)
    if topics is None:
        known = ", ".join(sorted(subscriptions.get(group, {})))
        raise pulumi.RunError(f"the infra stack has no subscription {group}:{key} (known: {known})")
    return topics


topics = infra.require_output("subscriptions").apply(select)
pulumi.export("topics", topics)
pulumi.export("bootstrap_servers", infra.require_output("bootstrap_servers"))
pulumi.export(
    "schema_subjects",
    pulumi.Output.all(topics, infra.require_output("topics")).apply(
        lambda args: sorted({args[1][name]["schema_subject"] for name in args[0]})
    ),
)
