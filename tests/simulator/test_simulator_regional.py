"""The regional world: a dozen towns, power-law names, households sharing a home and a desktop, and card-only
shoppers at the till, with the answer keys (ground truth and households) to score matching on it."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from tessera_simulator import Simulator, SimulatorConfig
from tessera_simulator.identity_accuracy import HouseholdMerges, merged_households
from tessera_simulator.regional import REGIONAL
from tessera_simulator.state import read_state
from tessera_simulator.world import World

from tests.simulator.conftest import START
from tests.simulator.snapshots import assert_same, pos_rows, snapshot, sqlite_rows, web_events

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def regional(tmp_path_factory) -> Simulator:
    """2,000 people of the regional world, initialized and advanced two days (same seed as `advanced_world`)."""
    sim = Simulator(
        tmp_path_factory.mktemp("regional") / "sim",
        SimulatorConfig(customers=2000, seed=11, start_date=START, world="regional"),
    )
    sim.initialize()
    sim.advance(2)
    return sim


def _world(sim: Simulator) -> World:
    """The simulator's own memory of the true persons (what the sources render, messily)."""
    state = read_state(sim.sim_dir)
    return World.load(sim.sim_dir / state.model, state.counters)


def _crm_column(sim: Simulator, column: str) -> pd.Series:
    """A CRM contact property as an analyst would first clean it: trimmed, lower case, blanks dropped."""
    values = [r[0] for r in sqlite_rows(sim.crm_path, f"select {column} from contacts") if r[0]]
    return pd.Series(values).str.strip().str.lower()


def _transactions(sim: Simulator) -> pd.DataFrame:
    columns = ("transaction_id", "store_id", "loyalty_id", "payment_token", "receipt_email")
    rows = pd.DataFrame([r[:5] for r in pos_rows(sim.pos_url, "transactions")], columns=columns)
    truth = sim.ground_truth().to_pandas()
    owner = truth[truth["stream"] == "transactions"].set_index("record_id")["person_id"]
    return rows.assign(person_id=rows["transaction_id"].map(owner))


def _owners(sim: Simulator, stream: str) -> dict[str, set[str]]:
    truth = sim.ground_truth().to_pandas()
    return truth[truth["stream"] == stream].groupby("record_id")["person_id"].agg(set).to_dict()


def test_the_world_is_validated_and_old_state_files_read_as_the_diverse_world():
    with pytest.raises(ValueError, match="diverse, regional.*'coastal'"):
        SimulatorConfig(world="coastal")
    config = SimulatorConfig(world="regional")
    assert config.to_dict()["world"] == "regional"
    assert SimulatorConfig.from_dict(config.to_dict()) == config
    assert "world" not in SimulatorConfig().to_dict()  # a diverse world's state.json is unchanged
    assert SimulatorConfig.from_dict(SimulatorConfig().to_dict()).world == "diverse"
    assert SimulatorConfig().differences(config) == ["world: 'diverse' vs 'regional'"]


def test_people_live_in_a_dozen_towns_of_skewed_size_on_shared_streets(regional):
    persons = _world(regional).persons
    towns = persons["city"].value_counts(normalize=True)
    assert len(towns) == REGIONAL.towns == 12
    assert 0.25 <= towns.iloc[0] <= 0.40, towns.to_dict()
    assert (persons["country"] == "GB").all()
    per_town = persons.assign(street_name=persons["street"].str.split(" ", n=1).str[1]).groupby("city")
    assert per_town["postcode"].nunique().between(1, 3).all()
    assert per_town["street_name"].nunique().max() <= 60
    assert persons["street"].str.split(" ", n=1).str[0].astype(int).between(1, 150).all()
    # Strangers share the street: each street of a town holds several homes.
    homes = persons.drop_duplicates(["street", "postcode", "city"])
    street_names = homes["street"].str.split(" ", n=1).str[1]
    assert homes.groupby([street_names, homes["city"]]).size().mean() >= 3
    # What the CRM shows: a dozen towns, apart from typos and gaps.
    cities = _crm_column(regional, "city").value_counts(normalize=True)
    assert cities.iloc[:12].sum() >= 0.95


def test_surnames_follow_a_power_law_and_first_names_a_milder_one(regional, advanced_world):
    surnames, diverse_surnames = (_crm_column(sim, "lastname") for sim in (regional, advanced_world.sim))
    top = surnames.value_counts(normalize=True)
    diverse_top = diverse_surnames.value_counts(normalize=True)
    assert top.iloc[0] >= 0.05, top.head(3).to_dict()
    assert top.iloc[0] >= 2.5 * diverse_top.iloc[0], (top.head(3).to_dict(), diverse_top.head(3).to_dict())
    assert top.iloc[:10].sum() >= 0.3
    first = _crm_column(regional, "firstname").value_counts(normalize=True)
    diverse_first = _crm_column(advanced_world.sim, "firstname").value_counts(normalize=True)
    assert diverse_first.iloc[0] < first.iloc[0] < top.iloc[0]


def test_households_of_two_to_five_share_an_address_and_mostly_a_surname(regional):
    persons = _world(regional).persons
    households = regional.households().to_pandas()
    assert households["person_id"].tolist() == persons["person_id"].tolist()
    head = persons["household"].where(persons["household"] >= 0, pd.Series(range(len(persons))))
    assert households["household_id"].tolist() == persons["person_id"].to_numpy()[head.to_numpy()].tolist()

    homes = persons[persons["household"] >= 0].assign(household_id=households["household_id"])
    sizes = homes.groupby("household_id").size()
    assert set(sizes) == {2, 3, 4, 5}
    assert 0.25 <= len(homes) / len(persons) <= 0.35
    together = homes.groupby("household_id")
    assert (together[["street", "city", "postcode"]].nunique() == 1).all().all()
    for column in ("first_name", "birth_date", "email", "phone"):
        assert (together[column].nunique() == sizes).all(), column
    heads = persons.set_index("person_id")["last_name"]
    members = homes[homes["person_id"] != homes["household_id"]]
    same_surname = (members["last_name"].to_numpy() == heads[members["household_id"]].to_numpy()).mean()
    assert 0.7 <= same_surname <= 0.9


def test_a_household_shares_one_desktop_that_several_members_log_in_on(regional):
    world = _world(regional)
    household_of = regional.households().to_pandas().set_index("person_id")["household_id"]
    devices = world.devices.assign(person_id=world.persons["person_id"].to_numpy()[world.devices["person"]])
    shared = devices[devices["anonymous_id"].duplicated(keep=False)]
    assert len(shared) and (shared["kind"] == "desktop").all()
    per_desktop = shared.assign(household=household_of[shared["person_id"]].to_numpy()).groupby("anonymous_id")
    assert (per_desktop["household"].nunique() == 1).all()
    assert per_desktop.size().max() >= 3, "no household of three or more shares its desktop"
    assert per_desktop["household"].first().is_unique, "a household has more than one shared desktop"

    contact_owner = {record: next(iter(people)) for record, people in _owners(regional, "contacts").items()}
    logged_in = defaultdict(set)
    for event in web_events(regional.web_dir):
        if event.get("userId"):
            logged_in[event["anonymousId"]].add(contact_owner[event["userId"]])
    on_desktops = {anon: people for anon, people in logged_in.items() if anon in set(shared["anonymous_id"])}
    assert all(len({household_of[p] for p in people}) == 1 for people in on_desktops.values())
    assert any(len(people) >= 2 for people in on_desktops.values()), "no desktop with two members logging in"


def test_many_shoppers_pay_by_card_without_a_loyalty_card(regional):
    persons = _world(regional).persons
    assert 0.55 <= persons["in_loyalty"].mean() <= 0.65
    tx = _transactions(regional)
    assert len(tx) > 1000
    card_only = tx["payment_token"].notna() & tx["loyalty_id"].isna()
    assert card_only.mean() >= 0.4
    assert 0.75 <= tx["payment_token"].notna().mean() <= 0.9
    holders = set(persons.loc[persons["in_loyalty"], "person_id"])
    shown = tx.loc[tx["person_id"].isin(holders), "loyalty_id"].notna().mean()
    assert 0.5 <= shown <= 0.7, shown
    # The same card is seen with and without the loyalty card: the link a matcher must find.
    seen = tx[tx["payment_token"].notna()].groupby("payment_token")["loyalty_id"]
    with_and_without = seen.count().between(1, seen.size() - 1)
    assert with_and_without.sum() >= 40 and with_and_without.mean() >= 0.05
    # Receipts: the shopper's own address, the store's default, mostly nothing.
    store_default = tx["receipt_email"].str.startswith("receipts@fernhill-", na=False)
    assert 0.1 <= store_default.mean() <= 0.2
    assert 0.1 <= (tx["receipt_email"].notna() & ~store_default).mean() <= 0.2
    assert tx["receipt_email"].isna().mean() >= 0.6
    assert tx["store_id"].nunique() == REGIONAL.stores


def test_some_loyalty_members_hold_a_second_card_and_use_both(regional):
    cards = pd.Series(_owners(regional, "loyalty_members")).map(lambda people: next(iter(people)))
    per_person = cards.value_counts()
    assert 0.05 <= (per_person == 2).mean() <= 0.15
    assert per_person.max() == 2
    rows = {r[0]: r for r in pos_rows(regional.pos_url, "loyalty_members")}
    twice = per_person[per_person == 2].index
    # A second card is its own member record, typed in again: the details differ now and then.
    pairs = [tuple(rows[c] for c in cards[cards == p].index) for p in twice]
    assert any(a[1:10] != b[1:10] for a, b in pairs)
    tx = _transactions(regional)
    both_used = tx[tx["loyalty_id"].notna()].groupby("person_id")["loyalty_id"].nunique()
    assert (both_used == 2).sum() >= 3


def test_merged_households_counts_customers_holding_two_members_of_one_household(regional):
    truth = regional.ground_truth()
    households = regional.households()
    by_person = truth.select(["source", "stream", "record_id"]).append_column("customer_id", truth.column("person_id"))
    assert merged_households(by_person, truth, households) == HouseholdMerges(customers=0, largest=0)

    household_of = dict(zip(*households.to_pydict().values(), strict=True))
    by_household = by_person.set_column(
        3, "customer_id", pa.array([household_of[p] for p in truth.column("person_id").to_pylist()])
    )
    merges = merged_households(by_household, truth, households)
    owners = truth.to_pandas().groupby(["source", "stream", "record_id"])["person_id"].transform("nunique")
    recorded = truth.to_pandas()[owners == 1]["person_id"].unique()
    expected = pd.Series(household_of)[recorded].value_counts()
    assert merges == HouseholdMerges(customers=int((expected >= 2).sum()), largest=int(expected.max()))
    assert merges.customers > 100 and merges.largest == 5


def test_the_diverse_world_keeps_its_two_person_households_in_the_new_answer_key(advanced_world):
    households = advanced_world.sim.households().to_pandas()
    assert len(households) == len(_world(advanced_world.sim).persons)
    sizes = households["household_id"].value_counts()
    assert set(sizes) == {1, 2}
    assert 0.02 <= (sizes == 2).sum() * 2 / len(households) <= 0.06


def test_two_regional_worlds_with_the_same_seed_are_identical(tmp_path: Path):
    sims = [
        Simulator(tmp_path / name, SimulatorConfig(customers=200, seed=5, start_date=START, world="regional"))
        for name in ("a", "b")
    ]
    for sim in sims:
        sim.initialize()
        sim.advance(1)
    a, b = (snapshot(sim) for sim in sims)
    assert a["pos:transactions"] and a["web"]
    assert_same(a, b)
    assert sims[0].households() == sims[1].households()
