"""The Trust tab and /faithfulness: the named endpoints through gradio_client, their numbers against the explainer."""
from __future__ import annotations

import re

import pytest
from PIL import Image

gradio = pytest.importorskip("gradio")

from cnndemo.explain import Explainer, ExplainSettings, get_method, methods  # noqa: E402
from cnndemo.explain.trustviews import TILE  # noqa: E402
from cnndemo.ui.trust import default_methods, ranked_names  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU:UserWarning")
MODEL = "lenet5_mnist"  # small and trained: every endpoint answers in well under a second


def _area(caption: str, kind: str) -> float:
    """The area a caption states, e.g. 'Deletion area **0.123**'."""
    return float(re.search(rf"{kind} area \*\*([0-9.]+)\*\*", caption).group(1))


def test_the_trust_endpoints_are_named(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/faithfulness", "/rank_methods", "/sanity_check"} <= names


def test_faithfulness_caption_states_the_explainers_areas(client, cat):
    plot, caption = client.predict(cat, MODEL, "gradcam", "", api_name="/faithfulness")
    assert plot and plot.get("type") == "matplotlib"
    assert "Lower deletion and higher insertion are better" in caption
    from cnndemo.zoo import Zoo
    own = Explainer(*Zoo().load(MODEL))  # a second copy of the model, scored here
    _, result = own.faithfulness(Image.open(cat["path"]), ExplainSettings(method="gradcam"))
    assert _area(caption, "Deletion") == pytest.approx(result.deletion_auc, abs=1e-3)
    assert _area(caption, "insertion") == pytest.approx(result.insertion_auc, abs=1e-3)


def test_faithfulness_of_another_method_and_class(client, cat):
    _, caption = client.predict(cat, MODEL, "saliency", "3", api_name="/faithfulness")
    assert "Saliency" in caption and "3" in caption


def test_rank_methods_sorts_every_quick_method(client, cat):
    table, note = client.predict(cat, MODEL, "", False, api_name="/rank_methods")
    rows = table["data"]
    labels = {get_method(n).label for n in ranked_names(False)}
    assert {r[0] for r in rows} == labels and len(rows) == len(labels)
    scores = [r[1] for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert all(r[1] == pytest.approx(r[2] - r[3], abs=2e-3) and float(r[5].split()[0]) >= 0 for r in rows)
    assert "insertion" in note.lower() and f"{len(rows)} methods" in note


def test_rank_methods_can_include_the_slower_ones():
    assert set(ranked_names(True)) == {m.name for m in methods()}
    assert not any(get_method(n).slow for n in ranked_names(False))
    assert all(not get_method(n).slow for n in default_methods()) and 2 <= len(default_methods()) <= 6


def test_sanity_check_gives_a_strip_and_a_verdict(client, cat):
    strip, verdict = client.predict(cat, MODEL, "gradcam", "", api_name="/sanity_check")
    with Image.open(strip) as picture:
        tiles = round((picture.width + 6) / (TILE + 6))
        assert 3 <= tiles <= 7 and picture.height > TILE
    assert "rank correlation" in verdict and "untrained network" not in verdict
    assert "random network's Grad-CAM can still look convincing" in verdict


def test_without_an_image_the_trust_tab_says_where_it_comes_from(client):
    with pytest.raises(Exception, match="Explore tab's image"):
        client.predict(None, MODEL, "", False, api_name="/rank_methods")
    with pytest.raises(Exception, match="unknown class"):
        client.predict(client_cat_free(), MODEL, "gradcam", "giraffe", api_name="/sanity_check")


def client_cat_free():
    """A small picture of no class, as an upload."""
    import tempfile

    from gradio_client import handle_file
    path = tempfile.mktemp(suffix=".png")
    Image.new("RGB", (40, 40), (30, 30, 30)).save(path)
    return handle_file(path)
