"""What applications import: topic names, topic specs, exchange metadata, subscriptions.
Needs neither Pulumi nor a Kafka client."""
