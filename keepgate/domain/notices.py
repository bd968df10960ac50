"""Security notices: which ones an owner may mute.

Critical ones can never be muted.
"""

from __future__ import annotations

CRITICAL_NOTICES = frozenset({
    "device_code", "signin_banned", "password_changed", "factor_added", "factor_removed",
    "contact_changed", "account_locked", "registration_attempt_existing", "session_ended",
    "password_reset",
})
# Only what an intruder gains nothing by hiding may be muted.
MUTABLE_NOTICES = frozenset({"anti_phishing_changed", "recovery_codes_regenerated"})
