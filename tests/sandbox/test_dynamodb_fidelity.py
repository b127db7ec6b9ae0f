"""DynamoDB CreateTable is atomic in the sandbox as in AWS (the lock table's first use)."""

from __future__ import annotations

import threading
from typing import Any


def test_concurrent_creates_of_one_table_have_exactly_one_winner(boto: Any) -> None:
    outcomes: list[str] = []
    start = threading.Barrier(6)

    def create() -> None:
        client = boto("dynamodb")
        start.wait()
        try:
            client.create_table(
                TableName="locks",
                BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
            )
            outcomes.append("created")
        except client.exceptions.ResourceInUseException:
            outcomes.append("in use")

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created"] + ["in use"] * 5
