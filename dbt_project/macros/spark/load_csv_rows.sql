{#-
    dbt-spark's seed rows (its `spark__load_csv_rows`), written as SQL literals here rather than bound: the
    session method binds a value by wrapping it in quotes as it is, so NULL arrives as the text `None` and a
    quote in a value ends the string. Each value is cast to its column's type (`tessera.spark_type`).
-#}
{% macro spark__load_csv_rows(model, agate_table) %}
  {%- set column_override = model['config'].get('column_types', {}) -%}
  {%- set types = [] -%}
  {%- for col_name in agate_table.column_names -%}
      {%- do types.append(
          tessera.spark_type(column_override[col_name]) if col_name in column_override
          else adapter.convert_type(agate_table, loop.index0)
      ) -%}
  {%- endfor -%}
  {%- set statements = [] -%}
  {%- for chunk in agate_table.rows | batch(get_batch_size()) -%}
      {%- set sql -%}
          insert into {{ this.render() }} values
          {% for row in chunk -%}
              ({%- for value in row -%}
                  cast({{ tessera.spark_literal(value) }} as {{ types[loop.index0] }})
                  {%- if not loop.last %}, {% endif -%}
              {%- endfor -%})
              {%- if not loop.last %},{% endif %}
          {% endfor %}
      {%- endset -%}
      {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
      {%- if loop.first -%}
          {%- do statements.append(sql) -%}
      {%- endif -%}
  {%- endfor -%}
  {{ return(statements[0] if statements else '') }}
{% endmacro %}

{#- A seed value as a Spark SQL literal: NULL, true/false, a number, else a string (backslash and quote escaped). -#}
{% macro spark_literal(value) %}
    {%- if value is none -%}
        {{- return('null') -}}
    {%- elif value is sameas true or value is sameas false -%}
        {{- return('true' if value else 'false') -}}
    {%- elif value is number -%}
        {{- return(value | string) -}}
    {%- else -%}
        {{- return("'" ~ (value | string | replace('\\', '\\\\') | replace("'", "\\'")) ~ "'") -}}
    {%- endif -%}
{% endmacro %}
