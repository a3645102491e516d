"""Command handlers (called by api) and event and job handlers (called by the worker).

- `fanout`: the consumer's handler for every event (facts, then notify); `facts` keeps what
  routing and reminders need; `notify` writes inbox items and deliveries; `people` reads the
  directory;
- `dispatch` (+ `senders`): claims due deliveries, sends them, records the outcome;
- `reminders`: scheduled reminders and the daily digest;
- `directory`, `inbox`, `subscriptions`, `deliveries`: what the HTTP routes call.
"""
