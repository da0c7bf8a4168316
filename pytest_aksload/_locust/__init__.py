"""Code for the Locust child process only. The pytest process must never import the modules in
this package (`import locust` monkey-patches the whole process with gevent); this `__init__`
imports nothing.

The wire between the two processes (command line, environment, stdin/stdout lines) is defined in
`pytest_aksload.protocol` and the result file in `pytest_aksload.result_schema`, which both sides
import; `pytest_aksload.child` is the API a locustfile uses.
"""
