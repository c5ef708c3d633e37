"""The one expectation GX lacks: a column has exactly the Arrow type the landing contract gives it.

GX's own type expectation compares pandas dtypes, which cannot say `decimal128(18, 2)` or tell int32
from int64. A landed batch's frame carries the Arrow schema its Parquet files declared (`attrs[ARROW_TYPES]`,
set by `tessera.checks.batch_checks`, which converts some columns to NumPy for speed); other frames are
Arrow-backed (`pd.ArrowDtype`), so each column still carries its Arrow type. This expectation compares
that type's name with the contract's, as it reads in a suite: `{"column": "contact_id", "arrow_type": "string"}`. A missing
column is observed as `missing`. Importing this module registers `expect_column_to_have_arrow_type`
with GX; `tessera.checks.context.open_context` does so before it loads a suite.
"""

from __future__ import annotations

from typing import ClassVar

from great_expectations.expectations.expectation import BatchExpectation
from great_expectations.render import LegacyRendererType, RenderedStringTemplateContent
from great_expectations.render.renderer.renderer import renderer
from great_expectations.render.renderer_configuration import RendererConfiguration, RendererValueType

MISSING = "missing"
#: The `attrs` key under which a frame carries the Arrow types it was read with, {column: type name}.
ARROW_TYPES = "tessera_arrow_types"
TEMPLATE = "$column must be present with Arrow type $arrow_type."


def arrow_type_name(dtype) -> str:
    """`string`, `int64`, `timestamp[us, tz=UTC]`, `decimal128(18, 2)`: how pyarrow names a column's type."""
    return str(getattr(dtype, "pyarrow_dtype", dtype))


class ExpectColumnToHaveArrowType(BatchExpectation):
    """The column is present and its Arrow type is exactly `arrow_type` (no coercion is attempted)."""

    column: str
    arrow_type: str

    metric_dependencies: ClassVar[tuple[str, ...]] = ("table.column_types",)
    success_keys: ClassVar[tuple[str, ...]] = ("column", "arrow_type")
    domain_keys: ClassVar[tuple[str, ...]] = ("batch_id",)
    args_keys: ClassVar[tuple[str, ...]] = ("column", "arrow_type")

    @classmethod
    def _prescriptive_template(cls, renderer_configuration: RendererConfiguration) -> RendererConfiguration:
        renderer_configuration.add_param(name="column", param_type=RendererValueType.STRING)
        renderer_configuration.add_param(name="arrow_type", param_type=RendererValueType.STRING)
        renderer_configuration.template_str = TEMPLATE
        return renderer_configuration

    @classmethod
    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    def _prescriptive_renderer(cls, configuration=None, result=None, runtime_configuration=None, **kwargs) -> list:
        """The sentence Data Docs show for the expectation."""
        configuration = configuration or getattr(result, "expectation_config", None)
        params = dict(configuration.kwargs) if configuration is not None else {}
        return [
            RenderedStringTemplateContent(
                content_block_type="string_template",
                string_template={
                    "template": TEMPLATE,
                    "params": {"column": params.get("column"), "arrow_type": params.get("arrow_type")},
                    "styling": (runtime_configuration or {}).get("styling"),
                },
            )
        ]

    def _validate(self, metrics: dict, runtime_configuration: dict | None = None, execution_engine=None) -> dict:
        kwargs = self.configuration.kwargs
        types = _landed_types(execution_engine)
        if types is None:
            types = {entry["name"]: entry["type"] for entry in metrics["table.column_types"]}
        dtype = types.get(kwargs["column"])
        observed = MISSING if dtype is None else arrow_type_name(dtype)
        return {"success": observed == kwargs["arrow_type"], "result": {"observed_value": observed}}


def _landed_types(execution_engine) -> dict | None:
    """The Arrow types the validated frame was read with (`attrs[ARROW_TYPES]`), when it carries them:
    columns the checks convert for speed (timestamps to NumPy) are judged by what landed, not by the frame."""
    batch_data = getattr(getattr(execution_engine, "batch_manager", None), "active_batch_data", None)
    frame = getattr(batch_data, "dataframe", None)
    return getattr(frame, "attrs", {}).get(ARROW_TYPES)
