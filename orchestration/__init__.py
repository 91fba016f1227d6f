"""When things run. Loading the code location starts here, so the Dagster warnings PressRAG
has weighed are filtered here, once, instead of printed on every start of every process."""

import warnings

import dagster as dg

# Per-site asset checks need partitioned checks, a preview feature we chose (docs/architecture).
warnings.filterwarnings("ignore", "Specifying a partitions_def", dg.PreviewWarning)
# Raised from inside Dagster's own `run_status_sensor`, which passes the beta `owners`.
warnings.filterwarnings("ignore", "Parameter `owners`", dg.BetaWarning)
