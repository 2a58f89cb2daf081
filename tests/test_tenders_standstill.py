"""The standstill end: 8 England and Wales working days, ending at London midnight.

Every expected instant is counted by hand in the comment beside it (working days
numbered 1-8, skipped days in brackets), never recomputed from the rule.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.tenders.standstill import (
    LONDON,
    STANDSTILL_WORKING_DAYS,
    accelerated,
    add_working_days,
    is_working_day,
    standstill_ends,
)

BST = timezone(timedelta(hours=1))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_the_period_is_eight_working_days() -> None:
    assert STANDSTILL_WORKING_DAYS == 8


def test_june_example_ends_at_london_midnight_after_the_eighth_working_day() -> None:
    # Wed 10 Jun: 11(1) 12(2) [13 14] 15(3) 16(4) 17(5) 18(6) 19(7) [20 21] 22(8)
    ends = standstill_ends(at("2026-06-10T09:00+01:00"))
    assert ends.isoformat() == "2026-06-22T23:00:00+00:00"
    assert ends.tzinfo is UTC
    assert ends.astimezone(LONDON).isoformat() == "2026-06-23T00:00:00+01:00"


@pytest.mark.parametrize(("awarded", "ends"), [
    # Thu 11 Mar (GMT): 12(1) 15(2) 16(3) 17(4) 18(5) 19(6) 22(7) 23(8) -> Wed 24 00:00 GMT
    ("2027-03-11T10:00+00:00", "2027-03-24T00:00:00+00:00"),
    # Fri 12 Mar: 15(1) 16 17 18 19(5) 22(6) 23(7) 24(8) -> Thu 25 00:00 GMT
    ("2027-03-12T10:00+00:00", "2027-03-25T00:00:00+00:00"),
    # Tue 16 Mar: 17(1) 18 19 22 23 24 25(7) [26 Good Friday, 27 28, 29 Easter Monday]
    # 30(8) -> Wed 31 00:00 BST (clocks went forward Sun 28)
    ("2027-03-16T10:00+00:00", "2027-03-30T23:00:00+00:00"),
    # the same Tuesday at 23:30 GMT is still Tuesday in London
    ("2027-03-16T23:30+00:00", "2027-03-30T23:00:00+00:00"),
    # Wed 17 Mar: 18(1) 19 22 23 24 25(6) [26-29] 30(7) 31(8) -> Thu 1 Apr 00:00 BST
    ("2027-03-17T10:00+00:00", "2027-03-31T23:00:00+00:00"),
])
def test_across_the_march_2027_clock_change(awarded: str, ends: str) -> None:
    assert standstill_ends(at(awarded)).isoformat() == ends


@pytest.mark.parametrize(("awarded", "ends"), [
    # Tue 13 Oct: 14(1) 15 16 19 20 21 22(7) 23(8) -> Sat 24 00:00 BST, the last BST midnight
    ("2026-10-13T10:00+01:00", "2026-10-23T23:00:00+00:00"),
    # Wed 14 Oct: 15(1) 16 19 20 21 22 23(7) [24, 25 clocks go back] 26(8) -> Tue 27 GMT
    ("2026-10-14T10:00+01:00", "2026-10-27T00:00:00+00:00"),
    # Wed 21 Oct: 22(1) 23(2) [24 25] 26 27 28 29 30(7) [31 1] 2 Nov(8) -> Tue 3 Nov GMT
    ("2026-10-21T10:00+01:00", "2026-11-03T00:00:00+00:00"),
    # 22:30 UTC is 23:30 BST on Tue 20: 21(1) 22 23 26 27 28 29 30(8) -> Sat 31 00:00 GMT
    ("2026-10-20T22:30+00:00", "2026-10-31T00:00:00+00:00"),
    # 23:30 UTC is 00:30 BST on Wed 21, so Wednesday is the award day
    ("2026-10-20T23:30+00:00", "2026-11-03T00:00:00+00:00"),
    # Sun 25 Oct, 01:30 happens twice (BST then GMT); both are Sunday:
    # 26(1) 27 28 29 30(5) [31 1] 2(6) 3(7) 4(8) -> Thu 5 Nov 00:00 GMT
    ("2026-10-25T01:30+01:00", "2026-11-05T00:00:00+00:00"),
    ("2026-10-25T01:30+00:00", "2026-11-05T00:00:00+00:00"),
])
def test_across_the_october_2026_clock_change(awarded: str, ends: str) -> None:
    assert standstill_ends(at(awarded)).isoformat() == ends


def test_over_easter_2027() -> None:
    assert date(2027, 3, 26).weekday() == 4  # Good Friday
    assert date(2027, 3, 29).weekday() == 0  # Easter Monday
    assert not is_working_day(date(2027, 3, 26))
    assert not is_working_day(date(2027, 3, 29))
    # Mon 22 Mar: 23(1) 24(2) 25(3) [26 GF, 27 28, 29 EM] 30(4) 31(5) 1 Apr(6) 2(7)
    # [3 4] 5(8) -> Tue 6 Apr 00:00 BST
    assert standstill_ends(at("2027-03-22T10:00+00:00")).isoformat() == (
        "2027-04-05T23:00:00+00:00")


def test_over_christmas_2026_with_the_boxing_day_substitute() -> None:
    # Known independently: Christmas Day 2026 is a Friday, so Boxing Day falls on
    # Saturday 26th and its substitute bank holiday is Monday 28th December.
    assert date(2026, 12, 25).weekday() == 4
    assert date(2026, 12, 26).weekday() == 5
    assert date(2026, 12, 28).weekday() == 0
    assert date(2027, 1, 1).weekday() == 4
    package = holidays.country_holidays("GB", subdiv="ENG", years=2026)
    assert date(2026, 12, 25) in package
    assert date(2026, 12, 28) in package
    assert "Boxing Day" in package[date(2026, 12, 28)]
    assert not is_working_day(date(2026, 12, 25))
    assert not is_working_day(date(2026, 12, 28))
    assert is_working_day(date(2026, 12, 24))
    assert is_working_day(date(2026, 12, 29))
    # Mon 21 Dec: 22(1) 23(2) 24(3) [25 Christmas, 26 27, 28 substitute] 29(4) 30(5)
    # 31(6) [1 Jan New Year's Day, 2 3] 4(7) 5(8) -> Wed 6 Jan 00:00 GMT
    assert standstill_ends(at("2026-12-21T15:00+00:00")).isoformat() == (
        "2027-01-06T00:00:00+00:00")


@pytest.mark.parametrize(("awarded", "ends"), [
    # Fri 12 Jun 23:30 BST: [13 14] 15(1) 16 17 18 19(5) [20 21] 22 23 24(8) -> Thu 25 BST
    ("2026-06-12T23:30+01:00", "2026-06-24T23:00:00+00:00"),
    ("2026-06-12T22:30+00:00", "2026-06-24T23:00:00+00:00"),  # the same instant in UTC
    # Fri 13 Nov 23:30 GMT: 16(1) 17 18 19 20(5) 23 24 25(8) -> Thu 26 Nov 00:00 GMT
    ("2026-11-13T23:30+00:00", "2026-11-26T00:00:00+00:00"),
])
def test_an_award_at_half_past_eleven_on_a_friday_counts_friday(
        awarded: str, ends: str) -> None:
    assert standstill_ends(at(awarded)).isoformat() == ends


def test_the_london_date_decides_the_award_day_not_the_utc_date() -> None:
    # Thu 11 Jun 23:30 BST: 12(1) 15 16 17 18 19(6) 22(7) 23(8) -> Wed 24 00:00 BST
    assert standstill_ends(at("2026-06-11T23:30+01:00")).isoformat() == (
        "2026-06-23T23:00:00+00:00")
    # Thu 11 Jun 23:30 UTC (and 19:30 in New York) is Fri 12 Jun 00:30 in London
    for awarded in ("2026-06-11T23:30+00:00", "2026-06-11T19:30-04:00"):
        assert standstill_ends(at(awarded)).isoformat() == "2026-06-24T23:00:00+00:00"


@pytest.mark.parametrize("awarded", ["2026-06-13T10:00+01:00", "2026-06-14T18:00+01:00"])
def test_an_award_at_the_weekend_counts_from_the_next_working_day(awarded: str) -> None:
    # Sat 13 / Sun 14 Jun: 15(1) 16 17 18 19(5) [20 21] 22 23 24(8) -> Thu 25 00:00 BST
    assert standstill_ends(at(awarded)).isoformat() == "2026-06-24T23:00:00+00:00"


def test_an_award_on_a_bank_holiday_counts_from_the_next_working_day() -> None:
    # Easter Monday 29 Mar 2027: 30(1) 31 1 2(4) [3 4] 5 6 7 8(8) -> Fri 9 Apr 00:00 BST
    assert standstill_ends(at("2027-03-29T10:00+01:00")).isoformat() == (
        "2027-04-08T23:00:00+00:00")


def test_the_early_may_bank_holiday() -> None:
    # May 2026 starts on a Friday, so its first Monday is the 4th
    assert date(2026, 5, 1).weekday() == 4
    assert date(2026, 5, 4).weekday() == 0
    assert not is_working_day(date(2026, 5, 4))
    # Wed 29 Apr: 30(1) 1 May(2) [2 3, 4 early May] 5(3) 6 7 8(6) [9 10] 11(7) 12(8)
    # -> Wed 13 May 00:00 BST
    assert standstill_ends(at("2026-04-29T10:00+01:00")).isoformat() == (
        "2026-05-12T23:00:00+00:00")


def test_the_spring_bank_holiday() -> None:
    # the last Monday of May 2026 is the 25th (a week later is June)
    assert date(2026, 5, 25).weekday() == 0
    assert (date(2026, 5, 25) + timedelta(days=7)).month == 6
    assert not is_working_day(date(2026, 5, 25))
    # Mon 18 May: 19(1) 20 21 22(4) [23 24, 25 spring] 26(5) 27 28 29(8) -> Sat 30 BST
    assert standstill_ends(at("2026-05-18T10:00+01:00")).isoformat() == (
        "2026-05-29T23:00:00+00:00")


def test_england_only_holidays_are_not_working_days() -> None:
    # The GB-wide calendar lacks these two; England and Wales keep them.
    assert not is_working_day(date(2026, 4, 6))  # Easter Monday
    assert not is_working_day(date(2026, 8, 31))  # summer bank holiday


def test_one_off_bank_holidays_are_not_working_days() -> None:
    assert not is_working_day(date(2022, 9, 19))  # Queen Elizabeth II's state funeral
    assert not is_working_day(date(2023, 5, 8))  # coronation of Charles III
    assert not is_working_day(date(2020, 5, 8))  # early May moved to VE Day (a Friday)
    assert is_working_day(date(2020, 5, 4))  # ... so its usual Monday was worked


def test_wales_shares_englands_bank_holidays() -> None:
    for year in range(2024, 2031):
        england = holidays.country_holidays("GB", subdiv="ENG", years=year)
        wales = holidays.country_holidays("GB", subdiv="WLS", years=year)
        assert set(england) == set(wales)


def test_years_far_ahead_work() -> None:
    # 2040: Good Friday 30 Mar, Easter Monday 2 Apr; clocks went forward Sun 25 Mar.
    assert date(2040, 3, 30).weekday() == 4
    assert not is_working_day(date(2040, 3, 30))
    assert not is_working_day(date(2040, 4, 2))
    assert not is_working_day(date(2040, 12, 25))
    # Wed 28 Mar: 29(1) [30 GF, 31 1, 2 EM] 3(2) 4 5 6(5) [7 8] 9(6) 10(7) 11(8)
    # -> Thu 12 Apr 00:00 BST
    assert standstill_ends(at("2040-03-28T12:00+01:00")).isoformat() == (
        "2040-04-11T23:00:00+00:00")


def test_a_year_without_holiday_data_is_refused_not_treated_as_all_working() -> None:
    with pytest.raises(ValueError, match="2101"):
        is_working_day(date(2101, 1, 8))
    with pytest.raises(ValueError, match="2101"):
        is_working_day(date(2101, 1, 1))
    with pytest.raises(ValueError, match="2101"):
        standstill_ends(at("2100-12-29T10:00+00:00"))


@pytest.mark.parametrize(("day", "n", "expected"), [
    (date(2026, 6, 12), 1, date(2026, 6, 15)),  # Fri -> Mon
    (date(2026, 6, 13), 1, date(2026, 6, 15)),  # Sat -> Mon
    (date(2026, 6, 10), 8, date(2026, 6, 22)),
    (date(2026, 12, 24), 1, date(2026, 12, 29)),  # over Christmas and the substitute
    (date(2026, 12, 31), 1, date(2027, 1, 4)),  # over New Year's Day (a Friday)
    (date(2026, 6, 1), 20, date(2026, 6, 29)),  # four full weeks
])
def test_add_working_days(day: date, n: int, expected: date) -> None:
    assert add_working_days(day, n) == expected


@pytest.mark.parametrize("n", [0, -1])
def test_add_working_days_needs_at_least_one(n: int) -> None:
    with pytest.raises(ValueError):
        add_working_days(date(2026, 6, 10), n)


def test_a_custom_number_of_working_days() -> None:
    # Wed 10 Jun, 1 working day: 11(1) -> Fri 12 00:00 BST
    assert standstill_ends(at("2026-06-10T09:00+01:00"), 1).isoformat() == (
        "2026-06-11T23:00:00+00:00")
    with pytest.raises(ValueError):
        standstill_ends(at("2026-06-10T09:00+01:00"), 0)


def test_a_naive_award_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        standstill_ends(datetime(2026, 6, 10, 9, 0))


ZONES = st.sampled_from([UTC, LONDON, BST, timezone(timedelta(hours=14)),
                         timezone(timedelta(hours=-11)),
                         timezone(timedelta(hours=5, minutes=30))])


@settings(max_examples=300, deadline=None)
@given(awarded_at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1),
                               timezones=ZONES, allow_imaginary=False),
       working_days=st.one_of(st.just(STANDSTILL_WORKING_DAYS), st.integers(1, 40)))
def test_the_end_is_a_london_midnight_after_exactly_n_working_days(
        awarded_at: datetime, working_days: int) -> None:
    ends = standstill_ends(awarded_at, working_days)
    assert ends.tzinfo is UTC
    local = ends.astimezone(LONDON)
    assert local.time() == time(0)
    assert ends > awarded_at
    award_day = awarded_at.astimezone(LONDON).date()
    last_day = local.date() - timedelta(days=1)
    assert is_working_day(last_day)  # no idle days tacked on after the last one
    between = [award_day + timedelta(days=k)
               for k in range(1, (local.date() - award_day).days)]
    assert sum(is_working_day(day) for day in between) == working_days


def test_accelerator_14400_turns_ten_days_into_a_minute() -> None:
    start = at("2026-06-10T08:00+00:00")
    assert accelerated(start, start + timedelta(days=10), 14400).isoformat() == (
        "2026-06-10T08:01:00+00:00")


def test_accelerator_one_is_real_time() -> None:
    start = at("2026-06-10T09:00+01:00")
    nominal_end = datetime(2026, 6, 23, 0, 0, tzinfo=LONDON)
    result = accelerated(start, nominal_end, 1)
    assert result == nominal_end
    assert result.isoformat() == "2026-06-22T23:00:00+00:00"


def test_accelerating_a_standstill() -> None:
    # 08:00Z on 10 Jun to 23:00Z on 22 Jun is 12 days 15 hours = 1,090,800 s;
    # / 1440 = 757.5 s = 12 min 37.5 s
    awarded = at("2026-06-10T09:00+01:00")
    assert accelerated(awarded, standstill_ends(awarded), 1440).isoformat() == (
        "2026-06-10T08:12:37.500000+00:00")


def test_acceleration_uses_elapsed_time_across_a_clock_change() -> None:
    # Noon to noon London over Sun 25 Oct 2026 is 25 hours (11:00Z to 12:00Z next day);
    # / 5 = 5 hours. Wall-clock arithmetic would say 24 h / 5 = 4 h 48 min.
    start = datetime(2026, 10, 24, 12, 0, tzinfo=LONDON)
    nominal_end = datetime(2026, 10, 25, 12, 0, tzinfo=LONDON)
    assert accelerated(start, nominal_end, 5).isoformat() == "2026-10-24T16:00:00+00:00"


def test_acceleration_rounds_to_the_microsecond_and_mixes_offsets() -> None:
    # one day / 7 = 12,342.857142857... s = 3 h 25 min 42.857143 s
    start = at("2026-06-10T05:30+05:30")  # 00:00Z
    assert accelerated(start, at("2026-06-11T00:00+00:00"), 7).isoformat() == (
        "2026-06-10T03:25:42.857143+00:00")


@pytest.mark.parametrize("accelerator", [0, -1])
def test_an_accelerator_below_one_is_refused(accelerator: int) -> None:
    start = at("2026-06-10T08:00+00:00")
    with pytest.raises(ValueError, match="accelerator"):
        accelerated(start, start + timedelta(days=1), accelerator)


def test_acceleration_refuses_naive_datetimes() -> None:
    aware = at("2026-06-10T08:00+00:00")
    naive = datetime(2026, 6, 11, 8, 0)
    with pytest.raises(ValueError, match="naive"):
        accelerated(aware, naive, 2)
    with pytest.raises(ValueError, match="naive"):
        accelerated(naive, aware, 2)
