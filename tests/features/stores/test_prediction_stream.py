"""The prediction log's Redis stream, against a real Redis: entries of many rows, appended by
the workers' script, capped in rows (not entries), read back whole and in order; entries of
the earlier one-row layout still read, and still bound the stream while they are its oldest."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import redis
from support.logs import logged

from features.contract.prediction_log import (
    ENTRY_ROWS,
    FIELD,
    REQUEST_ID,
    LoggedPrediction,
    encode,
)
from features.settings import Settings
from features.stores.online import OnlineKeys
from features.stores.prediction_stream import (
    APPEND_SCRIPT,
    append_args,
    logged_rows,
    logged_through,
)
from features.stores.predictions import START, read_after

if TYPE_CHECKING:
    from support.service_fixtures import RedisServer

pytestmark = pytest.mark.integration

CAP = 1000  # the smallest cap the settings accept


class Stream:
    """One test's log stream, appended to exactly as a worker's flush appends."""

    def __init__(self, server: RedisServer) -> None:
        self.settings = Settings(redis_url=server.url, redis_key_prefix="stream-test")
        self.client = redis.Redis.from_url(server.url)
        self.key = OnlineKeys(self.settings.redis_key_prefix).prediction_log
        self.script = self.client.register_script(APPEND_SCRIPT)

    def flush(self, rows: list[LoggedPrediction], cap: int = CAP) -> None:
        self.script(keys=[self.key], args=append_args(cap, rows))

    def ids(self) -> list[str]:
        everything = read_after(self.client, self.settings, START, 10**9)
        return everything[REQUEST_ID].to_list()


@pytest.fixture
def stream(fresh_redis: RedisServer) -> Stream:
    return Stream(fresh_redis)


def test_each_flush_is_one_entry_per_entry_rows_and_reads_back_whole(stream: Stream) -> None:
    stream.flush(logged(0, 3))
    stream.flush(logged(3, ENTRY_ROWS + 1))  # one flush, two entries
    assert stream.client.xlen(stream.key) == 3
    assert logged_rows(stream.client, stream.key) == ENTRY_ROWS + 4
    assert stream.ids() == [f"r{i}" for i in range(ENTRY_ROWS + 4)]
    # A chunk is whole entries: asking for 1 row gets the first entry's 3.
    first = read_after(stream.client, stream.settings, START, 1)
    assert first[REQUEST_ID].to_list() == ["r0", "r1", "r2"]
    assert first["stream_id"].n_unique() == 1


def test_the_cap_counts_rows_and_trims_the_oldest_whole_entries(stream: Stream) -> None:
    for flush in range(5):  # 5 x 300 rows against a cap of 1,000 rows
        stream.flush(logged(flush * 300, 300))
    held = logged_rows(stream.client, stream.key)
    assert held == 900  # the two oldest entries went whole: 1,200 would be over the cap
    assert logged_through(stream.client, stream.key) == 1500  # what was appended, trims aside
    assert stream.ids() == [f"r{i}" for i in range(600, 1500)]


def test_small_entries_are_not_trimmed_early(stream: Stream) -> None:
    # The regression an entry cap would bring: a quiet service's entries of one row each.
    for i in range(CAP):
        stream.flush(logged(i, 1))
    assert stream.client.xlen(stream.key) == CAP
    stream.flush(logged(CAP, 1))
    assert logged_rows(stream.client, stream.key) == CAP
    assert stream.ids()[0] == "r1"  # only the oldest row went


def test_entries_of_the_earlier_layout_read_beside_new_ones_and_count_one_row(
    stream: Stream,
) -> None:
    for entry in logged(0, 4):  # what workers of the earlier release appended
        stream.client.xadd(stream.key, {FIELD: encode(entry)})
    assert logged_through(stream.client, stream.key) == 4
    stream.flush(logged(4, 6))
    assert stream.ids() == [f"r{i}" for i in range(10)]
    assert stream.client.xlen(stream.key) == 5
    assert logged_through(stream.client, stream.key) == 10  # growth counts rows across layouts


def test_while_an_entry_of_the_earlier_layout_is_the_oldest_the_cap_counts_entries(
    stream: Stream,
) -> None:
    with stream.client.pipeline(transaction=False) as pipe:
        for entry in logged(0, CAP - 2):
            pipe.xadd(stream.key, {FIELD: encode(entry)})
        pipe.execute()
    stream.flush(logged(CAP - 2, 6))  # CAP - 1 entries, more rows than CAP: nothing goes
    assert stream.ids()[0] == "r0"
    stream.flush(logged(CAP + 4, ENTRY_ROWS + 1))  # two entries more: the oldest goes, alone
    assert stream.client.xlen(stream.key) == CAP
    assert stream.ids()[:2] == ["r1", "r2"]


def test_a_drain_after_a_cap_trim_reads_every_row_still_held(stream: Stream) -> None:
    stream.flush(logged(0, 700))
    stream.flush(logged(700, 700))  # over the cap: the first 500-row entry goes
    chunk = read_after(stream.client, stream.settings, START, 100_000)
    assert chunk[REQUEST_ID].to_list() == [f"r{i}" for i in range(500, 1400)]
    assert chunk.height == logged_rows(stream.client, stream.key)
