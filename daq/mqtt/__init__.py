"""MQTT side of the data plane: topics and payloads, the publisher, the outbox drainer and
the embedded broker."""
