# pytester's in-process runs drop the modules imported during them from sys.modules, and numpy refuses
# to be imported twice in one process. The plugin imports pandas (and numpy) only when a session uses
# the Criteo data, which may first happen inside such a run: import it here, before any.
import pandas  # noqa: F401

pytest_plugins = ["pytester", "ci_skips"]
