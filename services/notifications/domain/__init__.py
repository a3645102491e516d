"""Pure rules of the notifications service: no I/O, time passed in, randomness passed in.

- `catalogue`: who hears what (DOMAIN.md §4) and which notices are legal (cannot be muted);
- `preferences`: channels, mutes and digests per person; directory field rules and masking;
- `rendering` (+ `messages_zh`, `messages_en`): templates per type, sandboxed Jinja2;
- `retries`: the webhook and email retry schedule, Retry-After, 410;
- `webhooks`: Standard Webhooks secrets and signatures;
- `addresses`: SSRF rules for webhook destinations;
- `reminders`: when reminders fire, in Asia/Shanghai working days.
"""
