"""The owner's own account, signed in: one small service per concern.

==============  ===========================================================================
``overview``    the checklist, the score and the holds in force (``overview.py``)
``password``    changing the password (``password.py``)
``factors``     listing, renaming and removing second factors (``factors.py``)
``devices``     trusted devices, forgetting one, signing out everywhere (``devices.py``)
``notices``     muted notices and the anti-phishing code (``notices.py``)
``history``     the login history (``history.py``)
``takeover``    "this wasn't me" and undoing a contact change (``takeover.py``)
==============  ===========================================================================

Sensitive changes (password, anti-phishing code, removing a factor) need step-up. Settings
changes are compare-and-swap on the account's ``security_version`` (``security_version.py``).
Every change is audited; those an intruder would make are notified.
"""

from __future__ import annotations

from dataclasses import dataclass

from keepgate.services.account.devices import DeviceService
from keepgate.services.account.factors import FactorService
from keepgate.services.account.history import LoginHistory
from keepgate.services.account.notices import NoticeSettings
from keepgate.services.account.overview import SecurityOverview
from keepgate.services.account.password import PasswordService
from keepgate.services.account.takeover import TakeoverReports


@dataclass(frozen=True, slots=True)
class AccountServices:
    overview: SecurityOverview
    password: PasswordService
    factors: FactorService
    devices: DeviceService
    notices: NoticeSettings
    history: LoginHistory
    takeover: TakeoverReports
