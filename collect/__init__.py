"""Getting telemetry in: synthetic probes of health endpoints and log shipping, both to Kafka."""
