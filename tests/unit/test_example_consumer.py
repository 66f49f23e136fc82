"""examples/consumer: while no record comes it says that it is waiting, never silent for its whole timeout."""

from __future__ import annotations

from examples.consumer.__main__ import Progress


def test_the_consumer_says_at_once_that_it_waits_and_how_it_stops() -> None:
    assert Progress(0.0, 60, 20, 10).first() == "waiting for records: stops at 20 records or after 60 s"


def test_the_consumer_reports_every_interval_without_a_record_with_the_time_left() -> None:
    progress = Progress(100.0, 60, 20, 10)
    assert progress.tick(105.0, 0, got_one=False) is None
    assert progress.tick(110.0, 0, got_one=False) == "still waiting: 0 records so far, 50 s left"
    assert progress.tick(115.0, 0, got_one=False) is None
    assert progress.tick(120.5, 0, got_one=False) == "still waiting: 0 records so far, 40 s left"


def test_records_arriving_keep_the_consumer_from_saying_it_waits() -> None:
    progress = Progress(0.0, 60, 20, 10)
    for second in range(1, 30):
        assert progress.tick(float(second), second, got_one=True) is None
    assert progress.tick(39.0, 29, got_one=False) == "still waiting: 29 records so far, 21 s left"
