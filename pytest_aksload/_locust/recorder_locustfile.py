"""The recording locustfile: Locust loads it first (`-f recorder_locustfile.py,<user locustfile>`).

It defines no User; it registers the recorder (`wiring.install`) with Locust's event hooks.
Nothing else imports it: Locust loads each `-f` file once, so it registers exactly once.
"""

from locust import events

from pytest_aksload import lifeline
from pytest_aksload._locust import wiring

# Now, at load: before Locust forks its --processes workers, so they die with this process, it with pytest.
lifeline.hold()
wiring.install(events)
