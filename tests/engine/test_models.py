import pytest

from beetsplug.musicnn.engine import models


@pytest.mark.parametrize("spec", models.MODELS.values(), ids=models.MODELS)
def test_each_model_ships_its_files_and_fifty_distinct_tags(spec):
    assert len(spec.tags) == 50
    assert len(set(spec.tags)) == 50
    assert spec.onnx_path.stat().st_size > 3_000_000
    assert spec.tf_graph_path.stat().st_size > 3_000_000


def test_vocabularies_keep_the_upstream_spelling():
    # Field names and docs rely on these exact strings and positions.
    assert models.MSD.tags[0] == "rock"
    assert models.MSD.tags[33] == "Hip-Hop"
    assert models.MTT.tags[:3] == ("guitar", "classical", "slow")
    assert {"no vocal", "no vocals"} <= set(models.MTT.tags)


def test_get_model_accepts_any_case_and_names_known_models():
    assert models.get_model(" MSD ") is models.MSD
    with pytest.raises(ValueError, match="known: msd, mtt"):
        models.get_model("vgg")


def test_weights_carry_the_upstream_licence():
    licence = (models.weights_dir() / "LICENSE-musicnn.txt").read_text()
    assert "Jordi Pons" in licence
