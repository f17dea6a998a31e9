"""The draft-length planner on hand-made costs: the fit, the choice, the acceptance estimate and
the exploration after plain steps."""

from __future__ import annotations

import pytest

from docqa.generation.draft_planner import DraftPlanner, LinearCost


def test_linear_cost_recovers_a_line_and_is_pessimistic_with_one_size() -> None:
    cost = LinearCost()
    assert cost.coefficients() == (0.0, 0.0)
    for x in (0.0, 3.0, 7.0, 15.0, 0.0, 7.0):
        cost.add(x, 0.046 + 0.03 * x)
    a, b = cost.coefficients()
    assert a == pytest.approx(0.046, abs=1e-9) and b == pytest.approx(0.03, abs=1e-9)
    one = LinearCost()
    one.add(10.0, 0.44)  # a pass over 11 tokens: taken as 11 single-token passes
    assert one(0.0) == pytest.approx(0.04) and one(10.0) == pytest.approx(0.44)


def _planner(a: float, b: float, alpha: float, **kw: float) -> DraftPlanner:
    planner = DraftPlanner(k_max=16, initial=10, **kw)  # type: ignore[arg-type]
    for n in (1, 3, 5, 9, 17):
        planner.record_pass(n, a + b * (n - 1))
    planner.record_plain_draft_time(8, 0.0)  # a free drafter
    kept = round(alpha / (1 - alpha))  # accepted tokens per miss
    for _ in range(200):
        planner.record_draft(kept + 4, kept, 0.0)
    return planner


def test_before_any_measurement_it_drafts_the_initial_length() -> None:
    assert DraftPlanner(k_max=16, initial=10).choose() == 10
    assert DraftPlanner(k_max=4, initial=10).choose() == 4


def test_a_pass_that_costs_as_much_per_token_as_decoding_means_no_draft() -> None:
    # this CPU: 16 tokens in one pass cost ~10 single-token passes
    planner = _planner(a=0.046, b=0.03, alpha=0.5)
    assert planner.choose() == 0
    assert planner.expected_rate(0) > planner.expected_rate(4)


def test_a_pass_that_costs_the_same_for_many_tokens_means_long_drafts() -> None:
    # a GPU-like target: scoring 17 tokens costs 10% more than one
    planner = _planner(a=0.020, b=0.00012, alpha=0.9)
    assert planner.alpha > 0.8
    assert planner.choose() >= 12


def test_acceptance_is_estimated_token_by_token_and_follows_recent_drafts() -> None:
    planner = DraftPlanner(prior_alpha=0.5, prior_tokens=2.0)
    assert planner.alpha == pytest.approx(0.5)
    for _ in range(50):
        planner.record_draft(4, 4, 0.0)  # all accepted: no miss
    assert planner.alpha > 0.97
    for _ in range(100):
        planner.record_draft(4, 0, 0.0)  # rejected at once
    assert planner.alpha < 0.05
    planner.record_draft(0, 0, 0.0)  # nothing drafted tells nothing
    assert planner.alpha < 0.05


def test_a_costly_drafter_is_tried_again_after_plain_steps() -> None:
    planner = DraftPlanner(k_max=16, explore_every=4, explore_tokens=2)
    planner.record_pass(1, 0.05)
    planner.record_pass(11, 0.55)
    planner.record_draft(10, 0, 1.0)  # a model drafter: 0.1 s a token, and wrong
    assert not planner.shadow_worthwhile()
    assert [planner.choose() for _ in range(8)] == [0, 0, 0, 2, 0, 0, 0, 2]


def test_a_cheap_drafter_is_checked_in_the_shadow_instead() -> None:
    planner = DraftPlanner(k_max=16, explore_every=4)
    planner.record_pass(1, 0.05)
    planner.record_pass(11, 0.55)
    planner.record_plain_draft_time(16, 0.0001)
    planner.record_draft(10, 0, None)
    assert planner.shadow_worthwhile()
    assert [planner.choose() for _ in range(8)] == [0] * 8


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="k_max"):
        DraftPlanner(k_max=0)
