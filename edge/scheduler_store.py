"""An APScheduler 3 job store on plain sqlite3, in the daemon's own database file.

APScheduler ships a SQLAlchemy store; this one keeps the same table layout and pickled job
state without importing SQLAlchemy (about 11 MB of resident memory on a box that idles
at ~75 MB). Job-store calls are rare (a job added, fired or removed), so the short
blocking writes on the loop thread are acceptable.
"""

from __future__ import annotations

import pickle
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores.base import BaseJobStore, ConflictingIdError, JobLookupError
from apscheduler.util import datetime_to_utc_timestamp, utc_timestamp_to_datetime

TABLE = "apscheduler_jobs"


class SqliteJobStore(BaseJobStore):  # type: ignore[misc]
    """Persistent jobs in table `apscheduler_jobs` (id, next_run_time, job_state)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._path = path
        self._conn: sqlite3.Connection | None = None

    def start(self, scheduler: Any, alias: str) -> None:
        """Open the connection and make sure the table exists."""
        super().start(scheduler, alias)
        self._conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=30)
        self._conn.execute("PRAGMA busy_timeout=30000")
        self._conn.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (id VARCHAR(191) PRIMARY KEY, next_run_time FLOAT, job_state BLOB NOT NULL)"
        )
        self._conn.execute(f"CREATE INDEX IF NOT EXISTS ix_{TABLE}_next_run_time ON {TABLE} (next_run_time)")

    @property
    def _db(self) -> sqlite3.Connection:
        assert self._conn is not None, "job store not started"
        return self._conn

    def lookup_job(self, job_id: str) -> Job | None:
        row = self._db.execute(f"SELECT job_state FROM {TABLE} WHERE id = ?", (job_id,)).fetchone()
        return self._reconstitute(row[0]) if row else None

    def get_due_jobs(self, now: datetime) -> list[Job]:
        return self._jobs("WHERE next_run_time <= ?", (datetime_to_utc_timestamp(now),))

    def get_next_run_time(self) -> datetime | None:
        row = self._db.execute(f"SELECT min(next_run_time) FROM {TABLE} WHERE next_run_time IS NOT NULL").fetchone()
        return utc_timestamp_to_datetime(row[0]) if row and row[0] is not None else None

    def get_all_jobs(self) -> list[Job]:
        jobs = self._jobs("", ())
        self._fix_paused_jobs_sorting(jobs)
        return jobs

    def add_job(self, job: Job) -> None:
        try:
            self._db.execute(
                f"INSERT INTO {TABLE} (id, next_run_time, job_state) VALUES (?, ?, ?)",
                (job.id, datetime_to_utc_timestamp(job.next_run_time), pickle.dumps(job.__getstate__(), pickle.HIGHEST_PROTOCOL)),
            )
        except sqlite3.IntegrityError:
            raise ConflictingIdError(job.id) from None

    def update_job(self, job: Job) -> None:
        cur = self._db.execute(
            f"UPDATE {TABLE} SET next_run_time = ?, job_state = ? WHERE id = ?",
            (datetime_to_utc_timestamp(job.next_run_time), pickle.dumps(job.__getstate__(), pickle.HIGHEST_PROTOCOL), job.id),
        )
        if cur.rowcount == 0:
            raise JobLookupError(job.id)

    def remove_job(self, job_id: str) -> None:
        if self._db.execute(f"DELETE FROM {TABLE} WHERE id = ?", (job_id,)).rowcount == 0:
            raise JobLookupError(job_id)

    def remove_all_jobs(self) -> None:
        self._db.execute(f"DELETE FROM {TABLE}")

    def shutdown(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _reconstitute(self, blob: bytes) -> Job:
        state = pickle.loads(blob)
        state["jobstore"] = self
        job = Job.__new__(Job)
        job.__setstate__(state)
        job._scheduler = self._scheduler
        job._jobstore_alias = self._alias
        return job

    def _jobs(self, where: str, params: tuple[Any, ...]) -> list[Job]:
        """Jobs in run-time order; a job that no longer unpickles (code moved) is logged and removed."""
        jobs, broken = [], []
        for job_id, blob in self._db.execute(f"SELECT id, job_state FROM {TABLE} {where} ORDER BY next_run_time", params):
            try:
                jobs.append(self._reconstitute(blob))
            except Exception:
                self._logger.exception('Unable to restore job "%s" -- removing it', job_id)
                broken.append(job_id)
        for job_id in broken:
            self._db.execute(f"DELETE FROM {TABLE} WHERE id = ?", (job_id,))
        return jobs
