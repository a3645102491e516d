"""The event contract: JSON Schemas per event type, the AsyncAPI document, samples and the validator.

See contracts/README.md. `contracts.validate.validate_event(event)` is the entry point for tests.
"""
