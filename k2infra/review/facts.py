"""What the change summary needs that a preview does not hold, read once from the cluster and registry.

- the records each topic the preview deletes or replaces holds now: `k2infra.live.records`, the
  count the data-loss guard's preflight and `destroy-check` use (one Metadata request, one
  ListOffsets call each for the earliest and latest offsets);
- for each subject with a new schema, the registry's verdict: `POST
  /compatibility/subjects/{s}/versions/latest` with the schema as the provider registers it
  (minified), the call the dynamic provider's `check` makes at preview, with the subject's
  effective level and latest version, over the registry client `verify` uses.

Nothing here stops the summary: what cannot be read is left unknown, with a note saying why
(credentials come from the environment, as for `verify`: K2_SASL_PASSWORD, ...).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from k2infra.live.admin import LiveReadError
from k2infra.live.cluster import registry_client, registry_failure
from k2infra.live.records import read_holdings
from k2infra.model.avro_canonical import minified_schema
from k2infra.model.stack import Stack
from k2infra.registry.client import RegistryError, sanitize_url
from k2infra.review.summary import Facts, Verdict


def read_facts(stack: Stack, topics: Collection[str], schemas: Mapping[str, str], *, timeout: float) -> Facts:
    """The records of `topics` and the registry's verdict on each subject's new schema in `schemas`."""
    notes: list[str] = []
    records: dict[str, int | None] = {}
    if topics:
        kafka = stack.connections.kafka
        try:
            held = read_holdings(kafka.librdkafka(), sorted(topics), connection=kafka, timeout=timeout)
            records = {name: held[name].records if name in held else 0 for name in topics}
            gone = sorted(set(topics) - set(held))
            if gone:
                notes.append(f"not on the cluster (nothing to lose): {', '.join(gone)}")
        except LiveReadError as exc:
            notes.append(f"cannot count the records of the topics this change deletes or replaces: {exc}")
    verdicts: dict[str, Verdict] = {}
    if schemas:
        try:
            verdicts = _verdicts(stack, schemas, timeout)
        except LiveReadError as exc:
            notes.append(f"cannot ask the Schema Registry for its compatibility verdicts: {exc}")
    return Facts(records, verdicts, tuple(notes))


def _verdicts(stack: Stack, schemas: Mapping[str, str], timeout: float) -> dict[str, Verdict]:
    connection = stack.connections.registry
    client = registry_client(connection, timeout=timeout)
    out: dict[str, Verdict] = {}
    try:
        for subject, schema in sorted(schemas.items()):
            latest = client.get_latest(subject)
            level = client.get_compatibility(subject)
            compatible, reasons = client.check_compatibility(subject, minified_schema(schema))
            version = latest.get("version") if latest else None
            out[subject] = Verdict(compatible, level, version if isinstance(version, int) else None, tuple(reasons))
    except RegistryError as exc:
        raise LiveReadError(registry_failure(connection, exc, sanitize_url(client.base_url), timeout)) from None
    return out
