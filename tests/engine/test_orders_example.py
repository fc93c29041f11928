"""The original engine's order-approval example (YAML format) through the original API."""

from __future__ import annotations

from pathlib import Path

import pytest

from siamese import RuleEngine

DATA = Path(__file__).parent / "data" / "orders.yaml"


@pytest.fixture
def e() -> RuleEngine:
    engine = RuleEngine()
    engine.load_from_file(DATA)
    return engine


async def test_user_permissions(e: RuleEngine) -> None:
    assert await e.exists("can_place_order", "alice")
    assert await e.exists("can_view_all_orders", "alice")
    assert await e.exists("can_place_order", "bob")
    assert not await e.exists("can_view_all_orders", "bob")
    assert not await e.exists("can_place_order", "charlie")
    assert await e.exists("can_place_order", "david")


async def test_or_is_a_real_disjunction(e: RuleEngine) -> None:
    # the original never evaluated the goals of `or`, so everyone could approve
    approvers = sorted([s["?U"] async for s in e.query("can_approve_orders", "?U")])
    assert approvers == ["alice", "david"]


async def test_products_orders_discounts(e: RuleEngine) -> None:
    available = [s["?P"] async for s in e.query("product_available", "?P")]
    assert available == ["laptop", "phone", "chair"]
    assert await e.exists("can_place_specific_order", "alice", "order1")
    assert not await e.exists("can_place_specific_order", "bob", "order2")
    assert not await e.exists("order_requires_approval", "order1")
    assert await e.exists("order_auto_approved", "order2")
    assert not await e.exists("order_auto_approved", "order1")
    assert await e.query_one("user_discount", "alice", "?D") == {"?D": 0.1}
    assert await e.query_one("user_discount", "david", "?D") == {"?D": 0.05}
    assert await e.query_one("user_discount", "bob", "?D") == {"?D": 0}
    assert await e.exists("sufficient_inventory", "phone", 30)
    assert not await e.exists("sufficient_inventory", "laptop", 60)
    assert not await e.exists("sufficient_inventory", "book", 1)
    assert await e.exists("valid_product_price", 50)
    assert not await e.exists("valid_product_price", 0)
    assert not await e.exists("valid_product_price", 200000)


async def test_explanation_of_a_yaml_rule_names_its_id(e: RuleEngine) -> None:
    proof = await e.prove("can_approve_orders", "david")
    assert proof is not None
    assert proof[0].rule == "admins-approve"
    assert proof[0].location == f"{DATA}:28"  # the line where the rule starts
