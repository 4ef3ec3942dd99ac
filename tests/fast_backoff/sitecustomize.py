"""Loaded at start-up by a ``digest run`` that a test starts with this folder on its PYTHONPATH
(``tests.test_daemon.fast_backoff``): the SMTP backoff between a message's tries in hundredths of a second,
as the ``fast_retries`` fixture makes it in the test's own process. The tries and what they lead to are the
same; only the waits are shorter."""

import digest.mail

digest.mail.BACKOFF = (0.01, 0.01, 0.01, 0.01)
