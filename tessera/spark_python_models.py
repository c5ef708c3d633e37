"""dbt Python models on the `spark` target, run in the session dbt-spark's session method already uses.

dbt-spark submits Python models only to Databricks (`all_purpose_cluster`, `job_cluster`). With
`method: session` the Spark session lives in dbt's own process, so a model's compiled code (the model, dbt's
`dbtObj` over `spark.table`, and the write `py_write_table` appends) can simply run there, on that session:
`dbt.ref()` gives Spark DataFrames and the result is saved with `saveAsTable`, as on Databricks. This module adds
that submission method, `session`, and makes it the default when the profile's method is `session`; other
methods (a Thrift Server, Databricks) keep dbt-spark's own.

The models themselves are the project's: they read their inputs as Arrow or pandas and run the same Python as
on DuckDB (transforms/predict, transforms/identity/matching). Installed by `run_dbt(..., target="spark")`.
"""

from __future__ import annotations

from typing import Any

#: The submission method this module adds (a model may also name it: `dbt.config(submission_method="session")`).
SESSION = "session"


class SessionPythonJobHelper:
    """Runs a compiled Python model on the process's active Spark session (dbt-spark's `PythonJobHelper` shape)."""

    def __init__(self, parsed_model: dict, credentials: Any) -> None:
        self.name = f"{parsed_model['schema']}.{parsed_model['alias']}"

    def submit(self, compiled_code: str) -> None:
        from pyspark.sql import SparkSession

        # The process's session, as dbt-spark's session method finds it (the active session is per thread,
        # and dbt runs models on threads of its own).
        spark = SparkSession.builder.getOrCreate()
        code = compile(compiled_code, f"<dbt Python model {self.name}>", "exec")
        exec(code, {"spark": spark, "__name__": f"dbt_python_model_{self.name}"})  # noqa: S102 - dbt's compiled model


def install() -> None:
    """Teach dbt-spark's adapter the `session` submission method (idempotent)."""
    from dbt.adapters.spark.impl import SparkAdapter

    if getattr(SparkAdapter, "_tessera_session_models", False):
        return
    helpers = SparkAdapter.python_submission_helpers.fget
    default = SparkAdapter.default_python_submission_method.fget

    def python_submission_helpers(self):
        return {**helpers(self), SESSION: SessionPythonJobHelper}

    def default_python_submission_method(self):
        if str(self.config.credentials.method) == "session":
            return SESSION
        return default(self)

    SparkAdapter.python_submission_helpers = property(python_submission_helpers)
    SparkAdapter.default_python_submission_method = property(default_python_submission_method)
    SparkAdapter._tessera_session_models = True
