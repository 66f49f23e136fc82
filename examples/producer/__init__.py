"""An example producer: realistic trades, quotes and reference data for every exchange of a K2
platform, with the stock confluent-kafka Producer and AvroSerializer configured by k2infra.client."""
