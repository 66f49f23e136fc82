"""Reads of a running cluster and registry, and `verify` (the plan against what is live)."""
