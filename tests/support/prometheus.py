"""A real Prometheus (Debian's package) scraping with the project's own scrape config.

The config is ops/prometheus/prometheus.yml with two changes only: the targets (the compose
service name becomes the test service's address) and a 1 s scrape interval, so `rate()` over the
dashboard's windows has samples seconds after traffic instead of minutes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from features.local.processes import free_port
from features.settings import PROJECT_ROOT

SCRAPE_CONFIG = PROJECT_ROOT / "ops/prometheus/prometheus.yml"
DASHBOARD = PROJECT_ROOT / "ops/grafana/dashboards/fleetcast.json"
START_TIMEOUT_S = 60


def scrape_config(targets: list[str]) -> dict[str, Any]:
    """The project's scrape config, pointed at `targets` (host:port), scraping every second."""
    config = yaml.safe_load(SCRAPE_CONFIG.read_text())
    config["global"] |= {"scrape_interval": "1s", "evaluation_interval": "1s"}
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": targets}]
    return config


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query on the Grafana dashboard."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [(p["title"], t["expr"]) for p in panels for t in p.get("targets", [])]


def binary() -> str | None:
    """Debian's prometheus, if installed."""
    return shutil.which("prometheus", path="/usr/bin:/usr/local/bin")


@dataclass
class PrometheusServer:
    folder: Path
    targets: list[str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = binary()
        if command is None:
            raise RuntimeError("prometheus not found: apt-get install prometheus (.ci/run does)")
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "prometheus.yml"
        config.write_text(yaml.safe_dump(scrape_config(self.targets)))
        arguments = [
            command,
            f"--config.file={config}",
            f"--storage.tsdb.path={self.folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        with open(self.folder / "prometheus.log", "wb") as log:
            self.process = subprocess.Popen(arguments, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._ready():
            assert self.process.poll() is None, (self.folder / "prometheus.log").read_text()
            assert time.monotonic() < deadline, f"prometheus not ready in {START_TIMEOUT_S} s"
            time.sleep(0.3)

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The result vector of an instant query (raises on a query Prometheus rejects)."""
        reply = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
        body = reply.json()
        assert body["status"] == "success", (promql, body)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def scrape_health(self, timeout: float = 30) -> dict[str, str]:
        """Scrape URL -> health ("up", or the last error), once targets were discovered (a few
        seconds after the start) and each was scraped."""
        deadline = time.monotonic() + timeout
        while True:
            active = httpx.get(f"{self.url}/api/v1/targets", timeout=10).json()["data"]
            found = {t["scrapeUrl"]: t["health"] for t in active["activeTargets"]}
            scraped = found and all(h != "unknown" for h in found.values())
            if scraped or time.monotonic() > deadline:
                errors = {t["scrapeUrl"]: t["lastError"] for t in active["activeTargets"]}
                return {url: h if h != "down" else errors[url] for url, h in found.items()}
            time.sleep(0.5)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False
