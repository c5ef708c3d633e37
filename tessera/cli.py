"""The `tessera` command: run the demo, drive the simulated sources, extract outside Airflow."""

from __future__ import annotations

import logging
import sys
import threading
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tessera.home import TesseraHome, tessera_home

if TYPE_CHECKING:
    from tessera.dbt_runner import NodeProgress

app = typer.Typer(help="Tessera, the batch customer data platform.", no_args_is_help=True, add_completion=False)
console = Console()
_debug = False
_verbose = False


@app.callback()
def main(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log at INFO level, and show dbt's whole output.")
    ] = False,
) -> None:
    global _debug, _verbose
    _debug = debug
    _verbose = verbose
    from tessera.logs import configure_logging

    # One format, masked, on the console and in $TESSERA_HOME/logs/cli/<command>-<timestamp>.log (tessera.logs).
    configure_logging(
        logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING,
        home=tessera_home(),
        command=ctx.invoked_subcommand,
    )


def _fail(exc: BaseException) -> None:
    if _debug:
        raise exc
    # The message is text, never markup: `[demo]`, `[/x]` or a dbt `[error]` reach the user as written.
    console.print(Text.assemble(("error: ", "bold red"), str(exc)), soft_wrap=True)
    raise typer.Exit(1)


def _say(line: str) -> None:
    """Print a line of plain text (paths, ids, counts): whatever brackets it holds are not markup."""
    console.print(line, markup=False, highlight=False, soft_wrap=True)


def _print_ansi(line: str) -> None:
    """Print a line that carries ANSI colours (dbt's): styled on a terminal, plain text otherwise."""
    console.print(Text.from_ansi(line), soft_wrap=True, highlight=False)


def _writable_home() -> TesseraHome:
    """$TESSERA_HOME for a command that writes to it: created if missing, and checked before any work
    starts, so a folder that cannot be written is one line naming it, not a traceback half-way through."""
    import tempfile

    home = tessera_home()
    try:
        home.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=home.root):
            pass
    except OSError as exc:
        _fail(
            OSError(
                f"TESSERA_HOME {home.root} is not a folder this user can write ({exc.strerror or exc}): "
                "point TESSERA_HOME at one that is"
            )
        )
    return home


def _iso_time(option: str, value: str | None) -> datetime | None:
    """An option's ISO-8601 time, in UTC when it names no zone; a one-line error naming the option otherwise."""
    if value is None:
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        _fail(ValueError(f"{option}: {value!r} is not an ISO-8601 time, e.g. 2026-01-31T00:00:00Z"))
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


def _require_demo() -> None:
    """The simulated sources are a separate package (`tessera-simulator`), installed by the `demo` extra."""
    try:
        import tessera_simulator  # noqa: F401
    except ImportError:
        _fail(RuntimeError("this command needs the demo's simulated sources: pip install 'tessera[demo]'"))


class _ProgressDisplay:
    """Steps of a long command and the nodes of its dbt build, as they go: on a terminal a live line with a
    bar (done/total, the node now running); otherwise plain lines, a step each and the build every tenth
    of the way and at each failure, so a log file gets a readable record rather than a spinner's frames."""

    def __init__(self, title: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.live = console.is_terminal
        self.lock = threading.Lock()
        self.reported = 0  # nodes done at the last plain line
        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not self.live,
        )
        self.task = self.bar.add_task(title, total=None)

    def step(self, message: str) -> None:
        """A step of the command: logged above the bar, and the bar's new title."""
        if self.live:
            console.log(Text(message))
            self.bar.update(self.task, description=message, completed=0, total=None)
        else:
            _say(message)

    def node(self, update: NodeProgress) -> None:
        """A dbt node started or finished (`tessera.dbt_runner.NodeProgress`)."""
        total = f"/{update.total}" if update.total else ""
        if self.live:
            what = "running" if update.status is None else update.status
            self.bar.update(
                self.task, description=f"dbt: {what} {update.node}", completed=update.done, total=update.total
            )
            if update.failed:
                console.log(Text(f"dbt: {update.resource_type} {update.node} {update.status}", style="red"))
            return
        if update.status is None:
            return
        with self.lock:
            step = max(1, (update.total or 10) // 10)
            due = update.done - self.reported >= step or update.done == update.total
            if due or update.failed:
                self.reported = update.done
                _say(
                    f"dbt: {update.done}{total} nodes done, latest {update.resource_type} {update.node}: {update.status}"
                )

    def __enter__(self) -> _ProgressDisplay:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)


def _print_lake(home) -> None:
    from tessera.lake_report import lake_report

    table = Table(title=f"Lake at {escape(str(home.lake))}")
    for col in ("source", "stream", "batches", "rows", "quarantined"):
        table.add_column(col, justify="right" if col in ("batches", "rows", "quarantined") else "left")
    for r in lake_report(home.lake):
        table.add_row(escape(r.source), escape(r.stream), str(r.batches), f"{r.rows:,}", f"{r.quarantined:,}")
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

    home = _writable_home()
    configure(home)
    from tessera_simulator.demo import DemoSettings, run_demo

    try:
        with _ProgressDisplay("running the demo…") as shown:
            delivered = run_demo(
                home, DemoSettings(customers, days, seed), progress=shown.step, dbt_progress=shown.node
            )
    except Exception as exc:  # noqa: BLE001 - the CLI shows the message, not a traceback
        _fail(exc)
    _print_lake(home)
    _say(f"Quarantined records (with reasons): {home.lake / 'quarantine'}")
    _print_marts(home)
    from tessera_simulator.demo import identity_accuracy

    from tessera.checks import data_docs_index

    _say(f"Identity resolution against the simulator's ground truth: {identity_accuracy(home)}")
    _say(f"Data quality checks of every batch and of the marts (Data Docs): {data_docs_index(home)}")
    _print_syncs_log(home)
    for line in delivered:
        _say(line)
    from tessera.report import write_report

    _say(f"Run report (open it in a browser): {write_report(home)}")


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

    home = _writable_home()
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
    _say(f"simulated sources at {home.simulator}, clock {sim.clock.isoformat()}")
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
            _say(f"export {key}='{value}'")
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

    window_start = _iso_time("--start", start)
    window_end = _iso_time("--end", end) or datetime.now(UTC).replace(microsecond=0)
    home = _writable_home()
    configure(home)
    from tessera.collect import extract_source

    try:
        sources = [registry().source(source).name] if source else list(registry().sources)
        for name in sources:
            for result in extract_source(name, window_start, window_end, home=home):
                _say(result.summary())
    except Exception as exc:  # noqa: BLE001
        _fail(exc)


@app.command()
def transform(
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Rebuild incremental models from scratch.")
    ] = False,
    select: Annotated[str | None, typer.Option(help="dbt selection, e.g. 'staging+' (default: everything).")] = None,
    target: Annotated[
        str,
        typer.Option(
            help="dbt target in the dbt project's profiles.yml: duckdb, postgres (TESSERA_PG_*) or spark "
            "(TESSERA_SPARK_MASTER, default local[2])."
        ),
    ] = "duckdb",
) -> None:
    """Run the unify step on what is in the lake: dbt build (staging, identity resolution, golden marts).

    With `--target postgres` the lake is first loaded into the PostgreSQL database the TESSERA_PG_*
    variables name, and the project is built there. With `--target spark` it is built on a Spark session
    (tessera/spark.py) that reads the lake in place, and its tables are served into the DuckDB working file the
    checks, publication and activation read (tessera/spark_serving.py)."""
    from tessera.dbt_runner import BuildSummary, dbt_log_path, run_transform, target_type

    home = _writable_home()
    try:
        engine = target_type(target)
        if _verbose:  # dbt's whole output, in colour on a terminal only
            result = run_transform(home, full_refresh=full_refresh, target=target, select=select, echo=_print_ansi)
        else:
            with _ProgressDisplay("dbt build: starting…") as shown:
                result = run_transform(
                    home, full_refresh=full_refresh, target=target, select=select, progress=shown.node
                )
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    summary = BuildSummary.of(result, dbt_log_path(home))
    _say(f"dbt build: {summary.counts()} (dbt's whole output: {summary.log_file})")
    if engine == "postgres":
        from tessera.warehouse_load import PostgresSettings

        _say(f"Built in PostgreSQL, {PostgresSettings.from_env().describe()} (schemas staging, intermediate, marts)")
    elif engine == "spark":
        from tessera.spark import spark_dir

        _say(f"Built on Spark, tables under {spark_dir(home) / 'warehouse'}, served into {home.warehouse}")
        if not select:
            _print_marts(home)
    elif select:
        _say(f"Built the selection into the working warehouse {home.warehouse}; a selection is not published.")
    else:
        _print_marts(home)


@app.command()
def explain(
    customer_id: Annotated[str, typer.Argument(help="A customer_id from marts.golden_customers.")],
    show_pii: Annotated[bool, typer.Option("--show-pii", help="Show names, emails and phones unmasked.")] = False,
) -> None:
    """Show why records were merged into one customer, and which identifiers were kept out and why.

    A retired id (a customer since merged into another) explains the customer it was merged into."""
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

    home = _writable_home()
    try:
        with console.status("training the matcher…"):
            model = train(home, simulate=simulate, seed=seed)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    _say(f"matcher model version {model.version} ({model.training_data}) written to {matcher_model_path()}")


@app.command("train-predictors")
def train_predictors() -> None:
    """Train the predictors (purchases, spend, churn) on the warehouse's features and keep the next version.

    Backtests them on the latest 90 days they did not see and prints how they did. Reads the feature tables
    every build makes (run `tessera transform` first); the next `tessera transform` scores with the new
    version. The weekly `tessera_train_predictors` DAG does the same."""
    from tessera.predictions.training import describe, train_from_warehouse

    home = _writable_home()
    try:
        with console.status("training the predictors…"):
            predictors, report = train_from_warehouse(home)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    for line in describe(predictors, report):
        _say(line)
    _say("the next `tessera transform` scores every buyer with it")


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
            _say(f"generated files are current ({len(registry().sources)} sources)")
            return
        written = write_files(registry(), root)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    for path in written:
        _say(f"wrote {path.relative_to(root)}")
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
        _say(f"{name}: {path}")


@app.command("dbt-parse")
def dbt_parse(force: Annotated[bool, typer.Option(help="Parse even when the manifest is current.")] = False) -> None:
    """Write the dbt manifest the transform DAG renders from (`make install` runs this)."""
    from tessera.dbt_runner import parse_project

    home = _writable_home()
    try:
        path = parse_project(home, force=force)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    _say(f"dbt manifest written to {path}")


def _print_marts(home) -> None:
    from tessera.publication import published_path
    from tessera.warehouse import mart_counts

    counts = mart_counts(home)
    _say(
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
        table.add_row(escape(failure.expectation_type), escape(failure.column or ""), failure.severity, outcome)
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
    home = _writable_home()
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
            console.print(Text.assemble(("critical: ", "bold red"), result.message()), soft_wrap=True)
        elif result.warnings:
            console.print(Text.assemble(("warning: ", "yellow"), result.message()), soft_wrap=True)
    failed = [result for result in results if not result.passed]
    _say(f"Data Docs: {data_docs_index(home)}")
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
    _say(f"released {stream} batch {batch_id}: the next transform reads it ({path}; audit trail {releases_log(home)})")


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
            table.add_row(*(escape(str(v)) for v in (batch.stream, batch.batch_id, batch.held_at, batch.first_failure)))
        console.print(table)
    if data_docs_index(home).exists():
        _say(f"Data Docs: {data_docs_index(home)}")


def _print_matcher_fits(home) -> None:
    from transforms.identity.matching import FittedModels

    history = FittedModels(home.root / "matcher").history()
    if not history:
        console.print("The matcher has not been fitted to this warehouse's records yet (the next build does it).")
        return
    table = Table(title=f"Matcher fits ({escape(str(home.root / 'matcher'))})")
    for col in ("version", "fitted at", "how", "records", "why"):
        table.add_column(col, overflow="fold")
    for fit in history[-5:]:
        row = (fit["version"], fit["fitted_at"], fit.get("method", "estimated"), f"{fit['profile']['records']:,}",
               "; ".join(fit["reasons"]))  # fmt: skip
        table.add_row(*(Text(str(value)) for value in row))
    console.print(table)


def _print_predictors(home) -> None:
    from transforms.model_versions import ModelVersions

    history = ModelVersions(home.predictions).history()
    if not history:
        console.print("No predictors trained yet (the next build trains them, or `tessera train-predictors`).")
        return
    table = Table(title=f"Predictors ({escape(str(home.predictions))})")
    for col in ("version", "trained at", "as of", "churn from", "churn AUC", "notes"):
        table.add_column(col, overflow="fold")
    for entry in history[-5:]:
        auc = entry.get("churn_auc")
        row = (entry["version"], entry["trained_at"], entry["as_of"], entry["churn_source"].replace("_", " "),
               "n/a" if auc is None else f"{auc:.3f}", "; ".join(entry.get("notes") or []))  # fmt: skip
        table.add_row(*(Text(str(value)) for value in row))
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

    home = _writable_home()
    configure(home)
    results, failures = [], []
    try:
        chosen = activations(segment, destination)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    with Progress(console=console, transient=True) as bar:
        for activation in chosen:
            task = bar.add_task(escape(activation.name), total=None)

            def progress(change: str, done: int, total: int, task=task, name=activation.name) -> None:
                bar.update(task, description=escape(f"{name}: {change}"), completed=done, total=total)

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
        console.print(Text.assemble(("failed: ", "bold red"), failure), soft_wrap=True)
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
        table.add_row(escape(f"{row['segment']} → {row['destination']} ({row['mode']})"), escape(str(row["status"])), f"{row['members'] or 0:,}",
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
        table.add_row(*(escape(str(v)) for v in (r.segment, r.destination, r.mode, r.status)), f"{r.members:,}", *(f"{n:,}" for n in sent),
                      f"{r.invalid:,}", f"{r.rejected:,}", f"{r.retried:,}", f"{r.excluded:,}")  # fmt: skip
    console.print(table)
    for r in results:
        if r.location:
            _say(f"{r.segment} -> {r.destination}: {r.location}")
        for kind in ("invalid", "rejected"):
            for key, reason in r.samples[kind]:
                _say(f"  {kind} {key}: {reason}")


#: How long after a build its publication may come (the mart checks run in between); a publication later
#: than that is of another build, such as one the transform DAG ran in Airflow.
_PUBLISHED_WITHIN = timedelta(minutes=30)


def _print_last_build(home) -> None:
    """The warehouse's last build: when dbt last built here and what, and whether readers have it (the
    published marts and their rows). A build the transform DAG ran in Airflow shows as its publication."""
    from tessera.dbt_runner import last_build
    from tessera.publication import last_publication

    build, published = last_build(home), last_publication(home)
    if build is None and published is None:
        _say("The warehouse has not been built yet (tessera transform, or the transform DAG).")
        return
    if build is not None:
        outcome = "failed" if build.failures else "succeeded"
        since = published.published_at - build.finished_at if published is not None else None
        if since is None or since < timedelta(0):
            readers = "not published (a selection, a failed build or failed mart checks)"
        elif since <= _PUBLISHED_WITHIN:
            readers = "published"
        else:
            readers = "a later build was published since (the transform DAG's)"
        _say(f"Last dbt build: {build.finished_at:%Y-%m-%d %H:%M:%S} UTC, {outcome}, {build.describe()}; {readers}")
    if published is None:
        _say("Nothing is published: readers have no marts yet.")
        return
    tables = ", ".join(f"marts.{name} {rows:,}" for name, rows in sorted(published.tables.items()))
    _say(f"Published marts ({published.published_at:%Y-%m-%d %H:%M:%S} UTC, {published.path}): {tables}")


def _print_erasures(home) -> None:
    """The erasure requests served, from the audit log: how many, and the newest few with what they changed."""
    try:
        from tessera.audit import audit_entries
    except ImportError:  # an installation without the audit log has served none through it
        return
    served = audit_entries(home, "erasure")
    if not served:
        _say("No erasure request has been served.")
        return
    table = Table(title=f"Erasure requests served: {len(served):,} (newest {min(len(served), 5)})")
    for column in ("at (UTC)", "request", "outcome", "changes", "by"):
        table.add_column(column, overflow="fold")
    for entry in reversed(served[-5:]):
        details = entry.get("details") or {}
        counts = details.get("counts") or {}
        changes = ", ".join(f"{place} {n:,}" for place, n in counts.items() if isinstance(n, int) and n)
        at = (
            datetime.fromisoformat(entry["at"]).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if entry.get("at") else ""
        )
        row = (at, details.get("request", ""), details.get("outcome", ""), changes or "none")
        table.add_row(*(Text(str(v)) for v in (*row, entry.get("actor", ""))))
    console.print(table)


@app.command()
def status() -> None:
    """Show what the lake holds (batches, rows and quarantined records per stream), the warehouse's last
    build and what is published, held batches, the matcher's latest fits to the data, the predictors'
    versions, the newest sync of each segment to each destination, and the erasure requests served."""
    home = tessera_home()
    try:
        _print_lake(home)
        _print_last_build(home)
        _print_held(home)
        _print_matcher_fits(home)
        _print_predictors(home)
        _print_syncs_log(home)
        _print_erasures(home)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)


@app.command()
def report() -> None:
    """Write the run report: one HTML page with charts of the lake, the golden customers, identity
    resolution, segments, syncs and data quality (aggregates only; opens offline). Prints its path."""
    from tessera.report import LATEST, write_report

    home = tessera_home()
    try:
        with console.status("writing the run report…"):
            path = write_report(home)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    _say(f"Run report: {path} (also {path.with_name(LATEST)})")


@app.command()
def forget(
    email: Annotated[str | None, typer.Option("--email", help="The person's e-mail address.")] = None,
    phone: Annotated[str | None, typer.Option("--phone", help="The person's phone, with its country code.")] = None,
    crm_id: Annotated[str | None, typer.Option("--crm-id", help="The person's CRM contact id.")] = None,
    customer_id: Annotated[str | None, typer.Option("--customer-id", help="The person's customer id.")] = None,
) -> None:
    """Erase one person (right to be forgotten): every record of theirs in every source, from the lake,
    quarantine, both warehouses, the connector state, the text files and the destinations; their hashed
    identifiers go on the suppression list so later extractions drop them. Exactly one option. Prints counts,
    never the identifier."""
    from tessera.erasure import forget as forget_person
    from tessera.erasure import parse_request

    named = [(kind, value) for kind, value in
             (("email", email), ("phone", phone), ("crm_id", crm_id), ("customer_id", customer_id)) if value is not None]  # fmt: skip
    if len(named) != 1:
        _fail(ValueError("give exactly one of --email, --phone, --crm-id, --customer-id"))
    home = tessera_home()
    try:
        request = parse_request(*named[0])
        report = forget_person(home, request)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    _say(f"Erasure request {request.describe()}: {report.outcome}")
    table = Table(title=f"{report.changes:,} changes")
    table.add_column("place")
    table.add_column("count", justify="right")
    for place, count in report.counts.items():
        table.add_row(escape(place), f"{count:,}")
    console.print(table)
    unfinished = [s for s in report.destinations if s.get("status") in ("pending", "busy")]
    for summary in report.destinations:
        _say(f"  {summary.get('segment')} → {summary.get('destination')}: {summary.get('status')}")
    if unfinished:
        _fail(
            RuntimeError(
                f"{len(unfinished)} destination(s) did not confirm the erasure yet (pending or busy): serve the "
                "same request again to finish it; what is done stays done"
            )
        )


if __name__ == "__main__":
    sys.exit(app())
