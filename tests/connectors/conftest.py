from tests.sources import sources  # noqa: F401 - fixture shared by the connector tests
