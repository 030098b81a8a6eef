"""The main job's own summary, as the Prefect UI shows it."""

from __future__ import annotations

import pytest
from conftest import TrainedStore
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

pytestmark = pytest.mark.integration


def test_the_pipeline_run_has_a_summary_artifact_of_every_stage(
    trained_store: TrainedStore,
) -> None:
    result = trained_store.result
    summary = ArtifactFilter(key=ArtifactFilterKey(any_=["pipeline-summary"]))
    with get_client(sync_client=True) as client:
        summaries = [str(a.data) for a in client.read_artifacts(artifact_filter=summary)]
    mine = [s for s in summaries if result.snapshot.snapshot_id in s]
    assert mine, f"no pipeline-summary artifact names snapshot {result.snapshot.snapshot_id}"
    assert mine[0].startswith(f"# Pipeline: promoted v{result.promotion.candidate_version}")
    for stage in ("| ingest |", "| features |", "| train |", "| promote |"):
        assert stage in mine[0]
    assert f"{result.trained.family} won" in mine[0]
