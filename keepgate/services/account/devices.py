"""The owner's trusted devices and sessions: list and forget devices, sign out everywhere.

Signing out everywhere ends the other sessions too, so it asks ``services.access`` first
(``SIGN_OUT_EVERYWHERE``: step-up on an account with a second factor).
"""

from __future__ import annotations

from dataclasses import dataclass

from keepgate.domain.access import Action, Resource
from keepgate.domain.audit import AuditEvent, EventKind, Outcome
from keepgate.domain.errors import DeviceNotFound
from keepgate.domain.factors import TrustedDevice
from keepgate.domain.principals import CustomerSession
from keepgate.security.tokens import hash_token
from keepgate.services.access import AccessService
from keepgate.services.clock import Clock
from keepgate.services.context import RequestContext
from keepgate.services.devices import describe_device
from keepgate.services.ports import Store


@dataclass(frozen=True, slots=True)
class DeviceView:
    device: TrustedDevice
    name: str
    current: bool


class DeviceService:
    def __init__(self, *, store: Store, clock: Clock, access: AccessService) -> None:
        self._store = store
        self._clock = clock
        self._access = access

    async def trusted(self, principal: CustomerSession,
                      device_token: str | None) -> list[DeviceView]:
        """The devices still trusted, marking the one ``device_token`` belongs to."""
        now = self._clock.now()
        current_hash = hash_token(device_token) if device_token else None
        async with self._store.unit_of_work(write=False) as uow:
            devices = await uow.devices.for_account(principal.account.id)
        return [DeviceView(d, describe_device(d.user_agent), d.token_hash == current_hash)
                for d in devices if d.usable(now)]

    async def forget(self, principal: CustomerSession, device_id: str, ctx: RequestContext) -> None:
        now = self._clock.now()
        async with self._store.unit_of_work(write=False) as uow:
            device = await uow.devices.get(device_id)
        if device is None or not device.usable(now):
            raise DeviceNotFound()
        await self._access.require(principal, Action.FORGET_DEVICE, ctx,
                                   Resource("device", device_id, device.account_id))
        async with self._store.unit_of_work(write=True) as uow:
            mine = {d.id for d in await uow.devices.for_account(principal.account.id)}
            if device_id not in mine or not await uow.devices.revoke(device_id, now):
                raise DeviceNotFound()
            await uow.audit.append(AuditEvent(EventKind.DEVICE_FORGOTTEN, Outcome.SUCCESS,
                                              principal.account.id, ctx.ip, ctx.user_agent,
                                              {"device_id": device_id}), now)

    async def sign_out_everywhere(self, principal: CustomerSession, ctx: RequestContext) -> int:
        """Ends every session, this one included; returns how many."""
        await self._access.require(principal, Action.SIGN_OUT_EVERYWHERE, ctx)
        now = self._clock.now()
        async with self._store.unit_of_work(write=True) as uow:
            count = await uow.sessions.revoke_all(principal.account.id, now, keep=None)
            await uow.audit.append(AuditEvent(EventKind.SIGNED_OUT_EVERYWHERE, Outcome.SUCCESS,
                                              principal.account.id, ctx.ip, ctx.user_agent,
                                              {"count": count}), now)
        return count
