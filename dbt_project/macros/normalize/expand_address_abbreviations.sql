{#-
    Words of an already folded street line (lower-case, single spaces) with abbreviations
    written out, from the `address_abbreviations` seed: a `word` rule replaces a whole word
    (`st` → `street`), a `suffix` rule the end of a longer word (`hauptstr` → `hauptstrasse`).
    Word rules win over suffix rules. DuckDB looks words up in a map inside a lambda; other
    engines (PostgreSQL) unnest the words and look each one up.
-#}
{% macro expand_address_abbreviations(words) -%}
    {{ return(adapter.dispatch('expand_address_abbreviations', 'tessera')(words)) }}
{%- endmacro %}

{% macro duckdb__expand_address_abbreviations(words) -%}
    (
        select array_to_string(
            list_transform(
                string_split(line.words, ' '),
                lambda word: coalesce(
                    rules.whole_words[word],
                    list_reduce(
                        rules.suffixes,
                        lambda expanded, rule: case
                            when expanded.text is null
                                and length(word) > length(rule.text)
                                and ends_with(word, rule.text)
                                then {'text': left(word, length(word) - length(rule.text)) || rule.expansion, 'expansion': ''}
                            else expanded
                        end,
                        {'text': null::varchar, 'expansion': null::varchar}
                    ).text,
                    word
                )
            ),
            ' '
        )
        from (
            select
                map(
                    coalesce(list(abbreviation) filter (where match_on = 'word'), []),
                    coalesce(list(expansion) filter (where match_on = 'word'), [])
                ) as whole_words,
                coalesce(
                    list({'text': abbreviation, 'expansion': expansion}) filter (where match_on = 'suffix'), []
                ) as suffixes
            from {{ ref('address_abbreviations') }}
        ) as rules
        cross join (select {{ words }} as words) as line
    )
{%- endmacro %}

{% macro default__expand_address_abbreviations(words) -%}
    (
        select string_agg(
            coalesce(
                (
                    select max(rule.expansion) from {{ ref('address_abbreviations') }} as rule
                    where rule.match_on = 'word' and rule.abbreviation = word.token
                ),
                (
                    select max(left(word.token, length(word.token) - length(rule.abbreviation)) || rule.expansion)
                    from {{ ref('address_abbreviations') }} as rule
                    where rule.match_on = 'suffix'
                        and length(word.token) > length(rule.abbreviation)
                        and right(word.token, length(rule.abbreviation)) = rule.abbreviation
                ),
                word.token
            ),
            ' ' order by word.ordinal
        )
        from unnest(string_to_array({{ words }}, ' ')) with ordinality as word (token, ordinal)
    )
{%- endmacro %}

{% macro postgres__expand_address_abbreviations(words) -%}
    {{ tessera.default__expand_address_abbreviations(words) }}
{%- endmacro %}

{#-
    Spark cannot nest the correlated lookups of the default version, so each word meets every rule in one
    join and keeps the expansion the default would pick (a word rule, else the largest suffix expansion).
-#}
{% macro spark__expand_address_abbreviations(words) -%}
    (
        select string_agg(expanded.token, ' ') within group (order by expanded.ordinal)
        from (
            select
                word.ordinal,
                coalesce(
                    max(case when rule.match_on = 'word' and rule.abbreviation = word.token then rule.expansion end),
                    max(
                        case
                            when rule.match_on = 'suffix'
                                and length(word.token) > length(rule.abbreviation)
                                and right(word.token, length(rule.abbreviation)) = rule.abbreviation
                                then left(word.token, length(word.token) - length(rule.abbreviation)) || rule.expansion
                        end
                    ),
                    max(word.token)
                ) as token
            from (select posexplode(split({{ words }}, ' ')) as (ordinal, token)) as word
            cross join {{ ref('address_abbreviations') }} as rule
            group by word.ordinal
        ) as expanded
    )
{%- endmacro %}
