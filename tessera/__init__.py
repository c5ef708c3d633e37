"""Tessera: an open-source batch customer data platform built on Airflow, dbt and Great Expectations."""

__version__ = "0.1.0"
