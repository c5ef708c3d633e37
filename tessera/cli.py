"""The `tessera` command: run the demo, drive the simulated sources, extract outside Airflow."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, date, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tessera.home import tessera_home

app = typer.Typer(help="Tessera, the batch customer data platform.", no_args_is_help=True, add_completion=False)
console = Console()
_debug = False


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at INFO level.")] = False,
) -> None:
    global _debug
    _debug = debug
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _fail(exc: BaseException) -> None:
    if _debug:
        raise exc
    console.print(f"[bold red]error:[/] {escape(str(exc))}")  # the message is text, not markup: `[demo]` stays
    raise typer.Exit(1)


def _require_demo() -> None:
    """The simulated sources are a separate package (`tessera-simulator`), installed by the `demo` extra."""
    try:
        import tessera_simulator  # noqa: F401
    except ImportError:
        _fail(RuntimeError("this command needs the demo's simulated sources: pip install 'tessera[demo]'"))


def _print_lake(home) -> None:
    from tessera.lake_report import lake_report

    table = Table(title=f"Lake at {home.lake}")
    for col in ("source", "stream", "batches", "rows", "quarantined"):
        table.add_column(col, justify="right" if col in ("batches", "rows", "quarantined") else "left")
    for r in lake_report(home.lake):
        table.add_row(r.source, r.stream, str(r.batches), f"{r.rows:,}", f"{r.quarantined:,}")
    console.print(table)


@app.command()
def demo(
    customers: Annotated[int, typer.Option(help="How many simulated people.")] = 2000,
    days: Annotated[int, typer.Option(help="How many simulated days to run.")] = 3,
    seed: Annotated[int, typer.Option(help="Seed of the simulation.")] = 42,
) -> None:
    """Simulate the source systems and run the pipeline's DAGs end to end on the embedded default."""
    _require_demo()
    from tessera.airflow_local import configure

    home = tessera_home()
    configure(home)
    from tessera_simulator.demo import DemoSettings, run_demo

    try:
        with console.status("running the demo…") as status:
            delivered = run_demo(
                home, DemoSettings(customers, days, seed), progress=lambda m: status.update(m) or console.log(m)
            )
    except Exception as exc:  # noqa: BLE001 - the CLI shows the message, not a traceback
        _fail(exc)
    _print_lake(home)
    console.print(f"Quarantined records (with reasons): {home.lake / 'quarantine'}")
    _print_marts(home)
    from tessera_simulator.demo import identity_accuracy

    from tessera.checks import data_docs_index

    console.print(f"Identity resolution against the simulator's ground truth: {identity_accuracy(home)}")
    console.print(f"Data quality checks of every batch and of the marts (Data Docs): {data_docs_index(home)}")
    _print_syncs_log(home)
    for line in delivered:
        console.print(line, soft_wrap=True, highlight=False)


@app.command()
def simulate(
    customers: Annotated[int, typer.Option(help="How many simulated people (first run only).")] = 2000,
    days: Annotated[int, typer.Option(help="Days to advance the simulated clock.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed (first run only).")] = 42,
    start_date: Annotated[str, typer.Option(help="Simulated start date (first run only).")] = "2026-01-01",
    serve: Annotated[bool, typer.Option(help="Then serve the CRM and ESP APIs until interrupted.")] = False,
) -> None:
    """Create (first time) and advance the simulated CRM, ESP, POS and web sources under $TESSERA_HOME."""
    _require_demo()
    from tessera_simulator import Simulator, SimulatorConfig

    home = tessera_home()
    try:
        if (home.simulator / "state.json").exists():
            sim = Simulator.open(home.simulator)
        else:
            config = SimulatorConfig(
                customers=customers, seed=seed, start_date=date.fromisoformat(start_date), pos_url=None
            )
            sim = Simulator(home.simulator, config)
            sim.initialize()
        if days:
            sim.advance(days=days)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    console.print(f"simulated sources at {home.simulator}, clock {sim.clock.isoformat()}")
    if serve:
        _serve(home)


def _serve(home) -> None:
    import secrets
    import threading

    from tessera_simulator.demo import source_connections
    from tessera_simulator.servers import run_servers

    token = secrets.token_urlsafe(24)
    with run_servers(home.simulator, token=token) as urls:
        console.print("Serving the CRM and ESP APIs; export these to point Airflow at them:")
        for key, value in source_connections(home, urls.crm, urls.esp, token).items():
            console.print(f"export {key}='{value}'", soft_wrap=True, highlight=False)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


@app.command()
def extract(
    source: Annotated[
        str | None, typer.Argument(help="A registered source (see `tessera status`); all when omitted.")
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="Window start (ISO-8601, UTC); the cursor decides if omitted.")
    ] = None,
    end: Annotated[str | None, typer.Option(help="Window end (ISO-8601, UTC); now when omitted.")] = None,
) -> None:
    """Run one extraction outside Airflow: the same code path as the extract DAGs' tasks."""
    from connectors.registry import registry
    from tessera.airflow_local import configure

    home = tessera_home()
    configure(home)
    from tessera.collect import extract_source

    def parse(value: str | None) -> datetime | None:
        if value is None:
            return None
        ts = datetime.fromisoformat(value)
        return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts

    window_end = parse(end) or datetime.now(UTC).replace(microsecond=0)
    try:
        sources = [registry().source(source).name] if source else list(registry().sources)
        for name in sources:
            for result in extract_source(name, parse(start), window_end, home=home):
                console.print(result.summary())
    except Exception as exc:  # noqa: BLE001
        _fail(exc)


@app.command()
def transform(
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Rebuild incremental models from scratch.")
    ] = False,
    select: Annotated[str | None, typer.Option(help="dbt selection, e.g. 'staging+' (default: everything).")] = None,
    target: Annotated[
        str, typer.Option(help="dbt target in the dbt project's profiles.yml: duckdb, or postgres (TESSERA_PG_*).")
    ] = "duckdb",
) -> None:
    """Run the unify step on what is in the lake: dbt build (staging, identity resolution, golden marts).

    With `--target postgres` the lake is first loaded into the PostgreSQL database the TESSERA_PG_*
    variables name, and the project is built there."""
    from tessera.dbt_runner import run_transform, target_type

    home = tessera_home()
    try:
        with console.status("dbt build…"):
            run_transform(home, full_refresh=full_refresh, target=target, select=select)
        engine = target_type(target)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    if engine == "postgres":
        from tessera.warehouse_load import PostgresSettings

        console.print(
            f"Built in PostgreSQL, {PostgresSettings.from_env().describe()} (schemas staging, intermediate, marts)"
        )
    elif select:
        console.print(f"Built the selection into the working warehouse {home.warehouse}; a selection is not published.")
    else:
        _print_marts(home)


@app.command()
def explain(
    customer_id: Annotated[str, typer.Argument(help="A customer_id from marts.golden_customers.")],
    show_pii: Annotated[bool, typer.Option("--show-pii", help="Show emails and phones unmasked.")] = False,
) -> None:
    """Show why records were merged into one customer, and which identifiers were kept out and why."""
    from tessera.explain import explain_customer

    try:
        explanation = explain_customer(tessera_home(), customer_id, show_pii=show_pii)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    explanation.print(console)


@app.command("train-matcher")
def train_matcher(
    simulate: Annotated[
        int | None, typer.Option(help="Train on a fresh simulated world of this many people instead.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the u sampling (and of the simulated world).")] = 42,
) -> None:
    """Retrain the probabilistic person matcher and write the next version of its model file.

    Trains on the warehouse's profile records, `int_profile_records` (run `tessera transform` first),
    or on a simulated world with --simulate. Daily runs only score with the saved model."""
    from tessera.matcher_training import train_matcher as train
    from tessera.resources import matcher_model_path

    if simulate is not None:
        _require_demo()

    try:
        with console.status("training the matcher…"):
            model = train(tessera_home(), simulate=simulate, seed=seed)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    console.print(f"matcher model version {model.version} ({model.training_data}) written to {matcher_model_path()}")


@app.command()
def generate(
    check: Annotated[bool, typer.Option("--check", help="Change nothing; fail if a generated file is stale.")] = False,
) -> None:
    """Write the files that derive from the source registry: dbt sources YAML and the docs' contract tables."""
    from connectors.registry import registry
    from tessera.generated_files import stale_files, write_files
    from tessera.resources import dbt_project_dir

    root = dbt_project_dir().parent
    try:
        if check:
            stale = stale_files(registry(), root)
            if stale:
                listed = "; ".join(f"{f.path.relative_to(root)} ({f.reason})" for f in stale)
                raise RuntimeError(f"generated files are stale: {listed}. Run `tessera generate`.")
            console.print(f"generated files are current ({len(registry().sources)} sources)")
            return
        written = write_files(registry(), root)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    for path in written:
        console.print(f"wrote {path.relative_to(root)}")
    if not written:
        console.print("generated files were already current")


@app.command()
def paths() -> None:
    """Print where this installation keeps its data folder, DAGs, dbt project, dbt manifest, check suites
    and check results (Data Docs)."""
    from tessera.checks import data_docs_index
    from tessera.resources import dags_folder, dbt_project_dir, expectations_dir, manifest_path

    home = tessera_home()
    try:
        rows = {
            "TESSERA_HOME": home.root,
            "dags folder (AIRFLOW__CORE__DAGS_FOLDER)": dags_folder(),
            "dbt project": dbt_project_dir(),
            "dbt manifest": manifest_path(),
            "check suites (GX project)": expectations_dir(),
            "check results (Data Docs)": data_docs_index(home),
        }
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    for name, path in rows.items():
        console.print(f"{name}: {path}", soft_wrap=True, highlight=False)


@app.command("dbt-parse")
def dbt_parse(force: Annotated[bool, typer.Option(help="Parse even when the manifest is current.")] = False) -> None:
    """Write the dbt manifest the transform DAG renders from (`make install` runs this)."""
    from tessera.dbt_runner import parse_project

    try:
        path = parse_project(tessera_home(), force=force)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    console.print(f"dbt manifest written to {path}")


def _print_marts(home) -> None:
    from tessera.publication import published_path
    from tessera.warehouse import mart_counts

    counts = mart_counts(home)
    console.print(
        f"Published warehouse {published_path(home)}: {counts['golden_customers']:,} golden customers, "
        f"{counts['customer_xref']:,} source records attributed (marts.golden_customers, marts.customer_xref)"
    )


def _contract(name: str):
    """A stream named `SOURCE.STREAM`, as in suites, logs and Assets."""
    from connectors.registry import registry

    source, dot, stream = name.partition(".")
    if not dot:
        raise ValueError(f"name a stream as SOURCE.STREAM (for example crm.contacts), not {name!r}")
    return registry().contract(source, stream)


def _print_check(result) -> None:
    """One table per suite run: its failures and warnings, then the expectations that passed."""
    if not result.passed:
        verdict = "[red]HELD[/]" if result.batch_id else "[red]FAILED[/]"
    else:
        verdict = "[yellow]passed with warnings[/]" if result.warnings else "[green]passed[/]"
    rows = f", {result.rows:,} rows" if result.rows is not None else ""
    table = Table(title=f"{escape(result.name)}: {verdict}{rows}", title_justify="left")
    for col in ("expectation", "column", "severity", "result"):
        table.add_column(col, overflow="fold")
    for failure in (*result.critical, *result.warnings):
        style = "red" if failure.severity == "critical" else "yellow"
        outcome = f"[{style}]failed[/]: {escape(failure.observed)}"
        if failure.sample_values:
            outcome += escape(f" (e.g. {', '.join(failure.sample_values)})")
        table.add_row(failure.expectation_type, escape(failure.column or ""), failure.severity, outcome)
    passed = result.expectations - len(result.critical) - len(result.warnings)
    if passed > 0:
        table.add_row(f"{passed} other expectation(s)", "", "", "[green]passed[/]")
    console.print(table)


@app.command()
def check(
    stream: Annotated[
        str | None, typer.Option(help="Only this stream's batches, as SOURCE.STREAM (e.g. crm.contacts).")
    ] = None,
    marts: Annotated[
        bool, typer.Option("--marts", help="Check the marts of the last build instead of landed batches.")
    ] = False,
    all_batches: Annotated[
        bool, typer.Option("--all", help="Check every published batch again, not only those not checked yet.")
    ] = False,
    release: Annotated[
        tuple[str, str] | None,
        typer.Option(metavar="SOURCE.STREAM BATCH_ID", help="Release a held batch after review (needs --reason)."),
    ] = None,
    reason: Annotated[
        str | None, typer.Option(help="Why the held batch may be read after all (kept in the audit trail).")
    ] = None,
) -> None:
    """Run the data-quality checks outside Airflow: landed batches not checked yet, or the marts.

    A batch with a critical failure is held: the transform does not read it until it is landed again
    and passes, or an operator releases it (--release). Exits 1 on any critical failure."""
    home = tessera_home()
    if release is not None:
        _release(home, release, reason)
        return
    if reason is not None:
        _fail(ValueError("--reason goes with --release SOURCE.STREAM BATCH_ID"))
    if marts and (stream or all_batches):
        _fail(ValueError("--marts checks the marts; --stream and --all pick batches: give one or the other"))
    from tessera.checks import check_marts, check_pending, data_docs_index

    try:
        contract = _contract(stream) if stream else None
        with console.status("checking (Great Expectations)…"):
            results = check_marts(home) if marts else check_pending(home, contract, all=all_batches)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    if not results:
        console.print("No batch is waiting to be checked (--all checks every published batch again).")
        return
    for result in results:
        _print_check(result)
    for result in results:  # whole lines, unwrapped, as logs and alerts quote them
        if not result.passed:
            console.print(f"[bold red]critical:[/] {escape(result.message())}", soft_wrap=True, highlight=False)
        elif result.warnings:
            console.print(f"[yellow]warning:[/] {escape(result.message())}", soft_wrap=True, highlight=False)
    failed = [result for result in results if not result.passed]
    console.print(f"Data Docs: {data_docs_index(home)}", soft_wrap=True, highlight=False)
    if failed:
        raise typer.Exit(1)


def _release(home, release: tuple[str, str], reason: str | None) -> None:
    import getpass

    from tessera.checks import release_batch, releases_log

    stream, batch_id = release
    try:
        if not reason:
            raise ValueError("--release needs --reason: say why the held batch's failures are acceptable")
        path = release_batch(home, _contract(stream), batch_id, reason, getpass.getuser())
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    console.print(
        f"released {stream} batch {batch_id}: the next transform reads it ({path}; audit trail {releases_log(home)})",
        soft_wrap=True,
        highlight=False,
    )


def _print_held(home) -> None:
    from tessera.checks import data_docs_index, held_batches

    held = held_batches(home)
    if not held:
        console.print("No batch is held.")
    else:
        table = Table(title="Held batches (not read by the transform; see `tessera check --release`)")
        for col in ("stream", "batch", "held since", "first failure"):
            table.add_column(col, overflow="fold")
        for batch in held:
            table.add_row(batch.stream, batch.batch_id, batch.held_at, escape(batch.first_failure))
        console.print(table)
    if data_docs_index(home).exists():
        console.print(f"Data Docs: {data_docs_index(home)}", soft_wrap=True, highlight=False)


def _print_matcher_fits(home) -> None:
    from transforms.identity.matching import FittedModels

    history = FittedModels(home.root / "matcher").history()
    if not history:
        console.print("The matcher has not been fitted to this warehouse's records yet (the next build does it).")
        return
    table = Table(title=f"Matcher fits ({home.root / 'matcher'})")
    for col in ("version", "fitted at", "how", "records", "why"):
        table.add_column(col, overflow="fold")
    for fit in history[-5:]:
        table.add_row(
            str(fit["version"]),
            fit["fitted_at"],
            fit.get("method", "estimated"),
            f"{fit['profile']['records']:,}",
            escape("; ".join(fit["reasons"])),
        )
    console.print(table)


@app.command("sync")
def sync_command(
    segment: Annotated[
        str | None, typer.Option(help="Only this segment (a model in dbt_project/models/segments).")
    ] = None,
    destination: Annotated[
        str | None, typer.Option(help="Only this destination (connection tessera_dest_<name>).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the planned changes; send nothing.")] = False,
    full_resync: Annotated[
        bool, typer.Option("--full-resync", help="Send every member again, not only what changed.")
    ] = False,
) -> None:
    """Sync segments to their destinations, as the activation DAGs do: only what changed since each
    destination last confirmed, honouring consent. Exits non-zero when a destination failed."""
    from rich.progress import Progress

    from tessera.activation.runs import activations, run_sync
    from tessera.airflow_local import configure

    home = tessera_home()
    configure(home)
    results, failures = [], []
    try:
        chosen = activations(segment, destination)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    with Progress(console=console, transient=True) as bar:
        for activation in chosen:
            task = bar.add_task(activation.name, total=None)

            def progress(change: str, done: int, total: int, task=task, name=activation.name) -> None:
                bar.update(task, description=f"{name}: {change}", completed=done, total=total)

            try:
                result = run_sync(home, activation, dry_run=dry_run, full_resync=full_resync, progress=progress)
            except Exception as exc:  # noqa: BLE001 - one activation's problem is reported, the others still run
                if _debug:
                    raise
                failures.append(f"{activation.name}: {exc}")
                continue
            finally:
                bar.remove_task(task)
            results.append(result)
            if result.failed:
                failures.append(f"{activation.name}: {result.error}")
    _print_syncs(results, dry_run)
    for failure in failures:
        console.print(f"[bold red]failed:[/] {escape(failure)}", soft_wrap=True)
    if failures:
        raise typer.Exit(1)


def _print_syncs_log(home) -> None:
    """The newest sync of each segment and destination, from the sync log."""
    from tessera.activation.state import sync_log

    newest = {}
    for row in sync_log(home):
        newest.setdefault((row["segment"], row["destination"]), row)
    if not newest:
        return
    table = Table(title="Segments synced to destinations (newest run of each)")
    for column in ("segment → destination", "status", "members", "sent", "invalid", "rejected", "excluded"):
        table.add_column(column, justify="left" if column in ("segment → destination", "status") else "right")
    for row in newest.values():
        sent = sum(row[c] or 0 for c in ("added", "updated", "removed"))
        table.add_row(f"{row['segment']} → {row['destination']} ({row['mode']})", row["status"], f"{row['members'] or 0:,}",
                      f"{sent:,}", *(f"{row[c] or 0:,}" for c in ("invalid", "rejected", "excluded")))  # fmt: skip
    console.print(table)


def _print_syncs(results, dry_run: bool) -> None:
    table = Table(title="Planned changes (dry run: nothing sent)" if dry_run else "Syncs")
    columns = ("segment", "destination", "mode", "status", "members", "add", "update", "remove", "invalid",
               "rejected", "retried", "excluded")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column in columns[:4] else "right")
    for r in results:
        sent = (r.plan.add, r.plan.update, r.plan.remove) if dry_run and r.plan else (r.added, r.updated, r.removed)
        table.add_row(r.segment, r.destination, r.mode, r.status, f"{r.members:,}", *(f"{n:,}" for n in sent),
                      f"{r.invalid:,}", f"{r.rejected:,}", f"{r.retried:,}", f"{r.excluded:,}")  # fmt: skip
    console.print(table)
    for r in results:
        if r.location:
            console.print(f"{r.segment} -> {r.destination}: {r.location}", soft_wrap=True, highlight=False)
        for kind in ("invalid", "rejected"):
            for key, reason in r.samples[kind]:
                console.print(f"  {kind} {key}: {escape(reason)}", soft_wrap=True, highlight=False)


@app.command()
def status() -> None:
    """Show what the lake holds (batches, rows and quarantined records per stream), held batches, the
    matcher's latest fits to the data, and the newest sync of each segment to each destination."""
    home = tessera_home()
    _print_lake(home)
    _print_held(home)
    _print_matcher_fits(home)
    _print_syncs_log(home)


if __name__ == "__main__":
    sys.exit(app())
