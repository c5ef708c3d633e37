"""A logger configured by `tessera.logs` masks what it writes, in one format, where the layout says."""

from __future__ import annotations

import logging
import os
import re
import time

import pytest

from tessera import logs
from tessera.home import TesseraHome

pytestmark = pytest.mark.unit

EMAIL, PHONE = "jane.doe@example.com", "+4915112345678"
LINE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: ")


@pytest.fixture
def restore_logging():
    """`configure_logging` replaces the root logger's handlers: give the next test the ones it had."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
    logs._installed.clear()


def test_a_command_logs_masked_lines_in_one_format_to_its_file(tmp_path, restore_logging, capsys):
    home = TesseraHome(tmp_path / "home")
    path = logs.configure_logging(logging.WARNING, home=home, command="sync")

    assert path is not None and path.parent == home.root / "logs" / "cli" and path.name.startswith("sync-")
    log = logging.getLogger("connectors.destinations.test")
    log.info("sent %s (phone %s) to the CRM", EMAIL, PHONE)
    log.warning("refused %s", EMAIL)
    try:
        raise ValueError(f"bad address {EMAIL}, phone {PHONE}")
    except ValueError:
        log.exception("destination failed for %s", PHONE)
    for handler in logging.getLogger().handlers:
        handler.flush()

    written = path.read_text()
    console = capsys.readouterr().err
    for text in (written, console):
        assert EMAIL not in text and PHONE not in text
        assert "j***@example.com" in text and "+49********678" in text
        assert "ValueError: bad address j***@example.com, phone +49********678" in text
    # INFO goes to the file only; the console shows warnings and errors.
    assert "sent j***@example.com (phone +49********678) to the CRM" in written
    assert "sent j***@example.com" not in console
    assert all(LINE.match(line) for line in written.splitlines() if not line.startswith(("Traceback", " ", "Value")))


def test_matcher_fitting_notes_go_to_the_file_not_the_console(tmp_path, restore_logging, capsys):
    home = TesseraHome(tmp_path / "home")
    path = logs.configure_logging(logging.WARNING, home=home, command="transform")
    logging.getLogger("splink.internals.expectation_maximisation").warning("Level exact not observed in dataset")
    logging.getLogger("splink.internals.linker").error("Splink could not compute the blocked pairs")
    logging.getLogger("transforms.identity.matching.fitting").warning("matcher: fit version 2 estimated")
    for handler in logging.getLogger().handlers:
        handler.flush()

    written, console = path.read_text(), capsys.readouterr().err
    assert "not observed in dataset" in written and "not observed in dataset" not in console
    for line in ("could not compute the blocked pairs", "matcher: fit version 2 estimated"):
        assert line in written and line in console


def test_configuring_again_leaves_one_console_handler_and_drops_basic_config(tmp_path, restore_logging):
    logging.basicConfig(force=False)
    logs.configure_logging(logging.WARNING)
    logs.configure_logging(logging.INFO)
    console = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    assert len(console) == 1 and console[0].level == logging.INFO
    assert console[0].formatter._fmt == logs.LOG_FORMAT


def test_dbt_log_file_is_masked_through_dbts_own_logger(tmp_path, restore_logging):
    """dbt writes its log file with a `logging` logger whose handlers it replaces on every invocation: the
    filter sits on the logger, so it outlives them."""
    from dbt_common.events.base_types import EventLevel
    from dbt_common.events.logger import LoggerConfig, _TextLogger, send_to_logger

    logs.mask_dbt_logs()
    path = tmp_path / "dbt.log"
    dbt_file_log = _TextLogger(LoggerConfig(name="file_log", output_file_name=str(path), level=EventLevel.DEBUG))
    send_to_logger(dbt_file_log._python_logger, "info", f"Failure in test not_null: {EMAIL} {PHONE}")
    dbt_file_log.flush()

    assert path.read_text().strip() == "Failure in test not_null: j***@example.com +49********678"


def test_structlog_events_of_a_task_process_are_masked(restore_logging):
    import structlog

    rendered: list[str] = []
    structlog.configure(
        processors=[structlog.processors.KeyValueRenderer()],
        logger_factory=structlog.ReturnLoggerFactory(),
        cache_logger_on_first_use=False,
    )
    try:
        logs.mask_task_logs()
        logs.mask_task_logs()  # once is enough, twice changes nothing
        assert structlog.get_config()["processors"].count(logs.mask_event_dict) == 1
        rendered.append(structlog.get_logger().info("refused", email=EMAIL, detail={"phone": PHONE}))
    finally:
        structlog.reset_defaults()
    assert EMAIL not in rendered[0] and PHONE not in rendered[0]
    assert "j***@example.com" in rendered[0] and "+49********678" in rendered[0]


def test_old_runs_and_command_logs_are_pruned_by_count_and_age(tmp_path, monkeypatch):
    home = TesseraHome(tmp_path / "home")
    monkeypatch.setenv(logs.KEEP_RUNS_VARIABLE, "2")
    monkeypatch.setenv(logs.KEEP_DAYS_VARIABLE, "7")
    now = time.time()
    runs = []
    for age_days in (0, 1, 2, 3):
        run = logs.task_log_path(home, "tessera_transform", f"manual__day{age_days}", "publish_marts").parent
        run.mkdir(parents=True)
        (run / "publish_marts.log").write_text("ok\n")
        os.utime(run, (now - age_days * 86400, now - age_days * 86400))
        runs.append(run)
    old = logs.task_log_path(home, "tessera_extract_crm", "scheduled__old", "extract_contacts").parent
    old.mkdir(parents=True)
    os.utime(old, (now - 8 * 86400, now - 8 * 86400))
    cli = logs.cli_logs_dir(home)
    cli.mkdir(parents=True)
    for i in range(3):
        for name in (f"demo-2026010{i}T000000Z.log", f"demo-2026010{i}T000000Z.log.1"):
            (cli / name).write_text("x\n")
            os.utime(cli / name, (now - i * 60, now - i * 60))

    removed = logs.prune_task_logs(home)
    assert sorted(removed) == sorted([runs[2], runs[3], old])
    assert [p.exists() for p in runs] == [True, True, False, False]
    logs.prune_command_logs(home)
    assert sorted(p.name for p in cli.iterdir()) == [
        "demo-20260100T000000Z.log", "demo-20260100T000000Z.log.1",
        "demo-20260101T000000Z.log", "demo-20260101T000000Z.log.1",
    ]  # fmt: skip


def test_settings_name_the_variable_and_the_default_when_wrong(monkeypatch):
    monkeypatch.setenv(logs.KEEP_RUNS_VARIABLE, "many")
    with pytest.raises(ValueError, match=r"TESSERA_LOG_KEEP_RUNS='many' is not a whole number \(the default is 20\)"):
        logs.keep_runs()
