"""``spillway cost``: the monthly AWS bill for a delivery volume, from a dated price table and
the request counts and durations ``make bench`` measured."""
