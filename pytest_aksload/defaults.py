"""The load's built-in defaults, one definition each: the settings and the marker profile
(`config/`) fill them in for what a user leaves out, and the Locust child falls back on the same
values when its environment leaves a setting out (`protocol.RunSettings`, e.g. a remote worker
before its master sends the run).

They live here, at the bottom of the layers, and not in `config/`, because the child's side
(`protocol`, `child.py`, `contracts/`) sits below `config/` and must not import it (.importlinter):
this module imports nothing, so both sides can use it.
"""

from __future__ import annotations

DEFAULT_REQUEST_TIMEOUT_S = 10.0
# Think time between a user's requests, as the seed notebook's 1-2 s but shorter so a quick run
# still collects a few hundred requests.
DEFAULT_WAIT_S = (0.5, 1.5)
DEFAULT_WINDOW_S = 1.0  # length of a timeline window
DEFAULT_PROGRESS_S = 2.0  # interval of the child's progress lines
DEFAULT_CONTRACT = "azureml"  # contracts.loader re-exports it
DEFAULT_BATCH = 1  # rows per request
# Absolute tolerance of a prediction against its expected value: absorbs a float32 model or a float32
# JSON round trip and decimal printing with 7+ significant digits (stats/correctness.py says why).
DEFAULT_TOLERANCE = 1e-6
ARRIVALS = ("constant", "poisson")  # the open model's arrival processes; the first is the default
