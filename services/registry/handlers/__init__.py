"""Command handlers (called by the routes and the import job) and event handlers (called by the
consumer) of the registry, one module per aggregate."""
