"""Record-to-record edges from probabilistic matching (transforms/identity/matching/, Splink on DuckDB).

Scores the profile records of every source (`int_profile_records`: CRM contacts, ESP subscribers,
loyalty members) against each other with the saved, trained model (`matcher/person_model.json`;
`tessera train-matcher` writes it) and keeps the pairs at or above `match_probability_threshold`. The
model's u values (how often strangers agree) are fitted to the records at hand on the first build and
whenever the data drifts, and kept with their history in `$TESSERA_HOME/matcher/`
(transforms/identity/matching/fitting.py; the var `fit_matcher: false` scores with the shipped model as is).
Each blocking rule is held to `max_comparisons_per_record` pairs per record (transforms/identity/matching/
blocking_budget.py): skewed data (a dozen towns, common surnames) tightens or skips a rule, with a warning,
and every rule's count goes into the run's log. Each pair is one edge from the record with the smaller key to the other
(`identifier_type = 'record'`); merge protection treats it as the weakest kind of edge. The
probability is kept to 4 decimals: scoring re-scales the prior to the day's number of records, and
an edge whose probability moved in the ninth decimal would be rewritten every day for nothing.

DuckDB only: Splink runs on the session's own database (its working tables go to a private
in-memory catalog). The model is disabled on other targets, and int_identity_edges leaves it out.
"""


def model(dbt, session):
    dbt.config(materialized="table")
    import json
    from pathlib import Path

    from dbt_common.events.functions import fire_event
    from dbt_common.events.types import Note

    from transforms.identity.matching import (
        BLOCKING_PLAN,
        BlockingPlan,
        FittedModels,
        MatcherModel,
        matching_records_sql,
        score,
    )

    # Plain calls on their own lines: dbt finds the settings a Python model reads by parsing it.
    model_setting = dbt.config.meta_get("matcher_model")
    threshold_setting = dbt.config.meta_get("match_probability_threshold")
    fitted_setting = dbt.config.meta_get("fitted_matcher_dir")
    budget_setting = dbt.config.meta_get("max_comparisons_per_record")
    matcher = MatcherModel.load(Path(model_setting))
    threshold = float(threshold_setting)

    # dbt reads refs as literals; the relation's SQL names the table, for use as a subquery.
    profiles = dbt.ref("int_profile_records")
    profile_records = f"({profiles.sql_query()})"
    nicknames = [(row[0], row[1]) for row in dbt.ref("nicknames").project("name, nickname").fetchall()]
    records = matching_records_sql(profile_records)
    fits = FittedModels(Path(fitted_setting)) if fitted_setting else None
    budget = float(budget_setting)
    pairs = score(
        f"({records})",
        matcher,
        threshold,
        nicknames=nicknames,
        con=session,
        fits=fits,
        max_comparisons_per_record=budget,
    )
    plan = (pairs.schema.metadata or {}).get(BLOCKING_PLAN.encode())
    if plan:  # each rule's comparison count goes into the run's log
        fire_event(Note(msg=BlockingPlan.from_dict(json.loads(plan)).describe()))

    session.register("matched_pairs", pairs)
    edges = session.sql(
        f"""
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
                p.match_detail
            from matched_pairs as p
            inner join profile_records as a on a.record_key = p.record_key_a
            inner join profile_records as b on b.record_key = p.record_key_b
        )

        select * from final
        """
    ).to_arrow_table()
    session.unregister("matched_pairs")
    return edges
