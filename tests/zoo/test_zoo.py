"""The defect zoo: every defect caught by its simulation detector, every control passing."""

import pytest

from harness.model import Verdict
from harness.zoo.catalog import SIM_DETECTORS, Detector, defects_in, sim_detector
from harness.zoo.simulated import run_sim_case
from harness.zoo.verdicts import judge, table
from system.defects import DEFECTS


@pytest.mark.parametrize("defect", defects_in("orchestration"))
def test_simulation_catches_the_defect_and_passes_without_it(defect):
    result = run_sim_case(defect, SIM_DETECTORS[defect], seed=1)
    assert result.caught_by, f"{defect} not caught; replay: {result.replay}"
    assert not result.control_broken, f"control failed for {defect}: {result.control_broken}"
    assert f"--defects {defect}" in result.replay


DETECTOR = Detector("sim", "simulation", ("stock_conserved",), ignore=frozenset({"one_effect_per_cause"}))


def v(name, valid):
    return Verdict(name, valid)


@pytest.mark.parametrize("defect", defects_in("choreography"))
def test_in_a_choreography_the_simulation_catches_every_defect_that_makes_sense_there(defect):
    result = run_sim_case(defect, sim_detector(defect, "choreography"), seed=1, style="choreography")
    assert result.caught, f"{defect} not caught in a choreography; replay: {result.replay}"
    assert "--style choreography" in result.replay


def test_each_style_leaves_out_only_what_cannot_exist_there():
    # late_payment_not_refunded: in a choreography delivery's cancelled tombstone undoes the late
    # charge through the ordinary delivery.failed -> refund reaction anyway (system/composition.py).
    assert set(DEFECTS) - set(defects_in("choreography")) == {"compensation_repeated_on_copy",
                                                              "late_payment_not_refunded"}
    assert set(DEFECTS) - set(defects_in("orchestration")) == {"order_still_commands"}


def test_judge_needs_an_expected_invariant_to_fire():
    quiet = judge("d", DETECTOR, [v("stock_conserved", True), v("trace_legal", False)], [], 1.0, "cmd")
    assert not quiet.caught and quiet.caught_by == ()


def test_judge_refuses_a_catch_when_the_control_fails_too():
    noisy = judge("d", DETECTOR, [v("stock_conserved", False)], [v("orders_terminal", False)], 1.0, "cmd")
    assert noisy.caught_by == ("stock_conserved",) and not noisy.caught
    assert "FAILS: orders_terminal" in table([noisy])
    assert table([noisy]).endswith("caught 0/1")


def test_judge_ignores_what_the_detector_breaks_by_design():
    ok = judge("d", DETECTOR, [v("stock_conserved", False)], [v("one_effect_per_cause", False)], 1.0, "cmd")
    assert ok.caught and table([ok]).endswith("caught 1/1")
