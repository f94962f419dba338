"""A command's effect is readable soon after the pipeline starts. A new consumer group
takes about 3 s to form on the embedded broker (half the session timeout), and the
default wait of a read is 3 s: the consumers read the store while their group forms, so
the first read answers well inside that wait, not at its edge."""

from __future__ import annotations

from tests.pipeline import pipeline

# The read waits this long for its effect: less than the group takes to form, and less
# than a partition waits before it counts as stalled (2 s, consumers/runner.py).
SHORT_WAIT_MS = 1_500


def test_the_first_read_after_start_up_answers_before_the_group_has_formed(settings):
    quick = settings.model_copy(update={"query_wait_ms": SHORT_WAIT_MS})
    with pipeline(quick) as p:
        account = p.api.open_account("Early Bird Ltd")
        balance = p.api.get(
            f"/v1/accounts/{account['id']}/balance", min_position=account["position"]
        )
        assert balance.status_code == 200, balance.text
        assert balance.json()["account_id"] == account["id"]
