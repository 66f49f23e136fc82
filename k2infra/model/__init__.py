"""Inputs -> Plan. Loading and validating the topology, schemas and stack settings, and building
the frozen Plan that everything downstream reads. Pure: no Pulumi, no network, no Kafka client."""
