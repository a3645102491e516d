"""Real PostgreSQL and Apache Kafka servers for tests, CI and developers, started by our own code.

Nothing here is imported by the services: it builds the infrastructure they run against.
"""
