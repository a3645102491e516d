"""English templates (the second locale), one per notification type: the first line is the subject.

Same context and filters as `messages_zh`; names of organizations and calls stay in Chinese.
"""

# ruff: noqa: E501  (message text: one line of a template is one line of the message)
from __future__ import annotations

EN: dict[str, str] = {
    # registry.organization
    "registry.organization.registered": """{{ org }}: registered
{{ org }} was registered on {{ d.registered_on | day }} (registration authority {{ d.registration_authority }}).
Unified social credit code: {{ d.organization.id }}
{% if d.supervising_unit %}Supervising unit: {{ d.supervising_unit }}{% else %}Direct registration ({{ d.category | label('category') }}){% endif %}""",
    "registry.organization.filed": """{{ org }}: filed
{{ org }} was filed as a community organization on {{ d.filed_on | day }}, filing number {{ d.filing_number }}, filing office {{ d.filing_authority }}.""",
    "registry.organization.upgraded": """{{ org }}: now registered
{{ org }} was registered on {{ d.registered_on | day }} with credit code {{ d.uscc }} (formerly filing number {{ d.previous_filing_number }}).""",
    "registry.organization.updated": """{{ org }}: registration details changed
The registration details of {{ org }} changed: {{ d.changed | join(', ') }}.""",
    "registry.organization.annual_report_recorded": """{{ org }}: annual inspection {{ d.year }}
Annual inspection result of {{ org }} for {{ d.year }}: {{ d.result | label('result') }}{% if d.report_status %}; report: {{ d.report_status | label('report_status') }}{% endif %}.
Recorded on {{ d.effective_on | day }}.""",
    "registry.organization.penalty_recorded": """{{ org }}: penalty recorded
The registry recorded a penalty against {{ org }}: {{ d.penalty_type | label('penalty') }}{% if d.fine %}, fine {{ d.fine | money }}{% endif %}.
Decided on {{ d.decided_on | day }}{% if d.executed_on %}; executed on {{ d.executed_on | day }}{% endif %}.""",
    "registry.organization.investigation_opened": """{{ org }}: investigation opened
The registry opened an investigation of {{ org }} on {{ d.opened_on | day }} (reference {{ d.investigation_id }}). Please cooperate and provide the requested documents.""",
    "registry.organization.investigation_closed": """{{ org }}: investigation closed
The investigation of {{ org }} (reference {{ d.investigation_id }}) was closed on {{ d.closed_on | day }}.""",
    "registry.organization.listed": """[Credit list notice] {{ org }} placed on the {{ d.list | label('list') }}
{{ org }} was placed on the {{ d.list | label('list') }} on {{ d.listed_on | day }}.
Reason: {{ d.reason }}
Basis: Measures on Credit Information of Social Organizations (MCA Order No. 60).
You may object in writing to the registry; after rectification you may apply for removal.""",
    "registry.organization.delisted": """[Credit list notice] {{ org }} removed from the {{ d.list | label('list') }}
{{ org }} was removed from the {{ d.list | label('list') }} on {{ d.removed_on | day }}.
Reason: {{ d.removal_reason | label('removal_reason') }}
Basis: Measures on Credit Information of Social Organizations (MCA Order No. 60).""",
    "registry.organization.deregistered": """{{ org }}: deregistered
{{ org }} was deregistered on {{ d.deregistered_on | day }}.{% if d.reason %} Reason: {{ d.reason }}{% endif %}""",
    "registry.organization.revoked": """{{ org }}: registration revoked
The registration of {{ org }} was revoked on {{ d.revoked_on | day }}.{% if d.reason %} Reason: {{ d.reason }}{% endif %}""",
    # evaluation.round
    "evaluation.round.opened": """Rating round {{ d.year }} open for applications
The {{ d.year }} rating evaluation of social organizations accepts applications until {{ d.applications_close_on | day }}.
Kinds admitted: {% for k in d.kinds %}{{ k | label('kind') }}{% if not loop.last %}, {% endif %}{% endfor %}
Eligible organizations can apply online before the deadline.""",
    "evaluation.round.closed": """Scores due: please submit your scores
Rating round {{ d.round_id }} closed for applications on {{ d.closed_on | day }}; {{ pending | default(1) }} of your evaluations still have no submitted score.""",
    # evaluation.rating
    "evaluation.rating.applied": """{{ org }}: rating application {% if d.eligible %}received{% else %}not eligible{% endif %}
The rating application of {{ org }} of {{ d.applied_on | day }} {% if d.eligible %}was received; an evaluation agency will visit.{% else %}is not eligible.
{{ d.reasons | reasons }}{% endif %}""",
    "evaluation.rating.assigned": """Evaluation assigned: {{ org }}
You were assigned to evaluate {{ org }} (evaluation {{ d.evaluation_id }}). Declare any conflict of interest promptly.""",
    "evaluation.rating.conflict_declared": """Conflict of interest declared: {{ org }}
{% if d.declared_by == 'organization' %}{{ org }} requests the recusal of an evaluator{% else %}An evaluator declared a conflict of interest with {{ org }}{% endif %} (conflict {{ d.conflict_id }}, evaluation {{ d.evaluation_id }}). Please decide on the recusal.""",
    "evaluation.rating.recusal_decided": """Recusal decided: {{ org }}
The recusal request in the rating of {{ org }} (evaluation {{ d.evaluation_id }}) was {{ d.decision | label('recusal') }}.""",
    "evaluation.rating.scored": """Score submitted: {{ org }}
A score was submitted for {{ org }} (evaluation {{ d.evaluation_id }}): total {{ d.total }}.""",
    "evaluation.rating.proposed": """Grade proposed: {{ org }}
The evaluation of {{ org }} totals {{ d.total }}; proposed grade: {{ d.proposed_grade | grade }}.""",
    "evaluation.rating.publicly_noticed": """{{ org }}: rating under public notice
The rating result of {{ org }} (proposed grade {{ d.proposed_grade | grade }}) is under public notice from {{ d.notice_starts_on | day }} until {{ d.notice_ends_at | when }}.
You may file a written appeal during the notice.""",
    "evaluation.rating.appealed": """Rating appealed: {{ org }}
{{ org }} appealed its rating result on {{ d.filed_on | day }} (appeal {{ d.appeal_id }}). Please decide within the statutory period.""",
    "evaluation.rating.appeal_decided": """[Rating decision] {{ org }}: appeal decided
The appeal of {{ org }} (appeal {{ d.appeal_id }}) was {{ d.decision | label('appeal') }}. Grade after the appeal: {{ d.grade | grade }}.
Decided on {{ d.decided_on | day }}.""",
    "evaluation.rating.published": """[Rating decision] {{ org }} rated {{ d.grade | grade }}
The evaluation committee decided on {{ d.decided_on | day }} that {{ org }} holds grade {{ d.grade | grade }}, announced on {{ d.announced_on | day }}.
Valid from {{ d.valid_from | day }} to {{ d.valid_until | day }}.
{% if d.grade in ['3A', '4A', '5A'] %}The certificate and plaque can be collected as announced.{% endif %}""",
    "evaluation.rating.downgraded": """[Rating decision] {{ org }} now {{ d.grade | grade }}
The grade of {{ org }} was lowered from {{ d.previous_grade | grade }} to {{ d.grade | grade }} with effect from {{ d.effective_on | day }}.
Reason: {{ d.reason | label('reason') }}
Return the previous certificate and plaque within 15 days.""",
    "evaluation.rating.revoked": """[Rating decision] grade of {{ org }} revoked
The grade of {{ org }} ({{ d.previous_grade | grade }}) is revoked with effect from {{ d.effective_on | day }}.
Reason: {{ d.reason | label('reason') }}""",
    "evaluation.rating.expired": """{{ org }}: grade expired
The grade of {{ org }} ({{ d.grade | grade }}) expired on {{ d.valid_until | day }}. Take part in a new round to keep a grade.""",
    # evaluation.assessment
    "evaluation.assessment.scheduled": """{{ org }}: {{ d.stage | label('stage') }} scheduled
The {{ d.stage | label('stage') }} of the funded project (award {{ d.award_id }}) is due by {{ d.due_on | day }}. Please prepare your materials.""",
    "evaluation.assessment.completed": """{{ org }}: {{ d.stage | label('stage') }} result
The {{ d.stage | label('stage') }} of the funded project (award {{ d.award_id }}) was completed on {{ d.completed_on | day }}: score {{ d.score }} (pass mark {{ d.pass_threshold }}), {% if d.passed %}passed{% else %}not passed{% endif %}.""",
    # grants.call
    "grants.call.published": """Grant call: {{ d.title }}
{{ d.title }} ({{ d.call_type | label('call_type') }}) was published with a budget of {{ d.budget | money }}.
Applications: {{ d.opens_at | when }} to {{ d.closes_at | when }} (late applications are refused).
Funding source: {{ d.funding_source | label('funding_source') }}; fiscal year {{ d.fiscal_year }}""",
    "grants.call.opened": """Call open: {{ d.title }}
{{ d.title }} accepts applications until {{ d.closes_at | when }}.""",
    "grants.call.closed": """Call closed: {{ d.title }}
{{ d.title }} closed for applications at {{ d.closes_at | when }}.""",
    "grants.call.cancelled": """Call cancelled
The call you applied to ({{ d.call_id }}) was cancelled.{% if d.reason %} Reason: {{ d.reason }}{% endif %}""",
    # grants.application
    "grants.application.drafted": """Draft saved: {{ d.project_title }}
The draft application "{{ d.project_title }}" of {{ org }} was saved; submit it before the deadline.""",
    "grants.application.submitted": """Application received: {{ org }}
The application of {{ org }} was submitted at {{ d.submitted_at | when }} (application {{ d.application_id }}), requesting {{ d.requested | money }}.
The eligibility screening follows.""",
    "grants.application.screened": """{{ org }}: {% if d.eligible %}eligible{% else %}not eligible{% endif %}
The application of {{ org }} (application {{ d.application_id }}) {% if d.rescreen %}was screened again after a change in the organization's standing and {% endif %}{% if d.eligible %}is eligible; expert review follows.{% else %}is not eligible.
{{ d.reasons | reasons }}{% endif %}{% if d.warnings %}
Note: {% for w in d.warnings %}{{ w.detail or w }}{% if not loop.last %}; {% endif %}{% endfor %}{% endif %}""",
    "grants.application.withdrawn": """{{ org }}: application withdrawn
The application of {{ org }} (application {{ d.application_id }}) was withdrawn at {{ d.withdrawn_at | when }}.""",
    "grants.application.reviewed": """{{ org }}: review complete
The expert review of the application of {{ org }} (application {{ d.application_id }}) is complete: score {{ d.score }} ({{ d.reviews }} reviewers).""",
    "grants.application.ranked": """{{ org }}: ranked {{ d.rank }}
The application of {{ org }} (application {{ d.application_id }}) scored {{ d.score }} and ranks {{ d.rank }}.""",
    # grants.award
    "grants.award.decided": """[Award decision] {{ org }} awarded {{ d.amount | money }}
On {{ d.decided_on | day }} the project of {{ org }} (application {{ d.application_id }}) was awarded {{ d.amount | money }} (rank {{ d.rank }}).
The award will be under public notice and is confirmed when no objection is upheld. Funding source: {{ d.funding_source | label('funding_source') }}.""",
    "grants.award.publicly_noticed": """{{ org }}: award under public notice
The award of {{ d.amount | money }} to {{ org }} is under public notice from {{ d.notice_starts_on | day }} until {{ d.notice_ends_at | when }}.""",
    "grants.award.objection_filed": """Objection filed: {{ org }}
An objection (objection {{ d.objection_id }}) was filed against the award to {{ org }} (award {{ d.award_id }}, {{ d.amount | money }}). Please investigate.""",
    "grants.award.objection_rejected": """{{ org }}: objection rejected
The objection against the award to {{ org }} (objection {{ d.objection_id }}) was rejected; the award stands.""",
    "grants.award.objection_upheld": """[Award decision] award to {{ org }} cancelled
The objection against the award to {{ org }} (objection {{ d.objection_id }}) was upheld; the award of {{ d.amount | money }} is cancelled.""",
    "grants.award.confirmed": """[Award decision] award to {{ org }} confirmed: {{ d.amount | money }}
The public notice of the award to {{ org }} (award {{ d.award_id }}) ended without an upheld objection; the award of {{ d.amount | money }} was confirmed on {{ d.confirmed_on | day }}.
Please sign the grant agreement as instructed. Funding source: {{ d.funding_source | label('funding_source') }}; authorisation {{ d.authorisation_number }}.""",
    "grants.award.agreement_signed": """{{ org }}: agreement signed
The grant agreement of {{ org }} was signed on {{ d.signed_on | day }}: {{ d.amount | money }} in {{ d.tranches | length }} tranches.
{% for t in d.tranches %}Tranche {{ t.tranche_no }}: {{ t.amount | money }} ({{ t.trigger | label('trigger') }})
{% endfor %}{% if d.assessment %}Midterm assessment due {{ d.assessment.midterm_due | day }}; final assessment due {{ d.assessment.final_due | day }}{% endif %}""",
    "grants.award.suspended": """{{ org }}: award suspended
The award to {{ org }} (award {{ d.award_id }}) is suspended. Reason: {{ d.reason }}""",
    "grants.award.resumed": """{{ org }}: award resumed
The award to {{ org }} (award {{ d.award_id }}) is resumed.{% if d.reason %} Note: {{ d.reason }}{% endif %}""",
    "grants.award.terminated": """[Award decision] award to {{ org }} terminated
The award to {{ org }} (award {{ d.award_id }}) was terminated. Reason: {{ d.reason }}
The unpaid {{ d.cancelled_unpaid | money }} will not be paid.{% if d.clawback %} {{ d.clawback | money }} must be returned.{% endif %}""",
    "grants.award.completed": """{{ org }}: project completed
The funded project of {{ org }} (award {{ d.award_id }}) was completed on {{ d.completed_on | day }}.""",
    # grants.disbursement
    "grants.disbursement.scheduled": """{{ org }}: tranche {{ d.tranche_no }} scheduled
Tranche {{ d.tranche_no }}/{{ d.tranche_count }} of {{ d.amount | money }} is scheduled{% if d.due_on %} for payment by {{ d.due_on | day }}{% endif %}.""",
    "grants.disbursement.released": """{{ org }}: tranche {{ d.tranche_no }} released for payment
Tranche {{ d.tranche_no }}/{{ d.tranche_count }} of {{ d.amount | money }} was released for payment (attempt {{ d.attempt }}).""",
    "grants.disbursement.paid": """{{ org }}: tranche {{ d.tranche_no }} paid
Tranche {{ d.tranche_no }}/{{ d.tranche_count }} of {{ d.amount | money }} was paid at {{ d.paid_at | when }} (finance reference {{ d.finance_reference }}).""",
    "grants.disbursement.payment_failed": """[Payment failure] tranche {{ d.tranche_no }} to {{ org }} failed
Payment attempt {{ d.attempt }} of tranche {{ d.tranche_no }}/{{ d.tranche_count }} ({{ d.amount | money }}) failed.
Reason: {{ d.reason }}
Please check the payee account; finance will retry the payment.""",
    "grants.disbursement.payment_reversed": """{{ org }}: tranche {{ d.tranche_no }} returned
Tranche {{ d.tranche_no }}/{{ d.tranche_count }} of {{ d.amount | money }} was returned by the bank at {{ d.reversed_at | when }} (finance reference {{ d.finance_reference }}).""",
    "grants.disbursement.suspended": """{{ org }}: tranche {{ d.tranche_no }} suspended
Tranche {{ d.tranche_no }}/{{ d.tranche_count }} of {{ d.amount | money }} is suspended. Reason: {{ d.reason }}""",
    "grants.disbursement.resumed": """{{ org }}: tranche {{ d.tranche_no }} resumed
Tranche {{ d.tranche_no }}/{{ d.tranche_count }} of {{ d.amount | money }} is resumed.""",
    "grants.disbursement.cancelled": """{{ org }}: tranche {{ d.tranche_no }} cancelled
Tranche {{ d.tranche_no }}/{{ d.tranche_count }} of {{ d.amount | money }} was cancelled. Reason: {{ d.reason }}""",
    "grants.disbursement.clawback_recorded": """{{ org }}: clawback recorded
{{ d.clawback | money }} returned by {{ org }} was received on {{ d.received_on | day }}.""",
    # notifications.delivery
    "notifications.delivery.delivered": """Notification delivered
A notification ({{ d.cause_event_type }}) was delivered by {{ d.channel | label('channel') }}.""",
    "notifications.delivery.failed": """Delivery attempt failed; retrying
A notification ({{ d.cause_event_type }}) could not be delivered by {{ d.channel | label('channel') }} (attempt {{ d.attempts }}); it will be retried.""",
    "notifications.delivery.dead_lettered": """Notification failed for good
A notification ({{ d.cause_event_type }}, {{ d.channel | label('channel') }}, recipient kind {{ d.recipient_kind | label('recipient_kind') }}) was not delivered after {{ d.attempts }} attempts; retries stopped.
Delivery {{ d.delivery_id }}
Check it and retry it from the delivery log.""",
    # reminders and digests
    "reminder.call_closing": """Call closing soon: {{ call_title }}
{{ org }} has an unsubmitted draft in "{{ call_title }}". The call closes at {{ closes_at | when }}; late applications are refused.""",
    "reminder.notice_ending": """Public notice ending: {{ org }}
The public notice of the {% if notice_kind == 'rating' %}rating result{% else %}award{% endif %} of {{ org }} ends at {{ ends_at | when }}.{% if notice_kind == 'rating' %} An appeal must be filed in writing before then.{% endif %}""",
    "reminder.annual_report_due": """Annual report due: {{ org }}
The {{ report_year }} annual report of {{ org }} is due at the {% if dual_managed %}supervising unit{% else %}registry{% endif %} by {{ deadline | day }}. No report is recorded yet; an unfiled report leads to the irregular-activities list.""",
    "reminder.assessment_due": """Assessment materials due: {{ org }}
The {{ stage | label('stage') }} materials of the funded project (award {{ award_id }}) are due by {{ due_on | day }}.""",
    "digest.daily": """Daily digest ({{ today | day }}, {{ total }} notifications)
Notifications since your last digest:
{% for item in items %}- {{ item.created_at | when }} {{ item.title }}
{% endfor %}{% if total > items | length %}... and {{ total - items | length }} more in the system.
{% endif %}""",
}
