"""Identity and lateness rules: one normalisation for ids, matching in three steps, Moodle's late text, the policy."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from grader.grading import lateness, roster


@pytest.mark.parametrize("raw, want", [(" S1234567 ", "s1234567"), ("222.0", "222"), ("00222", "222"), ("0", "0"),
                                       ("s0123", "s0123"), ("Ada@Uni.Example", "ada@uni.example"), ("２２２", "222")])  # fmt: skip
def test_roster_normalise_id(raw, want):
    """Is every id compared by one rule: case, leading zeros of numbers, a spreadsheet's "222.0"?"""
    assert roster.normalise_id(raw) == want


def test_roster_match_by_id_then_email_then_name():
    """Does each member find its row by id, else email, else exact full name, and an unknown id no row?"""
    people = [roster.Person("101", "Ada Lovelace", "ada@uni.example", ("s0001",)),
              roster.Person("102", "Jörg Müßig", "joerg@uni.example"), roster.Person("103", "Grace Hopper", "g@uni.example")]  # fmt: skip
    claim = roster.Claim("g", participant="101", members=["1.0", "joerg@uni.example", "x9", "zz"],
                         details={"x9": {"name": "Grace  Hopper", "email": ""}, "zz": {"name": "Grace hopper", "email": ""}})  # fmt: skip
    found = roster.match(claim, people)
    assert {k: p.participant for k, p in found.rows.items()} == {"joerg@uni.example": "102", "x9": "103", "101": "101"}
    assert any("student 1.0: not found" in p for p in found.problems)  # 1.0 -> "1": no Participant 1
    assert any("student zz: not found" in p for p in found.problems)  # names match exactly (case counts)
    assert any("submitter (Participant 101) is not listed" in p for p in found.problems)
    by_id_number = roster.match(roster.Claim("a", members=["S0001"]), people)
    assert by_id_number.rows["S0001"].participant == "101" and by_id_number.problems == []


def test_roster_read_members_details():
    """Does members.txt take "id, full name, email" lines and normalise the ids?"""
    problems = []
    ids, details = roster.read_members("\ufeffS0123, Ada Lovelace, ada@uni.example\n0042\n=evil()\n", 3, problems)
    assert ids == ["s0123", "42"] and details == {"s0123": {"email": "ada@uni.example", "name": "Ada Lovelace"}}
    assert "not valid student ids" in problems[0]


def test_lateness_from_moodle_status_and_policy():
    """Is Moodle's "... late" text read, and the policy's penalty per started day capped?"""
    assert lateness.late_from_status("Submitted for grading - 1 day 2 hours late - Graded") == 93600
    assert lateness.late_from_status("Submitted for grading - 5 mins 3 secs late") == 303
    assert lateness.late_from_status("No submission") is None
    policy = lateness.parse_policy("10%,50%")
    assert lateness.assess("x - 1 day 2 hours late", policy=policy).penalty == 0.2
    assert lateness.assess("x - 9 days 1 hour late", policy=policy).penalty == 0.5
    assert lateness.assess("Submitted for grading", policy=policy) is None
    with pytest.raises(ValueError, match="PERCENT_PER_DAY"):
        lateness.parse_policy("ten")


def test_lateness_from_deadline_and_moodle_dates():
    """Does --deadline against the submission time give the lateness, and Moodle's date format parse?"""
    deadline = lateness.parse_deadline("2026-11-30T23:59+00:00")
    late = lateness.assess(submitted=deadline + timedelta(minutes=1), deadline=deadline, policy=lateness.Policy(10))
    assert late.days == 1 and late.penalty == 0.1 and late.describe() == "late by 1 min (against --deadline); late penalty 10 %"
    assert lateness.assess(submitted=deadline - timedelta(hours=1), deadline=deadline) is None
    when = lateness.parse_moodle_date("Wednesday, 2 December 2026, 2:00 AM")
    assert when.replace(tzinfo=None) == datetime(2026, 12, 2, 2, 0) and when.tzinfo is not None
    assert lateness.localise(lateness.parse_deadline("2026-11-30 23:59")).tzinfo is not None
    berlin = lateness.parse_timezone("Europe/Berlin")
    due = lateness.localise(lateness.parse_deadline("2026-11-30 23:59"), berlin)
    late = lateness.assess("Submitted - 1 day late", due + timedelta(hours=24, minutes=30), due, lateness.Policy(10))
    assert late.days == 2 and late.penalty == 0.2 and "--deadline" in late.source  # exact, not Moodle's "1 day"
    assert lateness.assess("Submitted - 1 day late", policy=lateness.Policy(10)).penalty == 0.1  # the fallback
    assert lateness.late_from_status("Zur Bewertung abgegeben - 1 Tag 2 Stunden zu spät") == 93600
    with pytest.raises(ValueError, match="not a time zone"):
        lateness.parse_timezone("Mars/Olympus")
    assert lateness.duration(93600) == "1 day 2 hours" and lateness.duration(3 * 86400) == "3 days"
