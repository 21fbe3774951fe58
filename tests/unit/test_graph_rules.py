"""Structural rules of a diagram: each broken rule gives a message naming the culprit."""

from __future__ import annotations

from partita.model.campaign import parse_campaign
from partita.model.graph import compute_flow, structure_problems

HEAD = "name: g\nactivities:\n"


def problems(body: str) -> list[str]:
    return [str(p) for p in structure_problems(parse_campaign(HEAD + body))]


def test_valid_diagram_has_no_problem() -> None:
    assert (
        problems(
            "  - {id: a, type: build_audience}\n  - {id: b, type: build_audience}\n"
            "  - {id: c, type: combine, mode: union}\n  - {id: e, type: end}\n"
            "transitions: [{from: a, to: c}, {from: b, to: c}, {from: c, to: e}]\n"
        )
        == []
    )


def test_cycle_is_refused() -> None:
    assert problems(
        "  - {id: a, type: build_audience}\n  - {id: f, type: fork}\n"
        "  - {id: j, type: combine, mode: union}\n"
        "transitions: [{from: a, to: j}, {from: j, to: f}, {from: f.out1, to: j}]\n"
    ) == [
        "activity 'j': the diagram has a cycle: j -> f -> j (remove one of these transitions)",
    ]


def test_dangling_transitions_name_the_missing_activity() -> None:
    assert problems(
        "  - {id: gold, type: build_audience}\n  - {id: done, type: end}\n"
        "transitions: [{from: gold, to: dnoe}, {from: glod, to: done}]\n"
    ) == [
        "field 'transitions[0].to': transition 'gold -> dnoe' leads to unknown activity 'dnoe': "
        "did you mean 'done'?",
        "field 'transitions[1].from': transition 'glod -> done' starts at unknown activity "
        "'glod': did you mean 'gold'?",
    ]


def test_unknown_output_suggests_the_real_ones() -> None:
    assert problems(
        "  - {id: a, type: build_audience}\n"
        "  - {id: s, type: split, subsets: [{name: mail}, {name: text}]}\n"
        "  - {id: e, type: end}\n"
        "transitions: [{from: a, to: s}, {from: s.mial, to: e}]\n"
    ) == [
        "activity 's', field 'transitions[1].from': transition 's.mial -> e': activity 's' "
        "(split) has no output 'mial': did you mean 'mail'?",
    ]


def test_duplicate_transition_and_output_used_twice() -> None:
    assert problems(
        "  - {id: a, type: build_audience}\n  - {id: e, type: end}\n  - {id: f, type: end}\n"
        "transitions: [{from: a, to: e}, {from: a, to: e}, {from: a, to: f}]\n"
    ) == [
        "field 'transitions[1]': transition 'a -> e' is listed twice",
        "activity 'a': output 'a' has 3 outbound transitions; an output is used at most once "
        "(add a fork to send one population down several branches)",
    ]


def test_input_counts_are_exact() -> None:
    found = problems(
        "  - {id: a, type: build_audience}\n  - {id: b, type: build_audience}\n"
        "  - {id: c, type: combine, mode: union}\n  - {id: d, type: deduplication, keys: [x]}\n"
        "  - {id: e, type: end}\n"
        "transitions: [{from: a, to: c}, {from: b, to: d}, {from: a.out, to: d}, "
        "{from: c, to: e}]\n"
    )
    assert (
        "activity 'c', field 'transitions': combine takes at least 2 inbound transitions, "
        "it has 1" in found
    )
    assert (
        "activity 'd', field 'transitions': deduplication takes exactly 1 inbound "
        "transition, it has 2" in found
    )


def test_duplicate_ids_and_bad_primary() -> None:
    assert problems(
        "  - {id: a, type: build_audience}\n  - {id: a, type: build_audience}\n"
        "  - {id: b, type: build_audience}\n"
        "  - {id: x, type: combine, mode: exclusion, primary: c}\n"
        "transitions: [{from: a, to: x}, {from: b, to: x}]\n"
    ) == [
        "activity 'a', field 'id': the id is used by 2 activities; ids must be unique",
        "activity 'x', field 'primary': primary 'c' is not one of the inputs: valid names: "
        "'a', 'b'",
    ]


def test_flow_carries_dimensions_and_refuses_mixed_combine() -> None:
    campaign = parse_campaign(
        HEAD + "  - {id: c, type: build_audience}\n"
        "  - {id: p, type: build_audience, dimension: purchases}\n"
        "  - {id: u, type: combine, mode: union}\n"
        "  - {id: s, type: split, single_table: true, subsets: [{name: a}]}\n"
        "transitions: [{from: c, to: u}, {from: p, to: u}, {from: c, to: s}]\n"
    )
    flow, found = compute_flow(campaign)
    assert [str(p) for p in found] == [
        "activity 'u', field 'transitions': combine needs inputs of one dimension, got 'c' "
        "(customers), 'p' (purchases) (add a change_dimension before one of them)",
    ]
    assert flow.input_dimensions["s"] == ["customers"]
    assert flow.output_columns[next(e for e in flow.output_columns if e.activity == "s")] == {
        "segment": "string"
    }
