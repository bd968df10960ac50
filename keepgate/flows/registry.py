"""Every flow kind and its spec: the one place that lists them.

A new kind adds its module (states, transitions, start, open methods, public data) and one
line here; the runner, the API and the pages find it through ``spec_for``.
"""

from __future__ import annotations

from collections.abc import Mapping

from keepgate.domain.errors import UnknownFlowKind
from keepgate.flows import login, recovery, registration, settings, step_up
from keepgate.flows.base import FlowKind
from keepgate.flows.spec import FlowSpec

SPECS: Mapping[FlowKind, FlowSpec] = {
    spec.kind: spec for spec in (registration.SPEC, login.SPEC, settings.SPEC, step_up.SPEC,
                                   recovery.SPEC)
}


def spec_for(kind: str) -> FlowSpec:
    """The spec of a kind named on the wire; ``UnknownFlowKind`` for anything else."""
    try:
        return SPECS[FlowKind(kind)]
    except ValueError:
        raise UnknownFlowKind() from None
