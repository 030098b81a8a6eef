"""Seeded synthetic listings and reservations, written chunk by chunk as the contract's CSVs.

Listings are shaped like the real marketplace's 2023 data: recommended prices whole numbers in
35-90, actual prices with cents near them (mostly above), 1-5 photos, short descriptions.

Each listing's reservation count is Poisson around a demand that falls with overpricing, rises
with photos and the connected-car kit, peaks at a moderate description length and dips for
street parking, times a quality nobody records (most of the spread, so the recorded attributes
predict the count only a little better than its median, as in the real data), levelled off by
the calendar's capacity. Booking times (`flows.synthetic.booking_times`) follow weekly, seasonal and
hour-of-day rhythms. Memory is bounded by `chunk_vehicles`, not by `n_vehicles`.

A `ShiftedMonth` writes the drift scenario instead: new listings priced above the usual and
with fewer photos, booked only in one month at the rate the same demand model gives them.
"""

from __future__ import annotations

import datetime as dt
from contextlib import ExitStack
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO

import numpy as np
import polars as pl

from features.contract.schema import (
    ENTITY,
    TIMESTAMP_FORMAT,
    ReservationRecord,
    VehicleRecord,
    columns,
)
from features.stores.atomic import atomic_path
from flows.synthetic.booking_times import booking_times, month_share

# Listing attributes, shaped like the real marketplace's 1,000 listings of 2023.
TECHNOLOGY_SHARE = 0.17
STREET_PARKED_SHARE = 0.35
RECOMMENDED_PRICE_RANGE = (35, 90)  # whole numbers: the marketplace recommends round prices
RECOMMENDED_PRICE_BETA = 2.0  # beta(a, a) over the range: most near the middle, none outside
# actual / recommended = floor + gamma(shape, scale): never more than 10% under the
# recommendation, usually a little over it (mean ~1.14), now and then nearly twice it.
PRICE_RATIO_FLOOR = 0.9
MARKUP_SHAPE = 2.0
MARKUP_SCALE = 0.12
IMAGES_RANGE = (1, 5)  # a listing needs a photo; none has more than five
IMAGES_P = 0.5  # binomial share of the photos beyond the first: 3 on average
DESCRIPTION_MEDIAN = 58.0  # characters, lognormal: mostly a sentence or two
DESCRIPTION_SIGMA = 0.7
DESCRIPTION_RANGE = (1, 250)  # the listing form's limits; ~2% of owners hit the upper one

# Demand: exp(sum of these effects) times a quality nobody records, levelled off by the
# calendar and rescaled to the wanted mean per listing. As in the real data the recorded
# attributes explain little (the best model family beats the median by ~10-15% MAE): most of
# the spread is quality, whose low end also leaves ~9% of listings never booked.
DEFAULT_RESERVATIONS_PER_VEHICLE = 6.2  # population mean; the seed-42 sample of 1,000 gets ~6.4
PRICE_ELASTICITY = -3.4  # per unit of log(actual / recommended)
IMAGE_EFFECT = 0.22  # per photo
TECHNOLOGY_EFFECT = 0.34
STREET_PARKED_EFFECT = -0.03
DESCRIPTION_OPTIMUM = 75.0  # characters; shorter looks sloppy, longer goes unread
DESCRIPTION_CURVATURE = 0.35  # penalty per squared unit of log(length / optimum)
QUALITY_MAX = 2.0  # quality is uniform on [0, max]: from unbookable to twice the mean listing
# A car can be booked only so often: wanted demand (mean 1) levels off below this. Rescaled to
# the mean count, the ceiling is ~3.9x the mean (~24 a year at the default), which keeps the
# busiest listing near 25 while the low end stays wide (a plain gamma mixing could not do both).
CAPACITY = 3.0
CALIBRATION_SAMPLE = 200_000  # listings in the fixed sample that pins the mean count

MIN_PRICE = 0.01  # a cent: the contract wants prices > 0, rounding must not reach 0


@dataclass(frozen=True)
class ShiftedMonth:
    """A month of listings whose owners price above the usual and post fewer photos.

    Reservations still follow the demand model, so the shifted attributes lower the counts
    the way the model says they would; bookings fall in `month` only, at that month's share
    of the year's demand. Written in the raw schema, ingest takes it like any other data.
    """

    month: int  # 1-12, of the generator's `year`
    price_raise: float = 0.2  # actual price x (1 + price_raise), rounded to cents
    images_removed: int = 2  # photos taken off each listing (never below 0)

    def apply(self, listing: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The listing attributes with the shift applied (derived features follow at build)."""
        raised = np.round(listing["actual_price"] * (1 + self.price_raise), 2)
        return listing | {
            "actual_price": np.maximum(raised, MIN_PRICE),
            "num_images": np.maximum(listing["num_images"] - self.images_removed, 0),
        }


@dataclass(frozen=True)
class GenerationSummary:
    """What one `generate` call wrote."""

    n_vehicles: int
    n_reservations: int
    n_vehicles_without_reservations: int
    vehicles_path: Path
    reservations_path: Path


def _recommended_prices(rng: np.random.Generator, n: int) -> np.ndarray:
    """Whole prices in the recommended range, bell-shaped (beta-distributed) inside it."""
    low, high = RECOMMENDED_PRICE_RANGE
    draw = rng.beta(RECOMMENDED_PRICE_BETA, RECOMMENDED_PRICE_BETA, n)
    return np.rint(low + (high - low) * draw).astype(np.int64)


def _listings(rng: np.random.Generator, ids: np.ndarray) -> dict[str, np.ndarray]:
    """Listing attributes for `ids`: recommended prices whole, actual prices with cents."""
    n = ids.size
    recommended = _recommended_prices(rng, n)
    ratio = PRICE_RATIO_FLOOR + rng.gamma(MARKUP_SHAPE, MARKUP_SCALE, n)
    fewest, most = IMAGES_RANGE
    description = DESCRIPTION_MEDIAN * rng.lognormal(0.0, DESCRIPTION_SIGMA, n)
    return {
        ENTITY: ids,
        "technology": (rng.random(n) < TECHNOLOGY_SHARE).astype(np.int64),
        "actual_price": np.round(recommended * ratio, 2),
        "recommended_price": recommended,
        "num_images": fewest + rng.binomial(most - fewest, IMAGES_P, n).astype(np.int64),
        "street_parked": (rng.random(n) < STREET_PARKED_SHARE).astype(np.int64),
        "description": np.clip(np.rint(description), *DESCRIPTION_RANGE).astype(np.int64),
    }


def _log_rate(v: dict[str, np.ndarray]) -> np.ndarray:
    """Unnormalized log demand of each listing, from its attributes."""
    log_ratio = np.log(v["actual_price"] / v["recommended_price"])
    description_gap = np.log(v["description"] / DESCRIPTION_OPTIMUM)
    return (
        PRICE_ELASTICITY * log_ratio
        + IMAGE_EFFECT * v["num_images"]
        + TECHNOLOGY_EFFECT * v["technology"]
        + STREET_PARKED_EFFECT * v["street_parked"]
        - DESCRIPTION_CURVATURE * description_gap**2
    )


def _demand(rng: np.random.Generator, v: dict[str, np.ndarray], log_scale: float) -> np.ndarray:
    """Each listing's demand in units of the mean listing's, after the calendar fills up."""
    quality = rng.uniform(0.0, QUALITY_MAX, v[ENTITY].size)
    wanted = np.exp(_log_rate(v) - log_scale) * quality
    return CAPACITY * -np.expm1(-wanted / CAPACITY)  # ~wanted when small, never above CAPACITY


@cache
def _calibration() -> tuple[float, float]:
    """log E[exp(log rate)] (the mean listing's demand, before quality) and the mean demand
    after the calendar, both over a fixed sample: the mean count is then what was asked."""
    # A fixed seed keeps the scale identical across runs and independent of `n_vehicles`.
    rng = np.random.default_rng(0)
    sample = _listings(rng, np.arange(1, CALIBRATION_SAMPLE + 1))
    log_scale = float(np.log(np.mean(np.exp(_log_rate(sample)))))
    return log_scale, float(np.mean(_demand(rng, sample, log_scale)))


def _counts(rng: np.random.Generator, v: dict[str, np.ndarray], mean: float) -> np.ndarray:
    """Poisson reservation counts around each listing's demand, `mean` on average."""
    log_scale, mean_demand = _calibration()
    rate = mean / mean_demand * _demand(rng, v, log_scale)
    return rng.poisson(rate).astype(np.int64)


def _reservations(
    rng: np.random.Generator,
    ids: np.ndarray,
    counts: np.ndarray,
    year: int,
    month: int | None = None,
) -> pl.DataFrame:
    """Reservation rows of one chunk, sorted by vehicle then time."""
    owner = np.repeat(ids, counts)
    seconds = booking_times(rng, owner, year, month)
    epoch = int(dt.datetime(year, 1, 1, tzinfo=dt.UTC).timestamp())
    frame = pl.DataFrame({ENTITY: owner, "created_at": seconds + epoch})
    frame = frame.with_columns(pl.from_epoch("created_at", time_unit="s"))
    return frame.select(columns(ReservationRecord))


def _write_header(handle: IO[bytes], names: list[str]) -> None:
    """Header written once up front, so even an empty file carries the contract's columns."""
    handle.write((",".join(names) + "\n").encode())


def _check_args(
    n_vehicles: int,
    chunk_vehicles: int,
    per_vehicle: float | None,
    first_id: int,
    shifted: ShiftedMonth | None,
) -> None:
    """Reject arguments that would silently produce nonsense."""
    if first_id < 1:
        raise ValueError(f"first_id must be >= 1, got {first_id}")
    if shifted is not None and not 1 <= shifted.month <= 12:
        raise ValueError(f"shifted month must be 1-12, got {shifted.month}")
    if shifted is not None and (shifted.price_raise <= -1 or shifted.images_removed < 0):
        raise ValueError(f"shift must keep prices positive and remove photos, got {shifted}")
    if n_vehicles < 1:
        raise ValueError(f"n_vehicles must be >= 1, got {n_vehicles}")
    if chunk_vehicles < 1:
        raise ValueError(f"chunk_vehicles must be >= 1, got {chunk_vehicles}")
    if per_vehicle is not None and not per_vehicle > 0:
        raise ValueError(f"reservations_per_vehicle must be > 0, got {per_vehicle}")


def _write_chunk(
    rng: np.random.Generator,
    ids: np.ndarray,
    mean: float,
    year: int,
    out: tuple[IO[bytes], IO[bytes]],
    shifted: ShiftedMonth | None = None,
) -> np.ndarray:
    """Append one chunk of listings and their reservations; returns the per-listing counts."""
    listing = _listings(rng, ids)
    month = None
    if shifted is not None:
        listing, month = shifted.apply(listing), shifted.month
    counts = _counts(rng, listing, mean * month_share(year, month))
    vehicles = pl.DataFrame(listing).select(columns(VehicleRecord))
    vehicles.write_csv(out[0], include_header=False)
    reservations = _reservations(rng, ids, counts, year, month)
    reservations.write_csv(out[1], include_header=False, datetime_format=TIMESTAMP_FORMAT)
    return counts


def generate(
    out_dir: Path,
    n_vehicles: int = 1000,
    seed: int = 42,
    year: int = 2023,
    chunk_vehicles: int = 50_000,
    reservations_per_vehicle: float | None = None,
    first_id: int = 1,
    shifted: ShiftedMonth | None = None,
) -> GenerationSummary:
    """Write `vehicles.csv` and `reservations.csv` under `out_dir`; same args, same bytes.

    Vehicle ids run from `first_id`; `shifted` writes the drift scenario's month instead of a
    year (give it ids the store does not hold yet, so the listings arrive as new ones).
    """
    _check_args(n_vehicles, chunk_vehicles, reservations_per_vehicle, first_id, shifted)
    mean = reservations_per_vehicle or DEFAULT_RESERVATIONS_PER_VEHICLE  # None -> calibrated
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = (out_dir / "vehicles.csv", out_dir / "reservations.csv")
    # One stream, consumed chunk after chunk. A shifted month mixes its month into the seed,
    # so its listings are new draws, not the year's listings again with the shift applied.
    rng = np.random.default_rng(seed if shifted is None else [seed, year, shifted.month])
    n_reservations = n_zero = 0
    with ExitStack() as stack:
        # Temp files beside the targets, renamed over them only if every chunk was written.
        tmp_paths = [stack.enter_context(atomic_path(p)) for p in paths]
        vehicles_out, reservations_out = (stack.enter_context(open(t, "wb")) for t in tmp_paths)
        _write_header(vehicles_out, columns(VehicleRecord))
        _write_header(reservations_out, columns(ReservationRecord))
        end = first_id + n_vehicles
        for start in range(first_id, end, chunk_vehicles):
            ids = np.arange(start, min(start + chunk_vehicles, end), dtype=np.int64)
            out = (vehicles_out, reservations_out)
            counts = _write_chunk(rng, ids, mean, year, out, shifted)
            n_reservations += int(counts.sum())
            n_zero += int(np.count_nonzero(counts == 0))
    return GenerationSummary(n_vehicles, n_reservations, n_zero, *paths)
