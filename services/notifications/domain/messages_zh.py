"""Simplified Chinese templates, one per notification type: the first line is the subject.

Context: `d` (the event's `data`), `org` (the organization's name), `event` (`id`, `type`,
`subject`, `time`) and, for reminders and digests, the values their job passes. Filters: `money`,
`day`, `when`, `grade`, `label(kind)`, `reasons`. Missing fields render empty (tolerant reader).
"""

# ruff: noqa: E501  (message text: one line of a template is one line of the message)
from __future__ import annotations

ZH: dict[str, str] = {
    # registry.organization
    "registry.organization.registered": """{{ org }}：登记成立
{{ org }}已于{{ d.registered_on | day }}完成登记（登记管理机关行政区划代码 {{ d.registration_authority }}）。
统一社会信用代码：{{ d.organization.id }}
{% if d.supervising_unit %}业务主管单位：{{ d.supervising_unit }}{% else %}直接登记（{{ d.category | label('category') }}）{% endif %}""",
    "registry.organization.filed": """{{ org }}：备案完成
{{ org }}已于{{ d.filed_on | day }}完成社区社会组织备案，备案编号 {{ d.filing_number }}，备案机关 {{ d.filing_authority }}。""",
    "registry.organization.upgraded": """{{ org }}：已由备案转为登记
{{ org }}已于{{ d.registered_on | day }}完成登记，统一社会信用代码 {{ d.uscc }}（原备案编号 {{ d.previous_filing_number }}）。""",
    "registry.organization.updated": """{{ org }}：登记信息已变更
{{ org }}的登记信息已变更，变更事项：{{ d.changed | join('、') }}。""",
    "registry.organization.annual_report_recorded": """{{ org }}：{{ d.year }}年度检查结果
{{ org }}{{ d.year }}年度检查（年报）结果：{{ d.result | label('result') }}{% if d.report_status %}，报送情况：{{ d.report_status | label('report_status') }}{% endif %}。
记录日期：{{ d.effective_on | day }}""",
    "registry.organization.penalty_recorded": """{{ org }}：行政处罚记录
登记管理机关已记录对{{ org }}的行政处罚：{{ d.penalty_type | label('penalty') }}{% if d.fine %}，罚款 {{ d.fine | money }}{% endif %}。
决定日期：{{ d.decided_on | day }}{% if d.executed_on %}；执行日期：{{ d.executed_on | day }}{% endif %}""",
    "registry.organization.investigation_opened": """{{ org }}：立案调查通知
登记管理机关已于{{ d.opened_on | day }}对{{ org }}立案调查（编号 {{ d.investigation_id }}）。请配合调查并如实提供材料。""",
    "registry.organization.investigation_closed": """{{ org }}：调查已结束
对{{ org }}的调查（编号 {{ d.investigation_id }}）已于{{ d.closed_on | day }}结束。""",
    "registry.organization.listed": """【信用名单告知】{{ org }}被列入{{ d.list | label('list') }}
{{ org }}已于{{ d.listed_on | day }}被列入{{ d.list | label('list') }}。
列入事由：{{ d.reason }}
依据：《社会组织信用信息管理办法》（民政部令第60号）。
如对列入决定有异议，可向登记管理机关提出书面异议；整改完成后可申请移出。""",
    "registry.organization.delisted": """【信用名单告知】{{ org }}已移出{{ d.list | label('list') }}
{{ org }}已于{{ d.removed_on | day }}移出{{ d.list | label('list') }}。
移出原因：{{ d.removal_reason | label('removal_reason') }}
依据：《社会组织信用信息管理办法》（民政部令第60号）。""",
    "registry.organization.deregistered": """{{ org }}：注销登记
{{ org }}已于{{ d.deregistered_on | day }}注销登记。{% if d.reason %}原因：{{ d.reason }}{% endif %}""",
    "registry.organization.revoked": """{{ org }}：撤销登记
{{ org }}的登记已于{{ d.revoked_on | day }}被撤销。{% if d.reason %}原因：{{ d.reason }}{% endif %}""",
    # evaluation.round
    "evaluation.round.opened": """{{ d.year }}年度社会组织等级评估开始申报
{{ d.year }}年度社会组织等级评估已开始受理申报，申报截止日期为{{ d.applications_close_on | day }}。
参评组织类型：{% for k in d.kinds %}{{ k | label('kind') }}{% if not loop.last %}、{% endif %}{% endfor %}
符合条件的组织请在截止日期前在线提交申报。""",
    "evaluation.round.closed": """评估评分提醒：请尽快提交评分
评估批次（{{ d.round_id }}）已于{{ d.closed_on | day }}截止申报，您仍有 {{ pending | default(1) }} 项评估任务尚未提交评分，请尽快完成。""",
    # evaluation.rating
    "evaluation.rating.applied": """{{ org }}：等级评估申报{% if d.eligible %}已受理{% else %}未通过资格审核{% endif %}
{{ org }}于{{ d.applied_on | day }}提交的等级评估申报{% if d.eligible %}已受理，后续将安排第三方评估机构实地评估。{% else %}未通过资格审核。
{{ d.reasons | reasons }}{% endif %}""",
    "evaluation.rating.assigned": """评估任务：{{ org }}
您已被分配为{{ org }}等级评估的评估专家（评估编号 {{ d.evaluation_id }}）。如与该组织存在利益关系，请及时申报回避。""",
    "evaluation.rating.conflict_declared": """利益冲突申报：{{ org }}
{% if d.declared_by == 'organization' %}{{ org }}申请评估专家回避{% else %}评估专家申报与{{ org }}存在利益冲突{% endif %}（冲突编号 {{ d.conflict_id }}，评估编号 {{ d.evaluation_id }}），请及时作出回避决定。""",
    "evaluation.rating.recusal_decided": """回避决定：{{ org }}
关于{{ org }}等级评估（评估编号 {{ d.evaluation_id }}）的回避申请，决定：{{ d.decision | label('recusal') }}。""",
    "evaluation.rating.scored": """评分已提交：{{ org }}
{{ org }}等级评估（评估编号 {{ d.evaluation_id }}）已收到一份评分，总分 {{ d.total }}。""",
    "evaluation.rating.proposed": """初评结果：{{ org }}
{{ org }}等级评估初评总分 {{ d.total }}，建议等级：{{ d.proposed_grade | grade }}。""",
    "evaluation.rating.publicly_noticed": """{{ org }}：评估结果公示
{{ org }}的等级评估结果（拟定等级：{{ d.proposed_grade | grade }}）自{{ d.notice_starts_on | day }}起公示，公示期至{{ d.notice_ends_at | when }}止。
如有异议，可在公示期内提出书面复核申请。""",
    "evaluation.rating.appealed": """评估复核申请：{{ org }}
{{ org }}于{{ d.filed_on | day }}对等级评估结果提出复核申请（复核编号 {{ d.appeal_id }}），请在规定期限内作出复核决定。""",
    "evaluation.rating.appeal_decided": """【评估结论告知】{{ org }}：复核决定
对{{ org }}等级评估复核申请（复核编号 {{ d.appeal_id }}）的决定：{{ d.decision | label('appeal') }}。复核后等级：{{ d.grade | grade }}。
决定日期：{{ d.decided_on | day }}""",
    "evaluation.rating.published": """【评估结论告知】{{ org }}被评为{{ d.grade | grade }}
{{ org }}经评估委员会{{ d.decided_on | day }}审定，评估等级为{{ d.grade | grade }}，于{{ d.announced_on | day }}公告。
有效期：{{ d.valid_from | day }}至{{ d.valid_until | day }}。
{% if d.grade in ['3A', '4A', '5A'] %}请按通知领取证书和牌匾。{% endif %}""",
    "evaluation.rating.downgraded": """【评估结论告知】{{ org }}评估等级调整为{{ d.grade | grade }}
{{ org }}的评估等级由{{ d.previous_grade | grade }}调整为{{ d.grade | grade }}，自{{ d.effective_on | day }}起生效。
原因：{{ d.reason | label('reason') }}
请于15日内交回原等级证书和牌匾。""",
    "evaluation.rating.revoked": """【评估结论告知】{{ org }}的评估等级被撤销
{{ org }}的评估等级（{{ d.previous_grade | grade }}）自{{ d.effective_on | day }}起撤销。
原因：{{ d.reason | label('reason') }}""",
    "evaluation.rating.expired": """{{ org }}：评估等级已到期
{{ org }}的评估等级（{{ d.grade | grade }}）有效期已于{{ d.valid_until | day }}届满。如需保持等级，请参加新一轮评估。""",
    # evaluation.assessment
    "evaluation.assessment.scheduled": """{{ org }}：项目{{ d.stage | label('stage') }}安排
资助项目（资助编号 {{ d.award_id }}）的{{ d.stage | label('stage') }}已安排，请于{{ d.due_on | day }}前准备并提交评估材料。""",
    "evaluation.assessment.completed": """{{ org }}：项目{{ d.stage | label('stage') }}结果
资助项目（资助编号 {{ d.award_id }}）的{{ d.stage | label('stage') }}已于{{ d.completed_on | day }}完成，得分 {{ d.score }}（合格线 {{ d.pass_threshold }}），结果：{% if d.passed %}通过{% else %}未通过{% endif %}。""",
    # grants.call
    "grants.call.published": """项目申报通知：{{ d.title }}
{{ d.title }}（{{ d.call_type | label('call_type') }}）已发布，资金总额 {{ d.budget | money }}。
申报时间：{{ d.opens_at | when }} 至 {{ d.closes_at | when }}（逾期不予受理）。
资金来源：{{ d.funding_source | label('funding_source') }}；预算年度：{{ d.fiscal_year }}""",
    "grants.call.opened": """项目开始申报：{{ d.title }}
{{ d.title }}已开始受理申报，截止时间 {{ d.closes_at | when }}。""",
    "grants.call.closed": """项目申报已截止：{{ d.title }}
{{ d.title }}已于{{ d.closes_at | when }}截止申报。""",
    "grants.call.cancelled": """项目申报已取消
您所申报的项目批次（{{ d.call_id }}）已取消。{% if d.reason %}原因：{{ d.reason }}{% endif %}""",
    # grants.application
    "grants.application.drafted": """申报草稿已保存：{{ d.project_title }}
{{ org }}的申报草稿“{{ d.project_title }}”已保存，请在截止前提交。""",
    "grants.application.submitted": """申报回执：{{ org }}
{{ org }}的项目申报已于{{ d.submitted_at | when }}成功提交（申报编号 {{ d.application_id }}），申请资助金额 {{ d.requested | money }}。
请留意资格审查结果。""",
    "grants.application.screened": """{{ org }}：资格审查{% if d.eligible %}通过{% else %}未通过{% endif %}
{{ org }}的项目申报（申报编号 {{ d.application_id }}）{% if d.rescreen %}因组织状况变化重新审查，{% endif %}资格审查{% if d.eligible %}通过，将进入专家评审。{% else %}未通过。
{{ d.reasons | reasons }}{% endif %}{% if d.warnings %}
提示：{% for w in d.warnings %}{{ w.detail or w }}{% if not loop.last %}；{% endif %}{% endfor %}{% endif %}""",
    "grants.application.withdrawn": """{{ org }}：申报已撤回
{{ org }}的项目申报（申报编号 {{ d.application_id }}）已于{{ d.withdrawn_at | when }}撤回。""",
    "grants.application.reviewed": """{{ org }}：专家评审完成
{{ org }}的项目申报（申报编号 {{ d.application_id }}）专家评审已完成，评审得分 {{ d.score }}（{{ d.reviews }} 位专家）。""",
    "grants.application.ranked": """{{ org }}：评审排名第{{ d.rank }}位
{{ org }}的项目申报（申报编号 {{ d.application_id }}）评审得分 {{ d.score }}，排名第 {{ d.rank }} 位。""",
    # grants.award
    "grants.award.decided": """【资助决定告知】{{ org }}获得资助 {{ d.amount | money }}
经{{ d.decided_on | day }}审定，{{ org }}的项目（申报编号 {{ d.application_id }}）获得资助 {{ d.amount | money }}（排名第 {{ d.rank }} 位）。
资助决定将进行公示，公示期满无异议后确认。资金来源：{{ d.funding_source | label('funding_source') }}。""",
    "grants.award.publicly_noticed": """{{ org }}：资助结果公示
{{ org }}获得资助 {{ d.amount | money }} 的结果自{{ d.notice_starts_on | day }}起公示，公示期至{{ d.notice_ends_at | when }}止。""",
    "grants.award.objection_filed": """公示异议：{{ org }}
有人对{{ org }}的资助结果（资助编号 {{ d.award_id }}，金额 {{ d.amount | money }}）提出异议（异议编号 {{ d.objection_id }}），请及时核查处理。""",
    "grants.award.objection_rejected": """{{ org }}：公示异议不成立
针对{{ org }}资助结果的异议（异议编号 {{ d.objection_id }}）经核查不成立，资助结果维持不变。""",
    "grants.award.objection_upheld": """【资助决定告知】{{ org }}的资助已取消
针对{{ org }}资助结果的异议（异议编号 {{ d.objection_id }}）经核查成立，资助（{{ d.amount | money }}）予以取消。""",
    "grants.award.confirmed": """【资助决定告知】{{ org }}的资助已确认：{{ d.amount | money }}
{{ org }}的资助（资助编号 {{ d.award_id }}）公示期满无异议，已于{{ d.confirmed_on | day }}确认，资助金额 {{ d.amount | money }}。
请按通知签订资助协议。资金来源：{{ d.funding_source | label('funding_source') }}；指标文号：{{ d.authorisation_number }}。""",
    "grants.award.agreement_signed": """{{ org }}：资助协议已签订
{{ org }}的资助协议已于{{ d.signed_on | day }}签订，资助金额 {{ d.amount | money }}，分 {{ d.tranches | length }} 期拨付。
{% for t in d.tranches %}第{{ t.tranche_no }}期：{{ t.amount | money }}（{{ t.trigger | label('trigger') }}）
{% endfor %}{% if d.assessment %}中期评估截止：{{ d.assessment.midterm_due | day }}；结项评估截止：{{ d.assessment.final_due | day }}{% endif %}""",
    "grants.award.suspended": """{{ org }}：资助已暂停
{{ org }}的资助（资助编号 {{ d.award_id }}）已暂停。原因：{{ d.reason }}""",
    "grants.award.resumed": """{{ org }}：资助已恢复
{{ org }}的资助（资助编号 {{ d.award_id }}）已恢复。{% if d.reason %}说明：{{ d.reason }}{% endif %}""",
    "grants.award.terminated": """【资助决定告知】{{ org }}的资助已终止
{{ org }}的资助（资助编号 {{ d.award_id }}）已终止。原因：{{ d.reason }}
未拨付资金 {{ d.cancelled_unpaid | money }} 不再拨付。{% if d.clawback %}需退回资金 {{ d.clawback | money }}。{% endif %}""",
    "grants.award.completed": """{{ org }}：项目已结项
{{ org }}的资助项目（资助编号 {{ d.award_id }}）已于{{ d.completed_on | day }}结项。""",
    # grants.disbursement
    "grants.disbursement.scheduled": """{{ org }}：第{{ d.tranche_no }}期资金拨付计划
第 {{ d.tranche_no }}/{{ d.tranche_count }} 期资金 {{ d.amount | money }} 已列入拨付计划{% if d.due_on %}，预计{{ d.due_on | day }}前拨付{% endif %}。""",
    "grants.disbursement.released": """{{ org }}：第{{ d.tranche_no }}期资金已发出支付指令
第 {{ d.tranche_no }}/{{ d.tranche_count }} 期资金 {{ d.amount | money }} 已发出支付指令（第 {{ d.attempt }} 次），请留意到账。""",
    "grants.disbursement.paid": """{{ org }}：第{{ d.tranche_no }}期资金已支付
第 {{ d.tranche_no }}/{{ d.tranche_count }} 期资金 {{ d.amount | money }} 已于{{ d.paid_at | when }}支付（财政流水号 {{ d.finance_reference }}）。""",
    "grants.disbursement.payment_failed": """【支付失败告知】{{ org }}第{{ d.tranche_no }}期资金支付失败
第 {{ d.tranche_no }}/{{ d.tranche_count }} 期资金 {{ d.amount | money }} 第 {{ d.attempt }} 次支付失败。
原因：{{ d.reason }}
请核对收款账户信息，财政部门将重新发起支付。""",
    "grants.disbursement.payment_reversed": """{{ org }}：第{{ d.tranche_no }}期资金被退回
第 {{ d.tranche_no }}/{{ d.tranche_count }} 期资金 {{ d.amount | money }} 已于{{ d.reversed_at | when }}被银行退回（财政流水号 {{ d.finance_reference }}）。""",
    "grants.disbursement.suspended": """{{ org }}：第{{ d.tranche_no }}期拨付暂停
第 {{ d.tranche_no }}/{{ d.tranche_count }} 期资金 {{ d.amount | money }} 暂停拨付。原因：{{ d.reason }}""",
    "grants.disbursement.resumed": """{{ org }}：第{{ d.tranche_no }}期拨付恢复
第 {{ d.tranche_no }}/{{ d.tranche_count }} 期资金 {{ d.amount | money }} 恢复拨付。""",
    "grants.disbursement.cancelled": """{{ org }}：第{{ d.tranche_no }}期拨付取消
第 {{ d.tranche_no }}/{{ d.tranche_count }} 期资金 {{ d.amount | money }} 已取消拨付。原因：{{ d.reason }}""",
    "grants.disbursement.clawback_recorded": """{{ org }}：资金收回已登记
已于{{ d.received_on | day }}收到{{ org }}退回的资金 {{ d.clawback | money }}。""",
    # notifications.delivery
    "notifications.delivery.delivered": """通知已送达
通知（{{ d.cause_event_type }}）已通过{{ d.channel | label('channel') }}送达。""",
    "notifications.delivery.failed": """通知发送失败，将自动重试
通知（{{ d.cause_event_type }}）通过{{ d.channel | label('channel') }}发送失败（第 {{ d.attempts }} 次），系统将自动重试。""",
    "notifications.delivery.dead_lettered": """通知最终发送失败，需要处理
一条通知（{{ d.cause_event_type }}，{{ d.channel | label('channel') }}，接收方类型 {{ d.recipient_kind | label('recipient_kind') }}）经 {{ d.attempts }} 次尝试仍未送达，已停止重试。
送达记录编号：{{ d.delivery_id }}
请核实后在“发送记录”中手动重试。""",
    # reminders and digests
    "reminder.call_closing": """申报即将截止：{{ call_title }}
{{ org }}在“{{ call_title }}”中尚有未提交的申报草稿。申报将于{{ closes_at | when }}截止，逾期系统不再受理，请尽快提交。""",
    "reminder.notice_ending": """公示即将结束：{{ org }}
{{ org }}的{% if notice_kind == 'rating' %}等级评估结果{% else %}资助结果{% endif %}公示期将于{{ ends_at | when }}结束。{% if notice_kind == 'rating' %}如对评估结果有异议，请在公示期内提出书面复核申请。{% endif %}""",
    "reminder.annual_report_due": """年度报告提醒：{{ org }}
{{ org }}的{{ report_year }}年度工作报告（年检材料）应于{{ deadline | day }}前报送{% if dual_managed %}业务主管单位{% else %}登记管理机关{% endif %}。系统尚未收到记录，请按时报送，逾期未报将被列入活动异常名录。""",
    "reminder.assessment_due": """项目评估材料提醒：{{ org }}
资助项目（资助编号 {{ award_id }}）的{{ stage | label('stage') }}材料应于{{ due_on | day }}前提交，请按时准备。""",
    "digest.daily": """每日通知摘要（{{ today | day }}，共 {{ total }} 条）
以下是自上次摘要以来您收到的通知：
{% for item in items %}· {{ item.created_at | when }} {{ item.title }}
{% endfor %}{% if total > items | length %}……另有 {{ total - items | length }} 条，请登录系统查看。
{% endif %}""",
}
