"""Record-to-record edges from probabilistic matching (transforms/identity/matching/, Splink on DuckDB).

Scores the profile records of every source (`int_profile_records`: CRM contacts, ESP subscribers,
loyalty members) against each other and keeps the pairs at or above `match_probability_threshold`.
It scores with a fit of the shipped model (`matcher/person_model.json`) to the records at hand, made on
the first build and whenever the data drifts, and kept with its history in `$TESSERA_HOME/matcher/`
(transforms/identity/matching/fitting.py; the var `fit_matcher: false` scores with the shipped model as
is). Each blocking rule is held to `max_comparisons_per_record` pairs per record
(transforms/identity/matching/blocking_budget.py): skewed data (a dozen towns, common surnames) tightens
or skips a rule, with a warning, and every rule's count goes into the run's log.

Incremental: a fit is frozen until it is due again, so a pair's score depends on its two records alone.
A daily run scores only the pairs that hold a profile record new or changed since the last run
(`_visible_at` after `scored_through`) and keeps every other pair as it was; pairs of changed or vanished
records that no longer match arrive as rows without a probability, which the post-hook deletes. A new fit
rescores every pair. `tessera transform --full-refresh` scores everything again, with the same fit.

Each pair is one edge from the record with the smaller key to the other (`identifier_type = 'record'`);
merge protection treats it as the weakest kind of edge. The probability is kept to 4 decimals.

On DuckDB Splink runs on the session's own database (its working tables go to a private in-memory
catalog). On Spark the model runs in the session's process (tessera/spark_python_models.py): the records are
prepared, and the fit and blocking plan made, in DuckDB beside it (record-sized work), and Splink compares and
scores the candidate pairs on Spark (`SparkAPI`). There the model is a table scored whole on every run with the
frozen fit (parquet tables have no DELETE), which gives the same pairs. PostgreSQL leaves it out.
"""


def model(dbt, session):
    # Materialization, strategy and key: in _identity__models.yml (incremental, but a table on Spark).
    from pathlib import Path

    from transforms.identity.matching import FittedModels, MatcherModel, matching_records_sql, score

    # Plain calls on their own lines: dbt finds the settings a Python model reads by parsing it.
    model_setting = dbt.config.meta_get("matcher_model")
    threshold_setting = dbt.config.meta_get("match_probability_threshold")
    fitted_setting = dbt.config.meta_get("fitted_matcher_dir")
    budget_setting = dbt.config.meta_get("max_comparisons_per_record")
    matcher = MatcherModel.load(Path(model_setting))
    threshold = float(threshold_setting)
    budget = float(budget_setting)
    fits = FittedModels(Path(fitted_setting)) if fitted_setting else None

    if hasattr(session, "createDataFrame"):  # Spark
        return spark_edges(dbt, session, matcher, threshold, budget, fits)

    # dbt reads refs as literals; the relation's SQL names the table, for use as a subquery.
    profiles = dbt.ref("int_profile_records")
    profile_records = f"({profiles.sql_query()})"
    nicknames = [(row[0], row[1]) for row in dbt.ref("nicknames").project("name, nickname").fetchall()]

    previous_fit, changed = None, None
    if dbt.is_incremental:
        previous = str(dbt.this)
        previous_fit = session.sql(f"select max(fit_key) from {previous}").fetchall()[0][0]
        changed = (
            f"(select record_key from {profile_records} as p"
            f" where p._visible_at > (select max(scored_through) from {previous}))"
        )
    records = matching_records_sql(profile_records)
    pairs = score(
        f"({records})",
        matcher,
        threshold,
        nicknames=nicknames,
        con=session,
        fits=fits,
        max_comparisons_per_record=budget,
        only=changed,
        previous_fit=previous_fit,
    )
    fit_key, scored_changed = report(pairs)
    # Into the warehouse's own memory, which spills, and the Arrow copy freed: the edges stay a relation that
    # dbt stores, so a million pairs' details are never held twice in Python.
    session.register("__matched_pairs_arrow", pairs)
    session.execute("create or replace temp table __matched_pairs as select * from __matched_pairs_arrow")
    session.unregister("__matched_pairs_arrow")
    del pairs
    session.execute(
        f"create or replace temp table __match_edges as {edges_sql(profile_records, '__matched_pairs', fit_key)}"
    )
    session.execute("drop table __matched_pairs")
    edges = session.sql("select * from __match_edges")
    if not dbt.is_incremental:
        return edges

    # Earlier pairs this run answers for (all of them after a full rescore; else those holding a changed or
    # vanished record) and did not find again: rows without a probability, deleted by the post-hook.
    answered = (
        f"p.record_key in {changed} or p.identifier_value in {changed}"
        f" or p.record_key not in (select record_key from {profile_records})"
        f" or p.identifier_value not in (select record_key from {profile_records})"
        if scored_changed
        else "true"
    )
    return session.sql(
        f"""
        select * from __match_edges
        union all
        select
            p.record_key, p.source, p.stream, p.record_id, p.identifier_type, p.identifier_value, p.entity_key,
            p.observed_at, cast(null as double) as match_probability, cast(null as varchar) as match_detail,
            p.fit_key, p.scored_through
        from {previous} as p
        where ({answered})
            and not exists (
                select 1 from __match_edges as n
                where n.record_key = p.record_key and n.identifier_value = p.identifier_value
            )
        """
    )


def report(pairs):
    """Say in dbt's log how the pairs were scored (each blocking rule's count, the fit, seconds per step);
    the fit's key, and whether only the changed records' pairs were scored."""
    import json

    from dbt_common.events.functions import fire_event
    from dbt_common.events.types import Note

    from transforms.identity.matching import BLOCKING_PLAN, FIT_KEY, SCORED, STEP_SECONDS, BlockingPlan, describe_steps

    metadata = pairs.schema.metadata or {}
    if metadata.get(BLOCKING_PLAN.encode()):  # each rule's comparison count goes into the run's log
        fire_event(Note(msg=BlockingPlan.from_dict(json.loads(metadata[BLOCKING_PLAN.encode()])).describe()))
    fit_key = metadata.get(FIT_KEY.encode(), b"").decode()
    scored_changed = metadata.get(SCORED.encode(), b"all").decode() == "changed"
    scope = "the pairs of new and changed profile records" if scored_changed else "every pair"
    steps = json.loads(metadata.get(STEP_SECONDS.encode(), b"{}"))
    fire_event(
        Note(
            msg=f"matching: scored {scope} with fit {fit_key or '(none: the shipped model)'}"
            + (f"; seconds per step: {describe_steps(steps)}" if steps else "")
        )
    )
    return fit_key, scored_changed


def edges_sql(profile_records, pairs, fit_key):
    """The model's rows: one edge per matched pair (`pairs`: record_key_a < record_key_b), from the record with
    the smaller key to the other, with the pair's details and how far the scoring read the profile records."""
    return f"""
        with profile_records as (select * from {profile_records}),

        final as (
            select
                a.record_key,
                a.source,
                a.stream,
                a.record_id,
                'record' as identifier_type,
                p.record_key_b as identifier_value,
                cast(null as varchar) as entity_key,
                greatest(a.updated_at, b.updated_at) as observed_at,
                round(p.match_probability, 4) as match_probability,
                p.match_detail,
                nullif('{fit_key}', '') as fit_key,
                (select max(_visible_at) from profile_records) as scored_through
            from {pairs} as p
            inner join profile_records as a on a.record_key = p.record_key_a
            inner join profile_records as b on b.record_key = p.record_key_b
        )

        select * from final
    """


def spark_edges(dbt, spark, matcher, threshold, budget, fits):
    """The model on Spark: the profile records prepared in DuckDB beside the session, the pairs compared and
    scored on Spark (Splink's SparkAPI), and the edges made as on DuckDB; every pair, every run."""
    import duckdb

    from transforms.identity.matching import matching_records_sql, score

    with duckdb.connect() as con:
        con.register("profile_records", dbt.ref("int_profile_records").toArrow())
        records = con.sql(matching_records_sql("profile_records")).to_arrow_table()
        nicknames = [(row[0], row[1]) for row in dbt.ref("nicknames").select("name", "nickname").collect()]
        pairs = score(
            records,
            matcher,
            threshold,
            nicknames=nicknames,
            fits=fits,
            max_comparisons_per_record=budget,
            spark=spark,
        )
        fit_key, _ = report(pairs)
        con.register("matched_pairs", pairs)
        edges = con.sql(edges_sql("profile_records", "matched_pairs", fit_key)).to_arrow_table()
    return spark.createDataFrame(edges)
