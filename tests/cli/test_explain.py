"""`tessera explain` on a small published warehouse written here: names are masked like e-mails and
phones, a retired customer id leads to the customer it was merged into, an unknown id is one line, and
the data is printed as text, whatever brackets it holds."""

from __future__ import annotations

import duckdb
import pytest
from typer.testing import CliRunner

from tessera.cli import app
from tessera.publication import published_path

pytestmark = pytest.mark.unit

runner = CliRunner()

#: Only the columns `tessera explain` reads, with the marts' names and types.
TABLES = """
create schema marts;
create schema intermediate;
create table marts.golden_customers (customer_id varchar, first_name varchar, last_name varchar, email varchar,
    phone varchar, record_count integer, sources varchar);
create table marts.customer_xref (customer_id varchar, source varchar, stream varchar, record_id varchar);
create table marts.customer_merges (old_customer_id varchar, new_customer_id varchar, merged_at timestamp,
    reason varchar);
create table marts.golden_customer_lineage (customer_id varchar, attribute varchar, source varchar,
    stream varchar, record_id varchar, rule varchar);
create table intermediate.int_customer_records (customer_id varchar, customer_key varchar, record_key varchar);
create table intermediate.int_identity_resolution (customer_key varchar, record_key varchar,
    identifier_type varchar, identifier_value varchar, decision varchar, match_probability double);
create table intermediate.int_identity_decisions (customer_key varchar, record_key varchar,
    identifier_type varchar, identifier_value varchar, decision varchar, reason varchar);
create table intermediate.int_profile_records (source varchar, stream varchar, record_id varchar,
    record_key varchar);

insert into marts.golden_customers values
    ('cus_ann', 'Annabel', 'Okafor', 'annabel.okafor@example.com', '+447700900123', 2, 'crm, email'),
    ('cus_markup', '[bold]Bo', 'Lee[/x]', null, null, 1, 'crm');
insert into marts.customer_xref values
    ('cus_ann', 'crm', 'contacts', 'C1'), ('cus_ann', 'email', 'subscribers', 'S1'),
    ('cus_markup', 'crm', 'contacts', 'C9');
insert into marts.customer_merges values
    ('cus_old', 'cus_mid', '2026-01-02 03:04:05', 'stitched through a shared e-mail'),
    ('cus_mid', 'cus_ann', '2026-01-05 00:00:00', 'stitched through a shared phone'),
    ('cus_lost', 'cus_gone', '2026-01-03 00:00:00', null);
insert into marts.golden_customer_lineage values
    ('cus_ann', 'first_name', 'crm', 'contacts', 'C1', 'most_frequent'),
    ('cus_markup', 'first_name', 'crm', 'contacts', 'C9', '[/x]');
insert into intermediate.int_customer_records values
    ('cus_ann', 'k_ann', 'crm:contacts:C1'), ('cus_ann', 'k_ann', 'email:subscribers:S1'),
    ('cus_markup', 'k_markup', 'crm:contacts:C9');
insert into intermediate.int_identity_resolution values
    ('k_ann', 'crm:contacts:C1', 'email', 'annabel.okafor@example.com', 'stitched', null),
    ('k_ann', 'email:subscribers:S1', 'email', 'annabel.okafor@example.com', 'stitched', null);
insert into intermediate.int_identity_decisions values
    ('k_markup', 'crm:contacts:C9', 'loyalty_id', '[/x]', 'blocked', 'value is on the identity blocklist');
insert into intermediate.int_profile_records values
    ('crm', 'contacts', 'C1', 'crm:contacts:C1'), ('crm', 'contacts', 'C9', 'crm:contacts:C9');
"""


@pytest.fixture
def published(home):
    path = published_path(home)
    path.parent.mkdir(parents=True)
    with duckdb.connect(str(path)) as con:
        con.execute(TABLES)
    return home


def explain(*args: str):
    return runner.invoke(app, ["explain", *args], terminal_width=300)


def test_names_are_masked_with_emails_and_phones_unless_pii_is_asked_for(published):
    result = explain("cus_ann")
    assert result.exit_code == 0, result.output
    assert "cus_ann: A*** O*** — 2 records from crm, email" in result.output
    assert "Annabel" not in result.output and "Okafor" not in result.output
    assert "a***@example.com" in result.output and "annabel.okafor@" not in result.output

    shown = explain("cus_ann", "--show-pii")
    assert shown.exit_code == 0, shown.output
    assert "cus_ann: Annabel Okafor — 2 records" in shown.output and "annabel.okafor@example.com" in shown.output


def test_a_retired_id_says_what_it_was_merged_into_and_explains_that_customer(published):
    result = explain("cus_old")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:3] == [
        "cus_old was merged into cus_mid on 2026-01-02 (stitched through a shared e-mail)",
        "cus_mid was merged into cus_ann on 2026-01-05 (stitched through a shared phone)",
        "cus_ann: A*** O*** — 2 records from crm, email",
    ]
    assert "│ email  │ subscribers │ S1 " in result.output  # cus_ann's records


def test_an_unknown_id_is_one_line(published):
    result = explain("cus_nope")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.splitlines() == [
        "error: no customer 'cus_nope': it is neither in marts.golden_customers nor a retired id in "
        "marts.customer_merges"
    ]


def test_a_retired_id_whose_customer_is_gone_is_one_line_naming_both(published):
    result = explain("cus_lost")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "error: no customer 'cus_lost': it is neither in marts.golden_customers nor a retired id in "
        "marts.customer_merges (it was merged into 'cus_gone', which is gone too)"
    ]


def test_values_with_brackets_are_printed_as_they_are(published):
    result = explain("cus_markup", "--show-pii")
    assert result.exit_code == 0, result.output
    assert "cus_markup: [bold]Bo Lee[/x] — 1 records from crm" in result.output
    assert "│ loyalty_id │ [/x]  │ blocked  │" in result.output  # kept out by merge protection
    assert "│ first_name │ crm:contacts:C9 │ [/x] │" in result.output  # a lineage rule

    unknown = explain("[/x]")
    assert unknown.exit_code == 1 and unknown.output.startswith("error: no customer '[/x]'")
