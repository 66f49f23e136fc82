"""Inputs -> Stack(plan, connections, safety). Loading and validating the topology, apps, schemas and
stack settings, building the frozen Plan (the desired state) and normalising the connections.
Pure: no Pulumi, no network, no Kafka client, no environment."""
