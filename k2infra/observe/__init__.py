"""Watching the platform run: metric names, alert rules and dashboards from the declaration.

Only `k2infra.cli` imports this package. The live half (lag read with the KafkaAdmin, the exporter,
the `lag` and `feeds` commands) is not built yet; what is here needs no cluster.
"""
