"""An example consumer: subscribes by exchange, asset class, data type or pattern, deserializes
with the registered schemas (stock AvroDeserializer configured by k2infra.client) and prints."""
