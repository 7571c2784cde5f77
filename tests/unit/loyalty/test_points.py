from services.loyalty.handlers import award_points
from services.loyalty.points import points_for
from shared.envelope import new_event
from tests.support.events import ORDER_ID


def test_one_point_per_whole_euro() -> None:
    assert [points_for(c) for c in (0, 99, 100, 1999)] == [0, 0, 1, 19]


class FakeStore:
    def __init__(self) -> None:
        self.credited: set[str] = set()

    def award_points(self, order) -> bool:
        new = order.order_id not in self.credited
        self.credited.add(order.order_id)
        return new


def test_a_repeated_confirmation_credits_the_order_once() -> None:
    store = FakeStore()
    data = {"order_id": ORDER_ID, "customer_email": "a@example.com", "total_cents": 500}
    event = new_event("order.confirmed", data, source="orders")
    award_points(event, store)
    award_points(event, store)
    assert store.credited == {ORDER_ID}
