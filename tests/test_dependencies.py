"""What the processes need installed to run at their speed (the project's own install
steps bring it; nothing is installed by hand)."""

from __future__ import annotations

from kafka.record import util
from kafka.record._crc32c import crc as pure_python_crc


def test_the_broker_client_checks_record_checksums_in_c() -> None:
    """Every record batch a consumer reads, and the relay writes, is checksummed with
    CRC-32C; in kafka-python's pure-Python fallback that took a third of a consumer's
    time (benchmarks/suite.py's consumer row)."""
    assert util.calc_crc32c.__defaults__ is not None
    (checksum,) = util.calc_crc32c.__defaults__
    assert checksum is not pure_python_crc
    assert util.calc_crc32c(memoryview(b"123456789")) == 0xE3069283  # the check value
