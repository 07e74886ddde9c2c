"""Standard observer plugins: they watch a run through the observer hooks
(``zsbench_run_start``, ``zsbench_result_recorded``, ``zsbench_run_end``) and never take
part in it. Each is its own entry point, off unless its user switches it on:

- ``standard-mlflow`` (:mod:`zsbench_plugins.observers.mlflow_log`): each run as an MLflow
  run, each model x seed as a nested run; ``ZSBENCH_MLFLOW=1`` switches it on.
"""
