"""Python that transforms data inside the warehouse build: identity stitching, matching, enrichment.

Nothing here imports Airflow; dbt Python models and tests call these functions directly.
"""
