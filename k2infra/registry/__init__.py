"""Schema Registry subjects as Pulumi resources (a Python dynamic provider).

* ``resource``: ``SchemaSubject``, ``SchemaSubjectArgs``, ``RegistryConnection``;
* ``provider``: the dynamic provider and its lifecycle (each method's docstring);
* ``client``: the Confluent-API HTTP client (timeouts, retries, errors).

Nothing is imported here, so ``import k2infra.registry.client`` does not need Pulumi.
"""
