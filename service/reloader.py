"""Keeping a worker on the current champion and shadow: Prefect events first, an alias poll as
safety net.

Every worker process runs its own Reloader. A reload resolves the `champion` alias once, loads
and smoke-tests the new version off the event loop, then swaps it in with one assignment; a
failure keeps the old version serving and is reported in /model. Then it does the same for the
`challenger` alias, the shadow (`service.shadow`), with the same rules; a cleared alias (or one
naming the champion itself) unloads the shadow. The shadow's failures never touch the champion.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import re
from dataclasses import dataclass, field, replace
from typing import Any

from features.contract import clock
from features.contract.events import (
    CHALLENGER_SET,
    MODEL_PROMOTED,
    model_resource,
    promoted_version,
)
from features.local.prefect_server import running_local_url
from features.settings import Settings
from service import metrics, shadow
from service.champion import Served, challenger_version, champion_version, load
from service.model_schemas import EventListener, ReloadAttempt

logger = logging.getLogger("fleetcast.service")
RETRY_SECONDS = 5.0
# A tracking store that accepts and never answers would hold an attempt (and the reload lock,
# and POST /reload) for MLflow's own bounds, ~65 s per request. An alias lookup is one small
# read: past this, the attempt fails and the old model keeps serving. Generous, because a
# just-restarted server took over 5 s to answer its first request here; well below the
# service's 10 s request timeout, so POST /reload answers with the failed attempt.
ALIAS_WAIT_SECONDS = 6.0


class RegistryTimeout(TimeoutError):
    """The tracking store did not answer an alias lookup within ALIAS_WAIT_SECONDS."""


# URIs (which may carry credentials) and urllib3's "host='...', port=N": GET /model is public.
_ADDRESS = re.compile(r"[a-z][a-z0-9+.-]*://\S+|host='[^']*', port=\d+", re.IGNORECASE)


async def _resolve(alias_version: Any, settings: Settings) -> Any:
    """`alias_version(settings)` off the event loop, given up after ALIAS_WAIT_SECONDS (the
    thread is left to MLflow's own timeout; the attempt does not wait for it)."""
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(alias_version, settings), ALIAS_WAIT_SECONDS
        )
    except TimeoutError:
        waited = f"{ALIAS_WAIT_SECONDS:g} s"
        raise RegistryTimeout(f"the MLflow tracking store did not answer within {waited}") from None


def _reason(error: Exception) -> str:
    """Why a reload failed, as GET /model shows it: without any store's address."""
    return _ADDRESS.sub("<address>", f"{type(error).__name__}: {error}")[:500]


@dataclass
class Slot:
    """What the worker serves now. Handlers read `served` once per request."""

    served: Served | None = None
    last: ReloadAttempt | None = None
    shadow: Served | None = None  # scored beside `served` at each log flush, never answered
    shadow_last: ReloadAttempt | None = None
    events: EventListener = field(default_factory=lambda: EventListener(connected=False))


class Reloader:
    """Loads the champion into a Slot, one reload at a time."""

    def __init__(self, settings: Settings, slot: Slot) -> None:
        self._settings = settings
        self._slot = slot
        self._lock = asyncio.Lock()
        self._store_hung = False  # the last champion attempt timed out on the tracking store

    async def reload(self, trigger: str) -> ReloadAttempt:
        """Serve the version at `champion` now, if it is not the one served already."""
        async with self._lock:
            before = self._slot.served
            attempt = await self._attempt(trigger)
            self._slot.last = attempt
            if not self._store_hung:
                # A hung store is not asked twice under the lock: the shadow follows next time.
                await self._follow_shadow(trigger)
        metrics.attempted(trigger, attempt.outcome)
        now = self._slot.served
        if attempt.outcome == "loaded" and now is not None:
            old = before.version if before else None
            metrics.served(self._settings.registered_model, old, now.version)
        if attempt.outcome == "failed":
            logger.error(
                "reload (%s) failed, still serving %s: %s",
                trigger,
                self._slot.served.version if self._slot.served else "nothing",
                attempt.message,
            )
        elif attempt.outcome == "loaded":
            logger.info("reload (%s): %s", trigger, attempt.message)
        return attempt

    async def _attempt(self, trigger: str) -> ReloadAttempt:
        at = clock.stamp("milliseconds")
        current = self._slot.served
        self._store_hung = False
        try:
            version = await _resolve(champion_version, self._settings)
            if current is not None and str(version.version) == current.version:
                same = f"v{current.version} is still the champion"
                return ReloadAttempt(at=at, trigger=trigger, outcome="unchanged", message=same)
            served = await asyncio.to_thread(load, self._settings, version)
        except Exception as error:  # any failure keeps the old model; the reason is reported
            self._store_hung = isinstance(error, RegistryTimeout)
            return ReloadAttempt(at=at, trigger=trigger, outcome="failed", message=_reason(error))
        self._slot.served = served  # the swap: model and version together, one assignment
        # Loading leaves long-lived objects; freezing them keeps later full GCs short.
        gc.collect()
        gc.freeze()
        previous = f"v{current.version}" if current else "nothing"
        return ReloadAttempt(
            at=at,
            trigger=trigger,
            outcome="loaded",
            message=f"now serving v{served.version} ({served.backend}), was {previous}",
        )

    async def _follow_shadow(self, trigger: str) -> None:
        """Load, refresh or unload the shadow, as the `challenger` alias says now."""
        attempt = await self._shadow_attempt(trigger)
        self._slot.shadow_last = attempt
        model = self._settings.registered_model
        metrics.SHADOW_RELOADS.labels(trigger, attempt.outcome).inc()
        metrics.shadowed(model, self._slot.shadow.version if self._slot.shadow else None)
        shadow.publish_live(model, self._slot.shadow)
        if attempt.outcome == "failed":
            logger.warning("shadow reload (%s) failed: %s", trigger, attempt.message)
        elif attempt.outcome != "unchanged":
            logger.info("shadow reload (%s): %s", trigger, attempt.message)

    async def _shadow_attempt(self, trigger: str) -> ReloadAttempt:
        at = clock.stamp("milliseconds")
        current = self._slot.shadow

        def outcome(kind: str, message: str) -> ReloadAttempt:
            return ReloadAttempt(at=at, trigger=trigger, outcome=kind, message=message)

        try:
            version: Any = await _resolve(challenger_version, self._settings)
            champion = self._slot.served
            if version is None or (champion and str(version.version) == champion.version):
                self._slot.shadow = None
                if current is None:
                    return outcome("unchanged", "no shadow (no challenger besides the champion)")
                return outcome("unloaded", f"no shadow now, was v{current.version}")
            if current is not None and str(version.version) == current.version:
                # Same model; fresher tags (the drift flow's live comparison lands there).
                self._slot.shadow = replace(current, tags=dict(version.tags))
                return outcome("unchanged", f"v{current.version} is still the challenger")
            loaded = await asyncio.to_thread(load, self._settings, version)
        except Exception as error:  # the shadow as it was; the champion was never at stake
            return outcome("failed", _reason(error))
        self._slot.shadow = loaded
        was = f"v{current.version}" if current else "none"
        return outcome("loaded", f"shadow now v{loaded.version} ({loaded.backend}), was {was}")

    async def poll_forever(self) -> None:
        """Check the alias every `reload_poll_seconds`: catches events missed while down."""
        while True:
            await asyncio.sleep(self._settings.reload_poll_seconds)
            await self.reload("poll")

    async def listen_forever(self) -> None:
        """Reload on `fleetcast.model.promoted` and `fleetcast.model.challenger`, reconnecting to
        Prefect forever."""
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # server down, network blip: retry, never give up
                logger.warning("Prefect event stream: %s; retrying in %.0f s", error, RETRY_SECONDS)
            self._slot.events = self._slot.events.model_copy(update={"connected": False})
            await asyncio.sleep(RETRY_SECONDS)

    async def _listen(self) -> None:
        api_url = os.environ.get("PREFECT_API_URL") or running_local_url(self._settings)
        if api_url is None:
            raise ConnectionError("no Prefect server (PREFECT_API_URL unset, none running locally)")
        # Prefect reads its settings when first imported: point it at the server first.
        os.environ["PREFECT_API_URL"] = api_url
        from prefect.events.clients import get_events_subscriber
        from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

        resource = model_resource(self._settings.registered_model)["prefect.resource.id"]
        promotions = EventFilter(
            event=EventNameFilter(name=[MODEL_PROMOTED, CHALLENGER_SET]),
            resource=EventResourceFilter(id=[resource]),
        )
        async with get_events_subscriber(filter=promotions, reconnection_attempts=3) as events:
            logger.info("listening for %s, %s on %s", MODEL_PROMOTED, CHALLENGER_SET, api_url)
            self._slot.events = self._slot.events.model_copy(
                update={"connected": True, "connected_at": clock.stamp("milliseconds")}
            )
            async for event in events:
                named = promoted_version(event.payload)
                self._received(named)
                # Replays and duplicates are normal: act only on a version not loaded yet.
                slot = self._slot.shadow if event.event == CHALLENGER_SET else self._slot.served
                if slot is None or named != slot.version:
                    await self.reload("event")

    def _received(self, version: str | None) -> None:
        """Count an event in /model: proof, per worker, that events arrive (whatever reloads)."""
        listener = self._slot.events
        self._slot.events = listener.model_copy(
            update={
                "received": listener.received + 1,
                "last_version": version,
                "last_received_at": clock.stamp("milliseconds"),
            }
        )
