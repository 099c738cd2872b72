"""cnndemo.explain.trustviews: every ranking column has its meaning; the rows, the chance sentence and the chart
titles say what they show (an untrained model's chart names no class)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from cnndemo.explain.faithfulness import CHANCE_MAPS, faithfulness
from cnndemo.explain.trustviews import (COLUMNS, RANK_COLUMNS, RANK_WIDTHS, chance_text, columns_text, curves_title,
                                        faithfulness_figure, rank_row)
from test_faithfulness import CornerNet, bright_corner, corner_map


def test_every_ranking_column_has_a_one_line_meaning():
    names = [name for name, _ in COLUMNS]
    assert names == RANK_COLUMNS and len(set(names)) == len(names) == len(RANK_WIDTHS)
    text = columns_text()
    for name, meaning in COLUMNS:
        assert meaning and "\n" not in meaning and f"**{name}**: {meaning}" in text
    assert "not used for the ranking" in dict(COLUMNS)["avg drop"]  # why it may disagree with the sort order


def test_a_row_shows_the_scores_and_how_much_of_the_picture_the_map_keeps():
    result = faithfulness(CornerNet(), bright_corner(), corner_map(True), 0)
    row = rank_row("Grad-CAM", "what it does", result, 0.25)
    assert len(row) == len(RANK_COLUMNS) and row[0] == "Grad-CAM" and row[-1] == "what it does"
    assert row[1] == round(result.insertion_auc - result.deletion_auc, 3)
    assert row[4] == f"{result.average_drop:.0%} (keeps 25%)"  # the hot quarter: a quarter of the picture
    assert result.kept_share == pytest.approx(0.25) and row[5] == "0.25"


def test_the_chance_sentence_gives_the_random_maps_score():
    from cnndemo.explain.faithfulness import chance

    level = chance(CornerNet(), bright_corner(), 0)
    text = chance_text(level)
    assert f"**{level.score:.3f}**" in text and f"mean of {CHANCE_MAPS} maps" in text


@pytest.mark.parametrize("trained", [True, False])
def test_an_untrained_models_chart_names_no_class(trained):
    title = curves_title("Grad-CAM", "colobus", trained)
    assert ("colobus" in title) == trained and ("untrained" in title) != trained
    result = faithfulness(CornerNet(), bright_corner(), corner_map(True), 0)
    assert faithfulness_figure(result, title).axes[0].get_title() == title


def test_chance_is_the_mean_of_seeded_random_maps():
    from cnndemo.explain.faithfulness import chance

    model, x = CornerNet(), bright_corner()
    rng = np.random.default_rng(4)
    runs = [faithfulness(model, x, rng.random((32, 32)).astype(np.float32), 0) for _ in range(3)]
    level = chance(model, x, 0, maps=3, seed=4)
    assert level.insertion_auc == pytest.approx(np.mean([r.insertion_auc for r in runs]))
    assert level.deletion == pytest.approx(tuple(np.mean([r.deletion for r in runs], axis=0)))
    assert level.kept_share == pytest.approx(np.mean([r.kept_share for r in runs])) and 0.4 < level.kept_share < 0.6
    again = chance(model, x, 0, maps=3, seed=4)  # seeded: the same level for the same picture
    assert again.deletion == level.deletion and again.insertion == level.insertion
    assert torch.equal(x, bright_corner())
