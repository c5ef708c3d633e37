"""Activation: segments (dbt models) synced to destinations, sending only what changed, honouring consent.

`activations` reads what the dbt manifest declares; `audience` works out who should be in a destination
now; `state` remembers what each destination confirmed; `plan` diffs the two; `engine` sends the plan
and advances the state only on confirmation; `sync_log` records each run.
"""
