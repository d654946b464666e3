"""Training on a Ray cluster: with ``CNNVIZ_RAY_ADDRESS`` set, each queued job runs as a Ray task.

The job table in ``CNNVIZ_HOME`` stays the truth. Whoever polls the table (a web server's
:class:`cnnviz.training.jobs.JobManager`, ``python -m cnnviz train --wait``, ``jobs work``) hands
queued jobs to Ray in queue order, no more than the table's cap leaves room for; each task reserves
``CNNVIZ_RAY_CPUS_PER_JOB`` CPUs, so Ray's scheduler queues them against the cluster's capacity.
A task claims its job by id in one transaction (of two dispatchers handing over the same job, one
task trains it and the other returns at once) and trains it through
:func:`cnnviz.training.worker.run_job`, the warm local workers' code: progress, stop within a batch,
checkpoints and the saved run are the same. Runs, data and checkpoints are files in the shared
``CNNVIZ_HOME`` (the same path on every machine); the SQLite table is reached through a
:class:`TableService` actor on the dispatcher's machine, because SQLite's WAL mode must not be
shared over a network filesystem.

A task that dies (its worker killed, out of memory, its node lost) is seen by the dispatcher that
submitted it, through its ``ObjectRef``; if that dispatcher is gone too (Ray ends a driver's tasks
with it), the job's heartbeat stops and :meth:`JobTable.reap` ends it after
:data:`~cnnviz.training.jobtable.HEARTBEAT_TIMEOUT_S`. Only Ray's public API is used.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cnnviz.errors import InvalidArgument
from cnnviz.training import jobtable, worker
from cnnviz.training.jobtable import JobTable

log = logging.getLogger("cnnviz.training.cluster")

#: The Ray cluster to train on ("host:port" of its head, or "auto"); unset: local workers.
ADDRESS_ENV = "CNNVIZ_RAY_ADDRESS"
#: CPUs each job reserves on the cluster (TensorFlow is told to use as many threads).
CPUS_ENV = "CNNVIZ_RAY_CPUS_PER_JOB"
DEFAULT_CPUS_PER_JOB = 2
#: The Ray namespace of cnnviz's tasks.
NAMESPACE = "cnnviz"
#: Seconds between a task's heartbeats (well under the table's timeout).
HEARTBEAT_S = 5.0
#: Seconds before a failed connection to the cluster is tried again.
CONNECT_RETRY_S = 30.0
#: What a task returns when another one had its job already (or the cap was full).
NOT_CLAIMED = "not claimed"


def address() -> str | None:
    """``$CNNVIZ_RAY_ADDRESS``, or None when jobs train in local workers."""
    return os.environ.get(ADDRESS_ENV, "").strip() or None


def cpus_per_job() -> float:
    """``$CNNVIZ_RAY_CPUS_PER_JOB`` (default :data:`DEFAULT_CPUS_PER_JOB`)."""
    text = os.environ.get(CPUS_ENV, "").strip()
    if not text:
        return DEFAULT_CPUS_PER_JOB
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise InvalidArgument(f"{CPUS_ENV} must be a number of CPUs > 0, got {text!r}")
    return value


# --- the Ray side ------------------------------------------------------------------------------
class TableService:
    """The job table served by a Ray actor on the machine that holds ``jobs.sqlite3``.

    SQLite in WAL mode must only be opened by processes of one machine (it shares memory between
    them), so tasks on other machines reach the table through this actor, never through the
    network filesystem; the dispatcher pins it to its own machine. Calls run in threads
    (``max_concurrency``): every :class:`JobTable` call opens its own connection.
    """

    def __init__(self, path: str) -> None:
        self._table = JobTable(Path(path))

    def claim_job(self, job_id: str, token: str, pid: int):
        return self._table.claim_job(job_id, token=token, pid=pid)

    def heartbeat(self, job_id: str, token: str) -> None:
        self._table.heartbeat(job_id, token)

    def publish(self, job_id: str, progress) -> bool:
        return self._table.publish(job_id, progress)

    def stop_requested(self, job_id: str) -> bool:
        return self._table.stop_requested(job_id)

    def finish(self, job_id: str, outcome: dict) -> None:
        self._table.finish(job_id, **outcome)


class RemoteTable:
    """What :func:`cnnviz.training.worker.run_job` needs of a :class:`JobTable`, through the
    :class:`TableService` actor ``service``."""

    def __init__(self, service) -> None:
        self._service = service

    def _call(self, method: str, *args):
        import ray  # loaded: this runs in a Ray worker

        return ray.get(getattr(self._service, method).remote(*args))

    def claim_job(self, job_id: str, *, token: str, pid: int):
        return self._call("claim_job", job_id, token, pid)

    def heartbeat(self, job_id: str, token: str) -> None:
        self._call("heartbeat", job_id, token)

    def publish(self, job_id: str, progress) -> bool:
        return self._call("publish", job_id, progress)

    def stop_requested(self, job_id: str) -> bool:
        return self._call("stop_requested", job_id)

    def finish(self, job_id: str, **outcome) -> None:
        self._call("finish", job_id, outcome)


def train_job(home: str, service, job_id: str, token: str, cpus: float) -> str:
    """The Ray task: claim job ``job_id`` through the table's actor ``service`` as worker ``token`` and
    train it with ``home`` (the shared CNNVIZ_HOME) for runs, data and checkpoints; returns its final
    state (or :data:`NOT_CLAIMED`). Runs in a Ray worker process, never in the dispatcher."""
    os.environ["CNNVIZ_HOME"] = home
    threads = str(max(1, int(cpus)))
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", threads)  # TensorFlow reads them at its first use
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", threads)
    table = RemoteTable(service)
    job = table.claim_job(job_id, token=token, pid=os.getpid())
    if job is None:
        return NOT_CLAIMED
    done = threading.Event()

    def beat() -> None:
        while not done.wait(HEARTBEAT_S):
            table.heartbeat(job_id, token)

    threading.Thread(target=beat, name=f"cnnviz-heartbeat-{job_id}", daemon=True).start()
    try:
        return worker.run_job(table, job)
    finally:
        done.set()


# --- the dispatcher's side -----------------------------------------------------------------------
@dataclass
class _Submitted:
    job_id: str
    token: str  # the task's worker token in the table
    ref: object  # ray.ObjectRef


class Dispatcher:
    """Hands one ``CNNVIZ_HOME``'s queued jobs to a Ray cluster and watches the tasks it submitted.

    Thread-safe. The process becomes a Ray driver at the first dispatch (``ray.init``).
    """

    def __init__(self, home: Path, ray_address: str) -> None:
        self.home = Path(home)
        self.address = ray_address
        self._lock = threading.Lock()
        self._submitted: dict[str, _Submitted] = {}
        self._remote = None  # train_job as a Ray remote function, made once
        self._connected = False
        self._connecting: threading.Thread | None = None
        self._retry_at = 0.0

    def dispatch(self, table: JobTable) -> None:
        """End jobs whose task died, then submit queued jobs while the cap leaves room."""
        with self._lock:
            self._check(table)
            queued = table.jobs(("queued",))
            if not queued:
                return
            ray = self._connect()
            if ray is None:
                return  # not connected yet: the jobs wait in the queue
            running = len(table.jobs(("running",)))
            waiting = sum(1 for s in self._submitted.values() if _queued(table, s.job_id))
            room = table.max_jobs() - running - waiting
            self._remote = self._remote or ray.remote(train_job)
            service = None
            cpus = cpus_per_job()
            for status in queued:
                if room <= 0:
                    break
                if status.job_id in self._submitted:
                    continue
                service = service or self._service(ray, table)
                token = f"{jobtable.REMOTE_TOKEN_PREFIX}{secrets.token_hex(8)}"
                ref = self._remote.options(num_cpus=cpus, max_retries=0, name=f"cnnviz-job-{status.job_id}").remote(
                    str(self.home), service, status.job_id, token, cpus)
                self._submitted[status.job_id] = _Submitted(status.job_id, token, ref)
                log.info("job %s handed to the Ray cluster at %s (%g CPUs)", status.job_id, self.address, cpus)
                room -= 1

    def submitted(self) -> list[str]:
        """Ids of the jobs whose task this dispatcher submitted and has not seen end."""
        with self._lock:
            return list(self._submitted)

    def close(self, table: JobTable) -> None:
        """Cancel this dispatcher's tasks (Ray would end them with the driver anyway); their running
        jobs end as "interrupted"."""
        with self._lock:
            items, self._submitted = list(self._submitted.values()), {}
            if not items:
                return
            ray = sys.modules["ray"]  # loaded: there were tasks
            for item in items:
                ray.cancel(item.ref, force=True)
            for item in items:
                table.end_if_running(item.job_id, item.token, state="interrupted",
                                     message=jobtable.INTERRUPTED_MESSAGE)

    def _connect(self):
        """Ray once this process is connected to the cluster, else None. The connection is made in a
        thread (``ray.init`` retries a wrong or down address for minutes): a page's poll never waits on it."""
        if self._connected:
            return sys.modules["ray"]
        now = time.monotonic()
        if (self._connecting is None or not self._connecting.is_alive()) and now >= self._retry_at:
            self._retry_at = now + CONNECT_RETRY_S
            self._connecting = threading.Thread(target=self._init, name="cnnviz-ray-connect", daemon=True)
            self._connecting.start()
        return None

    def _init(self) -> None:
        try:
            # Imported here only (1.7 s measured): a laptop without CNNVIZ_RAY_ADDRESS never loads Ray.
            import ray

            if not ray.is_initialized():
                ray.init(address=self.address, namespace=NAMESPACE, log_to_driver=False,
                         logging_level=logging.WARNING)
            self._connected = True
            log.info("connected to the Ray cluster at %s: %s", self.address, ray.cluster_resources())
        except Exception:  # a wrong address, a cluster of another Ray version: the jobs wait, the server says why
            log.exception("could not connect to the Ray cluster at %s (%s); trying again in %g s",
                          self.address, ADDRESS_ENV, CONNECT_RETRY_S)

    def _service(self, ray, table: JobTable):
        """The table's actor on this machine (one per machine and table, shared by its servers;
        detached: it outlives a server's restart, and the tasks that use it)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # ray is loaded by now

        node = ray.get_runtime_context().get_node_id()
        where = hashlib.sha256(f"{node} {table.path.resolve()}".encode()).hexdigest()[:16]
        return ray.remote(TableService).options(
            name=f"cnnviz-table-{where}", namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
            num_cpus=0, max_concurrency=32, scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
        ).remote(str(table.path))

    def _check(self, table: JobTable) -> None:
        """Forget tasks that ended; a task that died leaves its running job "failed"."""
        ray = self._connect()
        if not self._submitted or ray is None:
            return
        items = list(self._submitted.values())
        ready, _ = ray.wait([s.ref for s in items], num_returns=len(items), timeout=0)
        for item in items:
            if item.ref not in ready:
                continue
            del self._submitted[item.job_id]
            try:
                ray.get(item.ref)
            except ray.exceptions.RayError as err:  # the worker died, or the task raised
                log.warning("the Ray task of job %s ended abnormally: %s", item.job_id, err)
                table.end_if_running(item.job_id, item.token)


def _queued(table: JobTable, job_id: str) -> bool:
    status = table.status(job_id)
    return status is not None and status.state == "queued"


_dispatcher: Dispatcher | None = None
_dispatcher_lock = threading.Lock()


def dispatcher(home: Path) -> Dispatcher | None:
    """This process's dispatcher for ``home`` when ``CNNVIZ_RAY_ADDRESS`` is set, else None."""
    global _dispatcher
    where = address()
    if where is None:
        return None
    with _dispatcher_lock:
        if _dispatcher is None or _dispatcher.home != Path(home) or _dispatcher.address != where:
            _dispatcher = Dispatcher(home, where)
        return _dispatcher


def shutdown(table: JobTable | None = None) -> None:
    """Cancel this process's Ray tasks and leave the cluster (tests; a closing manager)."""
    global _dispatcher
    with _dispatcher_lock:
        item, _dispatcher = _dispatcher, None
    try:
        if item is not None and table is not None:
            item.close(table)
    finally:  # a table that cannot be used does not keep this process in the cluster
        ray = sys.modules.get("ray")
        if ray is not None and ray.is_initialized():
            ray.shutdown()
