"""`json_text` lays out nested data exactly as `json.dumps(indent=2, ensure_ascii=False)` does (the oracle)."""

from __future__ import annotations

import json
import random

from server.convert.protojson import json_text


def _nested(rng: random.Random, depth: int) -> object:
    """Random JSON data: containers of scalars, of containers, and of both, several levels deep."""
    kind = rng.randrange(9 if depth < 4 else 5)
    scalars: list[object] = ["x", "é \"q\"\n[{", "", 0, -7, 2.5, float("nan"), True, False, None, [], {}]
    if kind < 5:
        return rng.choice(scalars)
    size = rng.randrange(4)
    if kind < 7:
        return [_nested(rng, depth + 1) for _ in range(size)]
    return {rng.choice(["id", "k", "mentee_id", "\u00f8", f"key{rng.randrange(9)}"]): _nested(rng, depth + 1)
            for _ in range(size)}


def test_nested_data_of_every_shape_is_laid_out_as_json_dumps_indent_2() -> None:
    # Containers of scalars are written by one call of the C encoder, those holding containers field by field,
    # at each depth: the layout is json.dumps's whatever the mix.
    rng = random.Random(20)
    for _ in range(400):
        data = [_nested(rng, 0) for _ in range(3)]
        assert json_text(data) == json.dumps(data, indent=2, ensure_ascii=False)


def test_many_distinct_keys_are_written_as_json_dumps_writes_them() -> None:
    # Keys are remembered encoded up to a bound; a map keyed by the data's ids goes past it.
    data = {"people": {f"E{k:05d}\"": {"partners": [k, {"id": f"M{k}"}]} for k in range(6000)}}
    assert json_text(data) == json.dumps(data, indent=2, ensure_ascii=False)
    assert json_text(data) == json.dumps(data, indent=2, ensure_ascii=False)


def test_lists_of_records_are_laid_out_as_json_dumps_indent_2() -> None:
    # A list of dicts of scalars is written by one C-encoder call and its separators put right: values that look
    # like those separators ("},", "{", a line break and spaces) stay what they are.
    tricky = ["},\n    {", "}, {", "}", "{", "},", "\\", "\u2028"]
    records = [{"mentee_id": t, "mentor_id": f"M{k}", "empty": [], "none": {}, "n": k} for k, t in enumerate(tricky)]
    for data in ([records[0]], records, {"pairs": records, "more": [records, [records[1]]]},
                 [records[0], {}], [records[0], [1]], [{"only": 1}, {"only": "},\n{"}]):
        assert json_text(data) == json.dumps(data, indent=2, ensure_ascii=False)
