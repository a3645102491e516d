"""Command handlers (called by the API) and event handlers (called by the consumers), one module per aggregate.

- `catalog`: rule sets, band tables, templates (presets and officers' copies)
- `standing`: the read model of `registry.organization` and what its facts trigger
- `rounds`: rounds, applications, eligibility · `people`: agencies, evaluators, assignments, conflicts
- `scoring`: score sheets, submission, aggregation · `rating`: decision, notice, appeal, publication
- `after`: downgrade, revocation, expiry · `assessments`: project assessments · `queries`: read side
"""
