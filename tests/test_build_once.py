"""Build once: a worker receives the validated suite with its task (no second reading nor
validation of the suite file), and a job builds its model once."""
from __future__ import annotations

import pickle
from pathlib import Path

import pytest

import toy_plugins
from zsbench import suite as suite_module
from zsbench.executors import PoolExecutor
from zsbench.jobs import Job
from zsbench.registry import Registry
from zsbench.run import run_suite
from zsbench.runner import JobTask, jobs_of
from zsbench.suite import load_suite


def test_a_worker_gets_the_validated_suite_not_the_file(
        toy_registry: Registry, write_suite, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_suite()
    suite = load_suite(path, registry=toy_registry)
    task = JobTask(suite=suite, run_dir=None, cache_root=None,
                   plugin_modules=[toy_plugins.__name__])
    worker = pickle.loads(pickle.dumps(task))  # what a pool worker unpickles
    path.unlink()  # the file is gone (e.g. a variant's temporary suite)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a worker read and validated the suite file again")

    monkeypatch.setattr(suite_module, "load_suite", refuse)
    job = jobs_of(suite)[0]
    result = worker(job)
    assert result.status == "ok", result.error
    assert worker.suite.name == suite.name and worker.suite.models == suite.models


def test_each_job_builds_its_model_once(toy_registry: Registry, write_suite, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    suite = load_suite(write_suite(), registry=toy_registry)
    built: list[str] = []
    create = Registry.create

    def counting(self: Registry, kind: str, name: str, params: dict) -> object:
        if kind == "model":
            built.append(name)
        return create(self, kind, name, params)

    monkeypatch.setattr(Registry, "create", counting)
    out = run_suite(suite, registry=toy_registry, run_dir=tmp_path / "run", threads=1,
                    executor=PoolExecutor(workers=1))
    jobs: list[Job] = jobs_of(suite)
    assert len(built) == len(jobs) == len(out.results)
