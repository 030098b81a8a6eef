"""The seeded data generator: a tool that writes CSVs in the raw schema, not a flow.

- `generator.py`     listings, their demand, the drift scenario's shifted month; `generate`
- `booking_times.py` when the bookings happen (weekly, seasonal, hour-of-day rhythms)
"""
