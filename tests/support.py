"""What tests in more than one folder import by name (fixtures live in the conftest files, not here)."""

from __future__ import annotations

from datetime import UTC, datetime

# When ``make_alert``'s alerts were first seen: 10/03 14:05 in São Paulo (UTC-3), what the
# channels and the pages must print as "desde".
FIRST_SEEN = datetime(2025, 3, 10, 17, 5, tzinfo=UTC)

# The probe timeout tests give the simulated gateway. Long enough that a healthy loopback probe
# never misses it on a loaded 2-core machine (a full suite's garbage collection alone can pause the
# process for a few hundred ms), short enough that a test with a hanging instance stays quick.
PROBE_TIMEOUT = 2.0
