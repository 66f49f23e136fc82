"""tools/registry/journal.py: which login its Kafka clients use, and when it may replace a journal
(the copying itself is tests/e2e/test_registry_durable.py, against real platforms)."""

from __future__ import annotations

import importlib.util
from concurrent.futures import Future
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[2]


def journal_module():
    spec = importlib.util.spec_from_file_location("journal", REPO / "tools" / "registry" / "journal.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SECURE_ENV = {
    "K2_BOOTSTRAP_SERVERS": "127.0.0.1:19192",
    "K2_SASL_USERNAME": "k2infra",
    "K2_SASL_PASSWORD": "infra-secret",
    "K2_ADMIN_USERNAME": "k2broker",
    "K2_ADMIN_PASSWORD": "admin-secret",
    "K2_CA_CERT": "/state/tls/ca.pem",
}


def test_the_journal_is_copied_as_the_secured_clusters_super_user_not_the_infra_principal() -> None:
    config = journal_module().client_config(SECURE_ENV)
    assert (config["sasl.username"], config["sasl.password"]) == ("k2broker", "admin-secret")
    assert config["security.protocol"] == "SASL_SSL" and config["ssl.ca.location"] == "/state/tls/ca.pem"


def test_a_secured_cluster_without_its_super_user_is_named_before_connecting() -> None:
    env = {k: v for k, v in SECURE_ENV.items() if not k.startswith("K2_ADMIN_")}
    with pytest.raises(SystemExit, match="K2_ADMIN_USERNAME / K2_ADMIN_PASSWORD"):
        journal_module().client_config(env)


def test_the_plain_platform_needs_no_login() -> None:
    assert journal_module().client_config({"K2_BOOTSTRAP_SERVERS": "127.0.0.1:19092"}) == {
        "bootstrap.servers": "127.0.0.1:19092"
    }


class FakeAdmin:
    """The AdminClient calls delete_journal makes: the groups and topics it is given, deletions recorded."""

    def __init__(self, groups: list[tuple[str, object]], topics: set[str], later: list | None = None) -> None:
        self.groups = groups
        self.later = later  # the groups listed from the second listing on
        self.topics = set(topics)
        self.deleted: list[str] = []

    @staticmethod
    def _done(value: object) -> Future:
        future: Future = Future()
        future.set_result(value)
        return future

    def list_consumer_groups(self, **_kwargs):
        listings = [SimpleNamespace(group_id=g, state=s) for g, s in self.groups]
        if self.later is not None:
            self.groups = self.later
        return self._done(SimpleNamespace(valid=listings))

    def list_topics(self, **_kwargs):
        return SimpleNamespace(topics={t: None for t in self.topics})

    def delete_topics(self, names: list[str], **_kwargs):
        self.deleted += names
        self.topics -= set(names)
        return {name: self._done(None) for name in names}


def test_replacing_the_journal_is_refused_while_a_registry_node_still_reads_it(monkeypatch) -> None:
    from confluent_kafka import ConsumerGroupState

    module = journal_module()
    admin = FakeAdmin(
        [("k2-registry-0f1e", ConsumerGroupState.STABLE), ("k2-registry-9a8b", ConsumerGroupState.EMPTY)],
        {"k2-registry-journal"},
    )
    monkeypatch.setattr(module, "AdminClient", lambda _config: admin)
    with pytest.raises(SystemExit, match=r"still reads k2-registry-journal \(consumer groups k2-registry-0f1e have"):
        module.delete_journal({"bootstrap.servers": "127.0.0.1:19092"}, left_wait=0)
    assert admin.deleted == []


def test_replacing_the_journal_waits_for_a_stopped_nodes_group_to_empty(monkeypatch) -> None:
    """A stopped node's journal consumer does not leave its group: it empties when its session ends."""
    from confluent_kafka import ConsumerGroupState

    module = journal_module()
    admin = FakeAdmin(
        [("k2-registry-0f1e", ConsumerGroupState.STABLE)],
        {"k2-registry-journal"},
        later=[("k2-registry-0f1e", ConsumerGroupState.EMPTY)],
    )
    monkeypatch.setattr(module, "AdminClient", lambda _config: admin)
    monkeypatch.setattr(module.time, "sleep", lambda _seconds: None)
    module.delete_journal({"bootstrap.servers": "127.0.0.1:19092"}, left_wait=60)
    assert admin.deleted == ["k2-registry-journal"]


def test_replacing_the_journal_deletes_it_once_the_registries_have_left(monkeypatch) -> None:
    from confluent_kafka import ConsumerGroupState

    module = journal_module()
    admin = FakeAdmin(
        [("k2-registry-0f1e", ConsumerGroupState.EMPTY), ("market-data-normaliser", ConsumerGroupState.STABLE)],
        {"k2-registry-journal", "market.equities.trades.asx"},
    )
    monkeypatch.setattr(module, "AdminClient", lambda _config: admin)
    module.delete_journal({"bootstrap.servers": "127.0.0.1:19092"})
    assert admin.deleted == ["k2-registry-journal"]


def test_replace_goes_with_restore_only(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        journal_module().main(["backup", "--replace", str(tmp_path / "journal.backup")])


def test_a_journal_just_created_is_asked_again_until_its_leader_serves_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from confluent_kafka import KafkaError, KafkaException

    journal = journal_module()
    monkeypatch.setattr(journal.time, "sleep", lambda _: None)
    answers: list[object] = [
        KafkaException(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION)),
        KafkaException(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART)),
        (0, 0),
    ]

    def watermarks(*_: object, **__: object) -> object:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert journal._watermarks(SimpleNamespace(get_watermark_offsets=watermarks)) == (0, 0)
    assert answers == []
    # Anything else is raised at once.
    answers[:] = [KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))]
    with pytest.raises(KafkaException):
        journal._watermarks(SimpleNamespace(get_watermark_offsets=watermarks))
