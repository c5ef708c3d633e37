"""Enrichment of source values that SQL cannot do well: phone numbers, user agents, IP countries."""
