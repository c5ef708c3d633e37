"""Stand-ins for the source systems a customer data platform extracts from.

A seeded world of people shows up, messily, in a CRM (HTTP API), an email platform
(HTTP API), a point-of-sale database (SQL) and a website event drop (files). The demo
and the tests extract from these exactly as they would from the real systems.
"""

from tessera_simulator.config import SimulatorConfig
from tessera_simulator.simulator import DaySummary, Simulator

__all__ = ["DaySummary", "Simulator", "SimulatorConfig"]
