"""Campaign files: parsing, round trips, and the problems a broken file reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from partita.model.campaign import Campaign, load_campaign, parse_campaign, save_campaign
from partita.model.problems import InvalidInput

VALID = """\
name: spring-promo
label: Spring promotion
seed: 42
variables:
  country: {type: string, default: FR}
activities:
  - {id: gold, type: build_audience, filter: "loyalty_tier = 'gold'"}
  - {id: recent, type: build_audience, filter: {attr: country, op: eq, value: {var: country}}}
  - {id: both, type: combine, mode: intersection, complement: true}
  - id: dedup
    type: deduplication
    keys: lower(email)
    method: values
    column: loyalty_tier
    values: [gold, silver]
  - id: by_channel
    type: split
    subsets:
      - {name: mail, filter: "email is not null", limit: {percent: 12.5}, order_by: [age desc, id]}
      - {name: text, filter: "phone is not null", limit: {count: 1000}}
    complement: true
  - {id: f, type: fork, branches: [a, b]}
  - {id: j, type: and_join, primary: f.b}
  - {id: t, type: test, conditions: [{name: big, when: "count > 10"}], default: true}
  - {id: done, type: end}
transitions:
  - {from: gold, to: both}
  - {from: recent, to: both}
  - {from: both, to: dedup}
  - {from: dedup, to: by_channel}
  - {from: by_channel.mail, to: f}
  - {from: f.a, to: j}
  - {from: f.b, to: j}
  - {from: j, to: t}
  - {from: t.big, to: done}
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        parse_campaign(text, file="c.yaml")
    return [str(p) for p in caught.value.problems]


def test_valid_file_parses_every_setting() -> None:
    campaign = parse_campaign(VALID)
    split = campaign.activity("by_channel")
    assert split.outputs() == ["mail", "text", "complement"]  # type: ignore[attr-defined]
    subset = split.subsets[0]  # type: ignore[attr-defined]
    assert subset.limit.percent == 12.5
    assert [(o.expr, o.desc) for o in subset.order_by] == [("age", True), ("id", False)]
    assert campaign.activity("dedup").keys == ["lower(email)"]  # type: ignore[attr-defined]
    assert campaign.activity("both").outputs() == ["out", "complement"]
    assert campaign.transitions[4].origin.output == "mail"
    assert [a.id for a in campaign.roots()] == ["gold", "recent"]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_yaml_and_json_round_trip(tmp_path: Path, suffix: str) -> None:
    campaign = parse_campaign(VALID)
    path = tmp_path / f"c{suffix}"
    save_campaign(campaign, path)
    again = load_campaign(path)
    assert again == campaign
    assert again.digest() == campaign.digest()
    assert Campaign.model_validate(again.to_data()) == campaign


def test_broken_yaml_names_line_and_column() -> None:
    text = "name: x\nactivities:\n  - {id: a, type: build_audience\n  - {id: b}\n"
    assert problems_of(text) == ["c.yaml:4:5: YAML syntax error: expected ',' or '}', but got '{'"]


def test_unknown_activity_type_suggests_closest() -> None:
    text = "name: x\nactivities:\n  - {id: both, type: combien, mode: union}\n"
    assert problems_of(text) == [
        "c.yaml:3:16: activity 'both', field 'type': unknown activity type 'combien': "
        "did you mean 'combine'?"
    ]


def test_unknown_setting_suggests_closest() -> None:
    text = 'name: x\nactivities:\n  - id: gold\n    type: build_audience\n    filtr: "a = 1"\n'
    assert problems_of(text) == [
        "c.yaml:5:5: activity 'gold', field 'filtr': unknown setting 'filtr': "
        "did you mean 'filter'?"
    ]


def test_unknown_nested_setting_suggests_from_its_model() -> None:
    text = (
        "name: x\nactivities:\n  - id: s\n    type: split\n    subsets:\n"
        "      - {name: a, limt: {count: 3}}\n"
    )
    assert problems_of(text) == [
        "c.yaml:6:19: activity 's', field 'subsets.0.limt': unknown setting 'limt': "
        "did you mean 'limit'?"
    ]


def test_missing_required_setting() -> None:
    text = "name: x\nactivities:\n  - {id: both, type: combine}\n"
    assert problems_of(text) == [
        "c.yaml:3:5: activity 'both', field 'mode': missing required setting 'mode'"
    ]


def test_missing_type_and_bad_value() -> None:
    text = (
        "name: x\nactivities:\n  - {id: a}\n  - {id: b, type: combine, mode: merge}\n"
        "  - {id: c, type: deduplication, keys: [email], keep: -1}\n"
    )
    assert problems_of(text) == [
        "c.yaml:3:5: activity 'a', field 'type': missing required setting 'type'",
        "c.yaml:4:28: activity 'b', field 'mode': invalid value 'merge': "
        "input should be 'union', 'intersection' or 'exclusion'",
        "c.yaml:5:49: activity 'c', field 'keep': input should be greater than or equal to 0",
    ]


def test_rules_between_settings() -> None:
    text = (
        "name: x\nactivities:\n"
        "  - {id: d, type: deduplication, keys: [email], method: expression}\n"
        "  - {id: s, type: split, subsets: [{name: a, limit: {count: 1, percent: 5}}]}\n"
        "  - {id: u, type: combine, mode: union, complement: true}\n"
    )
    assert problems_of(text) == [
        "c.yaml:3:5: activity 'd': method 'expression' needs 'order_by'",
        "c.yaml:4:46: activity 's', field 'subsets.0.limit': "
        "a limit takes exactly one of 'count' or 'percent'",
        "c.yaml:5:5: activity 'u': complement is defined for intersection and exclusion, not union",
    ]


def test_not_a_mapping_and_unreadable_file(tmp_path: Path) -> None:
    assert problems_of("- just\n- a list\n") == [
        "c.yaml: a campaign file must be a mapping (name, activities, transitions)"
    ]
    with pytest.raises(InvalidInput) as caught:
        load_campaign(tmp_path / "absent.yaml")
    assert "cannot read the campaign file: No such file or directory" in str(caught.value)
