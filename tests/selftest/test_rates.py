"""grader.outputs.rates: the class page's pass rates grouped per test function, cases folded."""

from __future__ import annotations

from types import SimpleNamespace as Entry

from grader.outputs.rates import pass_rates, split_case


def test_cases_group_under_their_function_in_key_order():
    """Do the cases of a parametrized test become one line (summed points, runs passed) with its cases inside,
    while a plain test stays one line without cases?"""
    key = [Entry(id="test_sigmoid_values", doc="Does sigmoid match 1/(1+e^-z)?", points=2.0),
           Entry(id="test_backward[relu-mse]", doc="Does backward match? (activation: relu, loss: mse)", points=3.0),
           Entry(id="test_backward[tanh-mse]", doc="Does backward match? (activation: tanh, loss: mse)", points=3.0)]
    rates = pass_rates(key, [4, 3, 1], count=4)
    assert [(r.name, r.doc, r.points, r.passed, r.runs, r.rate) for r in rates] == [
        ("test_sigmoid_values", "Does sigmoid match 1/(1+e^-z)?", 2.0, 4, 4, 100),
        ("test_backward", "Does backward match?", 6.0, 4, 8, 50)]
    assert rates[0].cases == []
    assert [(c.params, c.points, c.passed, c.rate) for c in rates[1].cases] == [
        ("activation: relu, loss: mse", 3.0, 3, 75), ("activation: tanh, loss: mse", 3.0, 1, 25)]


def test_a_case_without_parameters_in_its_question_shows_its_id_part():
    """Does a case whose question carries no parameters keep the question and show the id's bracket instead?"""
    assert split_case("test_x[a-1]", "Is x right?") == ("test_x", "Is x right?", "a-1")
    assert pass_rates([], [], count=0) == []
