"""Tessera's logs: one format, e-mails and phones masked, kept under `$TESSERA_HOME/logs/` per run and task.

Layout (the defaults of the settings below are in `docs/deploy.md`):

    logs/airflow/<dag_id>/<run_id>/<task_id>.log   one file per task run (the embedded default and a deployment)
    logs/cli/<command>-<timestamp>.log             one file per `tessera` command
    logs/dbt/dbt.log                               dbt's own log, rotated by dbt (5 backups of `TESSERA_LOG_MAX_BYTES`)

Masking happens where a line is made, not afterwards: a `logging.Filter` (`PiiMaskingFilter`) on every handler
Tessera installs and on dbt's two loggers (`file_log`, `stdout_log`: dbt writes its log file through the
standard `logging` module, so its events are masked before they reach the file and no finished file has to be
rewritten), and a structlog processor in Airflow task processes. `connectors.masking.mask_text` decides what an
e-mail or a phone number looks like.

Airflow's `dag.test()` runs tasks in the calling process and writes no task log file; `route_airflow_logging`
sends Airflow's structlog loggers through `logging`, and `TaskLogFiles`, an Airflow listener, gives each task
run its file for as long as it runs. A deployment's workers write task logs themselves, under
`AIRFLOW__LOGGING__BASE_LOG_FOLDER` with `AIRFLOW__LOGGING__LOG_FILENAME_TEMPLATE` (`airflow_log_settings`).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import shutil
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pluggy

from connectors.masking import mask_text
from tessera.home import TesseraHome

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

#: Settings, from the environment: how many runs (per DAG) or command logs (per command) to keep, for how many
#: days, and how large a log file grows before it is rotated.
KEEP_RUNS_VARIABLE = "TESSERA_LOG_KEEP_RUNS"
KEEP_DAYS_VARIABLE = "TESSERA_LOG_KEEP_DAYS"
MAX_BYTES_VARIABLE = "TESSERA_LOG_MAX_BYTES"
DEFAULT_KEEP_RUNS = 20
DEFAULT_KEEP_DAYS = 30
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
#: Rotated files kept beside a log file (dbt keeps 5 too, and cannot be told otherwise).
BACKUP_COUNT = 5

#: The name of each log file of a task run, under the Airflow log folder (Airflow's template syntax).
AIRFLOW_LOG_FILENAME_TEMPLATE = (
    "{{ ti.dag_id }}/{{ ti.run_id }}/{{ ti.task_id }}{% if ti.map_index >= 0 %}.{{ ti.map_index }}{% endif %}.log"
)

#: Libraries that log what only their developers need at INFO.
QUIET_LOGGERS = ("great_expectations._docs_decorators",)
#: Loggers whose warnings go to the log files only (see `_not_for_the_console`).
CONSOLE_QUIET_PREFIXES = ("splink",)

#: dbt's loggers: its log file and its console output.
DBT_LOGGERS = ("file_log", "stdout_log")

log = logging.getLogger(__name__)


def logs_dir(home: TesseraHome) -> Path:
    return home.root / "logs"


def airflow_logs_dir(home: TesseraHome) -> Path:
    """Airflow's `base_log_folder`: task logs by DAG, run and task."""
    return logs_dir(home) / "airflow"


def dbt_logs_dir(home: TesseraHome) -> Path:
    """dbt's `--log-path`, for the CLI and for the transform DAG's dbt tasks alike."""
    return logs_dir(home) / "dbt"


def cli_logs_dir(home: TesseraHome) -> Path:
    return logs_dir(home) / "cli"


def _setting(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        parsed = int(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a whole number (the default is {default})") from None
    if parsed < 0:
        raise ValueError(f"{name}={value!r} must not be negative (the default is {default})")
    return parsed


def keep_runs() -> int:
    return _setting(KEEP_RUNS_VARIABLE, DEFAULT_KEEP_RUNS)


def keep_days() -> int:
    return _setting(KEEP_DAYS_VARIABLE, DEFAULT_KEEP_DAYS)


def max_bytes() -> int:
    return _setting(MAX_BYTES_VARIABLE, DEFAULT_MAX_BYTES)


def airflow_log_settings(home: TesseraHome) -> dict[str, str]:
    """Airflow's task log location, as environment variables: every task run writes one file under the home."""
    return {
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(airflow_logs_dir(home)),
        "AIRFLOW__LOGGING__LOG_FILENAME_TEMPLATE": AIRFLOW_LOG_FILENAME_TEMPLATE,
    }


def dbt_log_settings(home: TesseraHome) -> dict[str, str]:
    """dbt's log folder and rotation, as the environment variables dbt reads (`DBT_LOG_PATH`, …): Cosmos runs
    dbt in a temporary copy of the project, whose own `logs/` would be deleted with it."""
    return {
        "DBT_LOG_PATH": str(dbt_logs_dir(home)),
        "DBT_LOG_FILE_MAX_BYTES": str(max_bytes()),
        # Readable lines whoever runs dbt (Cosmos asks for JSON on the console, which the file would follow).
        "DBT_LOG_FORMAT_FILE": "debug",
        "DBT_USE_COLORS_FILE": "False",
    }


# --- masking --------------------------------------------------------------------------------------------------


def _redact_secrets(text: str) -> str:
    """Airflow's own secret masking (connection passwords, tokens), when Airflow is loaded: a handler Tessera
    installs replaces Airflow's, which did this."""
    masker = sys.modules.get("airflow.sdk._shared.secrets_masker")
    if masker is None:
        return text
    try:
        return masker.redact(text)
    except Exception:  # noqa: BLE001 - masking must never lose the line
        return text


def mask_line(text: str) -> str:
    return _redact_secrets(mask_text(text))


class PiiMaskingFilter(logging.Filter):
    """Masks e-mails and phone numbers (and Airflow's secrets) in a record's message, exception and stack,
    before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is the caller's bug; log what there is
            message = f"{record.msg} {record.args}"
        record.msg, record.args = mask_line(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_line(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_line(record.stack_info)
        return True


def mask_event_dict(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """The same masking as a structlog processor, for Airflow's structlog loggers in a task process."""
    return _mask_value(event_dict)


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_line(value)
    if isinstance(value, dict):
        return {key: _mask_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_mask_value(item) for item in value)
    return value


def _masking_filter(owner: logging.Filterer) -> None:
    if not any(isinstance(f, PiiMaskingFilter) for f in owner.filters):
        owner.addFilter(PiiMaskingFilter())


def mask_dbt_logs() -> None:
    """Mask dbt's log file and console output: dbt writes both through these `logging` loggers, and replaces
    their handlers on every invocation but keeps a filter set on the logger itself."""
    for name in DBT_LOGGERS:
        _masking_filter(logging.getLogger(name))


def formatter() -> logging.Formatter:
    """The one format of every log line Tessera writes, on the console and in files, times in UTC."""
    formatter = logging.Formatter(LOG_FORMAT, DATE_FORMAT)
    formatter.converter = time.gmtime
    return formatter


def _handler(handler: logging.Handler, level: int = logging.NOTSET) -> logging.Handler:
    handler.setFormatter(formatter())
    handler.setLevel(level)
    _masking_filter(handler)
    handler._tessera = True  # type: ignore[attr-defined]
    return handler


def _rotating_file(path: Path, level: int = logging.INFO) -> logging.Handler:
    path.parent.mkdir(parents=True, exist_ok=True)
    rotating = logging.handlers.RotatingFileHandler(
        path, maxBytes=max_bytes(), backupCount=BACKUP_COUNT, encoding="utf-8", delay=True
    )
    return _handler(rotating, level)


# --- processes: the CLI, Airflow task processes ------------------------------------------------------------------

_installed: list[logging.Handler] = []


def configure_logging(
    console_level: int = logging.WARNING, home: TesseraHome | None = None, command: str | None = None
) -> Path | None:
    """Log to the console at `console_level` and, for a command, to `logs/cli/<command>-<timestamp>.log` at
    INFO (or `console_level` when lower), all in one format and masked. Returns the command's log file.

    Replaces the handlers this function installed before (a test may run several commands in one process),
    and, for a command, prunes old command logs and task logs (`TESSERA_LOG_KEEP_RUNS`, `TESSERA_LOG_KEEP_DAYS`)."""
    root = logging.getLogger()
    for handler in _installed:
        root.removeHandler(handler)
        handler.close()
    _installed.clear()
    _remove_console_handlers(root)
    console = _handler(logging.StreamHandler(sys.stderr), console_level)
    console.addFilter(_not_for_the_console)
    _installed.append(console)
    path = None
    file_level = min(console_level, logging.INFO)
    if home is not None and command:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        try:
            _installed.append(_rotating_file(cli_logs_dir(home) / f"{command}-{stamp}.log", file_level))
            path = cli_logs_dir(home) / f"{command}-{stamp}.log"
            prune_command_logs(home)
            prune_task_logs(home)
        except OSError:  # an unwritable home: the command itself says so, in one line; log to the console only
            pass
    _put_first(root, _installed)
    root.setLevel(min(console_level, file_level))
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(console_level, logging.WARNING))
    mask_dbt_logs()
    return path


def _not_for_the_console(record: logging.LogRecord) -> bool:
    """Splink's model-fitting notes ("level not observed in dataset, unable to train m value") are for whoever
    tunes the matcher: they stay in the log files, and the console keeps what a run's user acts on."""
    return not (record.name.startswith(CONSOLE_QUIET_PREFIXES) and record.levelno < logging.ERROR)


def _remove_console_handlers(root: logging.Logger) -> None:
    """Drop the console handlers others installed (`logging.basicConfig`'s, Airflow's): one format only. Other
    kinds of handler (a test runner's capture) stay."""
    for handler in list(root.handlers):
        if type(handler) is logging.StreamHandler and not getattr(handler, "_tessera", False):
            root.removeHandler(handler)


def _put_first(root: logging.Logger, handlers: list[logging.Handler]) -> None:
    """Before the handlers others added (a test runner's capture): the first masking filter a record meets
    masks it for every handler after it."""
    others = [h for h in root.handlers if h not in handlers]
    for handler in others:
        root.removeHandler(handler)
    for handler in [*handlers, *others]:
        root.addHandler(handler)


def reinstate_handlers() -> None:
    """Put back the handlers `configure_logging` installed (or install the console's): importing Airflow
    replaces the root logger's handlers with its own (another format, unmasked)."""
    root = logging.getLogger()
    if not _installed:
        configure_logging()
        return
    _remove_console_handlers(root)
    _put_first(root, [h for h in _installed if h not in root.handlers])
    mask_dbt_logs()


def route_airflow_logging() -> None:
    """In a process that runs Airflow tasks itself (`dag.test()`), send Airflow's structlog loggers through
    `logging`, so task output reaches the same masked handlers, in the same format, as everything else."""
    import structlog

    reinstate_handlers()
    structlog.configure(
        processors=[structlog.stdlib.PositionalArgumentsFormatter(), _to_logging_call],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


_STRUCTLOG_KEYS_NOT_SHOWN = frozenset({"logger_name", "timestamp", "level", "logger", "positional_args"})


def _to_logging_call(logger: Any, method_name: str, event_dict: dict[str, Any]) -> tuple[tuple, dict]:
    """structlog's event as one `logging` call: the event, then its context as `key=value`."""
    exc_info = event_dict.pop("exc_info", None)
    event = str(event_dict.pop("event", ""))
    context = " ".join(
        f"{key}={value}"
        for key, value in event_dict.items()
        if key not in _STRUCTLOG_KEYS_NOT_SHOWN and not key.startswith("_")
    )
    message = f"{event} {context}" if context else event
    return (message,), ({"exc_info": exc_info} if exc_info else {})


def mask_task_logs() -> None:
    """In an Airflow task process (a deployment's worker): mask what the task logs before it leaves the
    process. Its `logging` records pass the root logger's handlers; its structlog events pass structlog's
    processors, where the masking goes just before the renderer."""
    for handler in logging.getLogger().handlers:
        _masking_filter(handler)
    mask_dbt_logs()
    structlog = sys.modules.get("structlog")
    if structlog is None:
        return
    processors = structlog.get_config().get("processors")
    if isinstance(processors, list) and mask_event_dict not in processors:
        processors.insert(max(len(processors) - 1, 0), mask_event_dict)


# --- task log files under dag.test() -------------------------------------------------------------------------


def task_log_path(home: TesseraHome, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Path:
    """Where a task run's log goes: the same place a deployment's workers write it (`AIRFLOW_LOG_FILENAME_TEMPLATE`)."""
    suffix = f".{map_index}" if map_index is not None and map_index >= 0 else ""
    return airflow_logs_dir(home) / dag_id / run_id.replace("/", "_") / f"{task_id}{suffix}.log"


#: Marks a listener's hooks for Airflow's plugin manager (what `airflow.listeners.hookimpl` is), without
#: importing Airflow with this module.
_airflow_hookimpl = pluggy.HookimplMarker("airflow")


class TaskLogFiles:
    """An Airflow listener: while a task runs in this process, everything logged goes to its own file too.

    Airflow calls `on_task_instance_running` when the task starts and `before_stopping` once its callbacks
    (success, failure) have run, so a failed task's file holds its error and the alert."""

    def __init__(self, home: TesseraHome) -> None:
        self.home = home
        self.current: logging.Handler | None = None

    @_airflow_hookimpl
    def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
        self._close()
        path = task_log_path(
            self.home, task_instance.dag_id, task_instance.run_id, task_instance.task_id,
            getattr(task_instance, "map_index", -1),
        )  # fmt: skip
        self.current = _rotating_file(path, logging.INFO)
        logging.getLogger().addHandler(self.current)
        if logging.getLogger().level > logging.INFO:
            logging.getLogger().setLevel(logging.INFO)
        log.info(
            "task %s.%s of run %s, try %s", task_instance.dag_id, task_instance.task_id, task_instance.run_id,
            getattr(task_instance, "try_number", "?"),
        )  # fmt: skip

    @_airflow_hookimpl
    def before_stopping(self, component: Any) -> None:
        self._close()

    def _close(self) -> None:
        if self.current is not None:
            logging.getLogger().removeHandler(self.current)
            self.current.close()
            self.current = None


_task_log_files: TaskLogFiles | None = None


def write_task_logs(home: TesseraHome) -> None:
    """Give each task that `dag.test()` runs in this process its log file under `home` (registered once)."""
    global _task_log_files
    from airflow.sdk.listener import get_listener_manager

    prune_task_logs(home)
    if _task_log_files is not None and _task_log_files.home == home:
        return
    manager = get_listener_manager()
    if _task_log_files is not None:
        manager.pm.unregister(_task_log_files)
    _task_log_files = TaskLogFiles(home)
    manager.add_listener(_task_log_files)


# --- pruning ------------------------------------------------------------------------------------------------


def _too_old(path: Path, days: int, now: float) -> bool:
    return days > 0 and now - path.stat().st_mtime > days * 86400


def _prune(entries: Iterable[Path], runs: int, days: int) -> list[Path]:
    """Beyond the newest `runs` (0: no limit), or older than `days` (0: no limit)."""
    now = time.time()
    newest_first = sorted(entries, key=lambda p: p.stat().st_mtime, reverse=True)
    removed = [p for i, p in enumerate(newest_first) if (runs and i >= runs) or _too_old(p, days, now)]
    for path in removed:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return removed


def prune_task_logs(home: TesseraHome) -> list[Path]:
    """Keep each DAG's newest `TESSERA_LOG_KEEP_RUNS` runs, none older than `TESSERA_LOG_KEEP_DAYS` days."""
    removed: list[Path] = []
    folder = airflow_logs_dir(home)
    if folder.is_dir():
        for dag_folder in (p for p in folder.iterdir() if p.is_dir()):
            removed += _prune((p for p in dag_folder.iterdir() if p.is_dir()), keep_runs(), keep_days())
    return removed


def prune_command_logs(home: TesseraHome) -> list[Path]:
    """Keep each command's newest `TESSERA_LOG_KEEP_RUNS` logs, none older than `TESSERA_LOG_KEEP_DAYS` days."""
    folder = cli_logs_dir(home)
    if not folder.is_dir():
        return []
    by_command: dict[str, list[Path]] = {}
    for path in folder.glob("*-*.log*"):
        by_command.setdefault(path.name.rsplit("-", 1)[0], []).append(path)
    removed: list[Path] = []
    for paths in by_command.values():
        removed += _prune((p for p in paths if p.suffix == ".log"), keep_runs(), keep_days())
    for backup in folder.glob("*.log.*"):  # what rotation left of a log that is gone
        if not backup.with_suffix("").exists():
            backup.unlink(missing_ok=True)
            removed.append(backup)
    return removed
