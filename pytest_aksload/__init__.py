"""pytest-aksload: gate a model deployment on load-test SLOs measured with Locust.

This package root must stay import-light: the Locust child process imports parts of it
(histograms, response validation) and the pytest process must never import locust.
"""

__version__ = "0.1.0"
