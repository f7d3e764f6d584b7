"""A field sent at its zero value is read as sent, a field left out as the documented default: a location at
(0, 0) is a place, no location is a problem; a capacity of 0 is 0, no capacity is the default."""

from __future__ import annotations

from mentormatch.v1 import cohort_pb2 as pb
from server.convert import cohort_from_proto_checked
from solver.domain import Mentor


def _cohort() -> pb.Cohort:
    msg = pb.Cohort()
    for k in range(3):
        mentor = msg.mentors.add(id=f"M{k}", capacity=2)
        mentor.location.lat, mentor.location.lon = 55.7, 12.5
        mentee = msg.mentees.add(id=f"E{k}")
        mentee.location.lat, mentee.location.lon = 55.6, 12.4
    return msg


def test_location_at_zero_zero_is_a_place_and_no_location_a_problem() -> None:
    msg = _cohort()
    msg.mentors[0].location.lat, msg.mentors[0].location.lon = 0.0, 0.0  # sent: the Gulf of Guinea
    msg.mentees[1].location.lat, msg.mentees[1].location.lon = 0.0, 0.0
    msg.mentees[2].ClearField("location")  # not sent
    msg.mentors[2].ClearField("location")
    cohort, problems = cohort_from_proto_checked(msg)
    assert (cohort.mentors[0].lat, cohort.mentors[0].lon) == (0.0, 0.0)
    assert (cohort.mentees[1].lat, cohort.mentees[1].lon) == (0.0, 0.0)
    assert [p.path for p in problems] == ["mentors[2].location", "mentees[2].location"]


def test_capacity_zero_is_kept_and_no_capacity_is_the_default() -> None:
    msg = _cohort()
    msg.mentors[0].capacity = 0
    msg.mentors[1].ClearField("capacity")
    cohort, problems = cohort_from_proto_checked(msg)
    assert problems == []
    default = Mentor(id="x", lat=0.0, lon=0.0, occupations=(), languages=()).capacity
    assert [m.capacity for m in cohort.mentors] == [0, default, 2]
