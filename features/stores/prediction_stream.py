"""The prediction log's Redis stream, as the workers append to it and the benchmarks count it.

Workers append with `APPEND_SCRIPT`: one call per flush adds its entries and caps the stream
in rows (`FLEETCAST_PREDICTION_LOG_MAX_STREAM`). Entries hold different numbers of rows, so an
entry count (XADD's MAXLEN) would bound neither rows nor memory; instead each entry carries the
count of rows logged through it, and the rows held are the newest entry's count minus the
oldest's, plus the oldest's own rows: no counter to keep in step with the drain's trims. The
drain's side (reading, Parquet, trimming) is `features/stores/predictions.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from features.contract.prediction_log import (
    COUNT_FIELD,
    ROWS_FIELD,
    THROUGH_FIELD,
    LoggedPrediction,
    encode_rows,
)

# KEYS[1]: the log stream. ARGV[1]: most rows it keeps; then a (rows, payload) pair per entry.
# Oldest whole entries go while it holds more. Entries of earlier releases (one row, no
# count) count as one row each; while one is the oldest, the cap counts entries, as it did.
APPEND_SCRIPT = f"""
local key, cap = KEYS[1], tonumber(ARGV[1])
local function field(entry, name)
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == name then return tonumber(fields[i + 1]) end
  end
  return nil
end
local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)[1]
local through = 0
if last then through = field(last, '{THROUGH_FIELD.decode()}') or redis.call('XLEN', key) end
for i = 2, #ARGV, 2 do
  through = through + tonumber(ARGV[i])
  redis.call('XADD', key, '*', '{COUNT_FIELD.decode()}', ARGV[i],
             '{THROUGH_FIELD.decode()}', through, '{ROWS_FIELD.decode()}', ARGV[i + 1])
end
while true do
  local first = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)[1]
  if not first then return through end
  local from = field(first, '{THROUGH_FIELD.decode()}')
  local held
  if from then
    held = through - from + field(first, '{COUNT_FIELD.decode()}')
  else
    held = redis.call('XLEN', key)
  end
  if held <= cap then return through end
  redis.call('XDEL', key, first[1])
end
"""


def logged_rows(client: redis.Redis, key: str) -> int:
    """Rows the log stream `key` holds now, read off its oldest and newest entries. While
    entries of earlier releases (one row each, no counts) are at either end: its entry count."""
    oldest, newest = client.xrange(key, count=1) or [], client.xrevrange(key, count=1) or []
    first, last = (dict(e[0][1] or {}) if e else {} for e in (oldest, newest))
    if THROUGH_FIELD not in first or THROUGH_FIELD not in last:
        return int(client.xlen(key))
    return int(last[THROUGH_FIELD]) - int(first[THROUGH_FIELD]) + int(first[COUNT_FIELD])


def logged_through(client: redis.Redis, key: str) -> int:
    """Rows logged through the newest entry of the log stream `key`, as `APPEND_SCRIPT` counts
    them (its entry count while that entry is of an earlier release; 0 when empty). Trims
    from the head leave it as it is, so its growth is what was appended in between."""
    newest = client.xrevrange(key, count=1) or []
    fields = dict(newest[0][1] or {}) if newest else {}
    if THROUGH_FIELD in fields:
        return int(fields[THROUGH_FIELD])
    return int(client.xlen(key))


def append_args(cap: int, entries: Sequence[LoggedPrediction]) -> list[int | bytes]:
    """`APPEND_SCRIPT`'s ARGV for one flush: the cap, then each entry's row count and rows."""
    args: list[int | bytes] = [cap]
    for rows, payload in encode_rows(entries):
        args += [rows, payload]
    return args
