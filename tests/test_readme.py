"""The README documents every setting (a new setting without docs fails here)."""

from __future__ import annotations

import json

from features.contract.schema import ENTITY, EXAMPLE_VEHICLE
from features.settings import PROJECT_ROOT, Settings


def test_every_setting_is_in_the_readme() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    for name, field in Settings.model_fields.items():
        variable = field.validation_alias or f"FLEETCAST_{name.upper()}"
        assert f"`{variable}`" in readme, f"README's settings table lacks {variable}"


def test_the_readme_shows_the_contracts_example_listing() -> None:
    """The curl example is the one `fleetcast serve` prints, so it stays a realistic listing."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert json.dumps(EXAMPLE_VEHICLE.model_dump(exclude={ENTITY})) in readme
