"""Command handlers (called by the API) and event handlers (called by the consumer), one module per
aggregate: calls, standing (the read model), applications, reviews, awards, disbursements, ledger,
open data."""
