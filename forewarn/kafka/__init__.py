"""Kafka plumbing every process shares: client setup, the buffered publisher, the consumer loop."""
