"""k2infra: the K2 market-data Kafka topic architecture as a Pulumi program.

Apps import `k2infra.client.naming` (topic names, specs, subscriptions) without needing Pulumi.
"""
