"""Data and concept drift between the training split (the reference) and a current batch.

The test for each column follows the defaults a team would get from Evidently, so verdicts match
on the same data: when either sample is small (<= ``small_reference`` rows) a statistical test
(two-sample KS for numeric columns with more than 5 distinct values, the two-sample chi-square
test of homogeneity for categoricals and numeric columns with 3-5 distinct values, the
two-proportion z-test for binary columns); when both are larger, where any test would flag
differences too small to matter, a distance (Wasserstein distance over the reference standard
deviation for numeric columns, Jensen-Shannon distance for the others). Distinct values are
counted over both sides after NaN and +-inf are dropped. PSI is reported beside the decision as
the score many teams already know.

One job per module: :mod:`~regpipe.drift.batch` reads the current batch (a table or the
service's request log), :mod:`~regpipe.drift.statistics` holds the tests,
:mod:`~regpipe.drift.verdicts` turns them into column and dataset verdicts,
:mod:`~regpipe.drift.reference` summarises a reference too long to hold (exact counts from one
pass in chunks, a seeded sample for the distances),
:mod:`~regpipe.drift.concept` measures the champion on the batch, and
:mod:`~regpipe.drift.report` builds, summarises and plots the report.
"""

from regpipe.drift.batch import read_current, read_request_log
from regpipe.drift.concept import champion_predictions, concept_drift, concept_rows
from regpipe.drift.reference import summarised
from regpipe.drift.report import distribution_table, drift_report, summary
from regpipe.drift.statistics import (
    binned,
    clean,
    default_test,
    jensenshannon,
    psi,
    run_test,
    wasserstein,
)
from regpipe.drift.verdicts import column_drift, data_drift, dataset_verdict, drift_settings

__all__ = [
    "binned",
    "champion_predictions",
    "clean",
    "column_drift",
    "concept_drift",
    "concept_rows",
    "data_drift",
    "dataset_verdict",
    "default_test",
    "distribution_table",
    "drift_report",
    "drift_settings",
    "jensenshannon",
    "psi",
    "read_current",
    "read_request_log",
    "run_test",
    "summarised",
    "summary",
    "wasserstein",
]
