"""The task presets' run names, on a real Prefect server."""

from __future__ import annotations

import pytest
from prefect import flow
from prefect.client.orchestration import get_client

from features.settings import Settings
from flows.tasks import run_name

pytestmark = pytest.mark.integration


@flow(name="named", flow_run_name=run_name("named", "snapshot_id", "as_of"))
def _named(snapshot_id: str | None = None, as_of: str | None = None) -> None:
    """A flow named like fleetcast's stages."""


def test_a_run_is_named_by_its_stage_and_the_parameters_it_was_given(
    flow_settings: Settings,
) -> None:
    state = _named(snapshot_id="20231231T234544-ef999be6cd", return_state=True)
    with get_client(sync_client=True) as client:
        name = client.read_flow_run(state.state_details.flow_run_id).name
    assert name.startswith("named snapshot_id=20231231T234544-ef999be6cd 20")
    assert name.endswith(" UTC") and "as_of" not in name  # only what was given is shown
