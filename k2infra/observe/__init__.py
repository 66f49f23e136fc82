"""Watching the platform run: metric names, alert rules and dashboards from the declaration; consumer
lag (`lag`), the newest records' age (`feeds`) and the Prometheus exporter, read through the KafkaAdmin.

Only `k2infra.cli` imports this package.
"""
