{#-
    Latin letters without their accents (`é` → `e`, `ß` → `ss`, `Æ` → `AE`), so `Müller` and
    `Muller`, typed on different keyboards, compare equal. DuckDB strips combining marks with
    `strip_accents`; PostgreSQL has no built-in equivalent without the `unaccent` extension, so it
    translates a fixed table of Latin-1 and Latin Extended-A letters.
-#}
{% macro strip_accents(column) -%}
    {{ return(adapter.dispatch('strip_accents', 'tessera')(column)) }}
{%- endmacro %}

{%- macro replace_ligatures(column) -%}
    replace(replace(replace(replace(replace(replace(
        translate({{ column }}, 'øØłŁđĐ', 'oOlLdD'),
        'ß', 'ss'), 'ẞ', 'SS'), 'æ', 'ae'), 'Æ', 'AE'), 'œ', 'oe'), 'Œ', 'OE')
{%- endmacro -%}

{% macro default__strip_accents(column) -%}
    translate(
        {{ tessera.replace_ligatures(column) }},
        'ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöùúûüýÿĀāĂăĄąĆćČčĎďĒēĘęĚěĞğĪīİıĹĺĽľŃńŇňŌōŐőŔŕŘřŚśŞşŠšŢţŤťŪūŮůŰűŹźŻżŽž',
        'AAAAAACEEEEIIIINOOOOOUUUUYaaaaaaceeeeiiiinooooouuuuyyAaAaAaCcCcDdEeEeEeGgIiIiLlLlNnNnOoOoRrRrSsSsSsTtTtUuUuUuZzZzZz'
    )
{%- endmacro %}

{% macro duckdb__strip_accents(column) -%}
    strip_accents({{ tessera.replace_ligatures(column) }})
{%- endmacro %}

{% macro postgres__strip_accents(column) -%}
    {{ tessera.default__strip_accents(column) }}
{%- endmacro %}
