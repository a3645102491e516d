"""The event bus port (base) and its two backends: Kafka (aiokafka) and the embedded log (SQLite)."""
