"""kafka-python's private internals that the consumer's stall mend needs are still there
(fails loudly on a kafka-python upgrade that renames them, instead of the mend going
silently inert)."""

import kafka

from streamproc.transport.kafka_compat import check_internals, keep_joined


def test_the_internals_the_mend_uses_exist() -> None:
    assert check_internals() == [], (
        f"kafka-python {kafka.__version__} lacks {check_internals()}: the consumer-group "
        "stall mend in streamproc/transport/kafka_compat.py needs porting"
    )


def test_the_mend_asks_for_a_rejoin_only_when_the_member_is_stuck() -> None:
    class Coordinator:
        def __init__(self, stable: bool, rejoining: bool) -> None:
            self.stable, self.rejoining, self.asked = stable, rejoining, 0

        def generation_if_stable(self) -> object | None:
            return object() if self.stable else None

        def need_rejoin(self) -> bool:
            return self.rejoining

        def request_rejoin(self) -> None:
            self.asked += 1

    class Client:
        def __init__(self, c: Coordinator) -> None:
            self._coordinator = c

    cases = {(True, False): 0, (False, True): 0, (False, False): 1}
    for (stable, rejoining), asked in cases.items():
        c = Coordinator(stable, rejoining)
        keep_joined(Client(c))  # type: ignore[arg-type]
        assert c.asked == asked
