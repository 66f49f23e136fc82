"""What applications import: the platform's description (from the stack outputs or the topology
files), topic and subscription builders, the subject-name strategy and ready client configurations.

Needs neither Pulumi nor a Kafka client to import; the configurations are for the stock
confluent-kafka clients (the `kafka` extra). docs/applications.md is the guide.
"""

from k2infra.client.config import (
    AppCredentials,
    ConsumerSettings,
    ProducerSettings,
    consumer_settings,
    deserializer_config,
    kafka_client_config,
    producer_settings,
    schema_registry_config,
    serializer_config,
)
from k2infra.client.errors import CredentialsError, PlatformLoadError, UnknownTopicError
from k2infra.client.naming import (
    DataType,
    SubscriptionBuilder,
    TopicNameBuilder,
    get_subscription_builder,
    get_topic_builder,
)
from k2infra.client.platform import OUTPUT_NAMES, Exchange, Platform, Topic, TopicConfig
from k2infra.client.subjects import SubjectNameStrategy
from k2infra.model.outputs import OutputsError, StackOutputs

__all__ = [
    "OUTPUT_NAMES",
    "AppCredentials",
    "ConsumerSettings",
    "CredentialsError",
    "DataType",
    "Exchange",
    "OutputsError",
    "Platform",
    "PlatformLoadError",
    "ProducerSettings",
    "StackOutputs",
    "SubjectNameStrategy",
    "SubscriptionBuilder",
    "Topic",
    "TopicConfig",
    "TopicNameBuilder",
    "UnknownTopicError",
    "consumer_settings",
    "deserializer_config",
    "get_subscription_builder",
    "get_topic_builder",
    "kafka_client_config",
    "producer_settings",
    "schema_registry_config",
    "serializer_config",
]
