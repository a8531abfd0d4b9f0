"""The content detector: music stays music, spoken word is speech."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from beetsplug.musicnn.engine.analysis import analyze
from beetsplug.musicnn.labels import content
from beetsplug.musicnn.labels.content import (
    ContentModel,
    ContentModelError,
    content_of,
    content_of_results,
    load_content_model,
)

SPEECH = Path(__file__).resolve().parents[1] / "data" / "speech"
#: The default analysis: both models, MTT on a third of the patches.
DEFAULT = {"models": ("msd", "mtt"), "patch_shares": {"mtt": 0.34}}


def outputs(path: Path, models=("msd", "mtt"), **options):
    """Song-level scores and embeddings of ``path``, as the store keeps them
    (scores float32, embeddings float16 once read back)."""
    result = analyze(path, models, **options)
    return (
        {m: result[m].scores.astype(np.float32) for m in models},
        {m: result[m].embedding.astype(np.float16) for m in models},
    )


# The shipped detector on real audio ---------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> ContentModel:
    return load_content_model()


@pytest.mark.parametrize("clip", sorted(SPEECH.glob("*.ogg")), ids=lambda p: p.stem)
def test_recorded_and_synthesised_speech_is_speech(clip, shipped):
    scores, embeddings = outputs(clip, **DEFAULT)
    decision = shipped.decide(scores, embeddings)
    assert decision.content == "speech", decision
    assert content_of(scores, embeddings) == "speech"


@pytest.mark.parametrize("clip", sorted(SPEECH.glob("*.ogg")), ids=lambda p: p.stem)
def test_speech_is_speech_with_msd_only(clip):
    scores, embeddings = outputs(clip, ("msd",))
    assert content_of(scores, embeddings) == "speech"


def each_variant(shipped: ContentModel) -> list[ContentModel]:
    """The shipped detector cut to one variant each (msd+mtt, msd, mtt)."""
    return [ContentModel(shipped.classes, (v,), {}) for v in shipped.variants]


def test_every_variant_tells_the_bundled_speech_from_the_bundled_music(
    bundled_music, shipped
):
    """Each variant alone, as a library analysed with those models gets it."""
    for clip in [*sorted(SPEECH.glob("*.ogg")), *sorted(bundled_music.glob("*.ogg"))]:
        expected = "speech" if clip.parent == SPEECH else "music"
        scores, embeddings = outputs(clip, **DEFAULT)
        for detector in each_variant(shipped):
            decision = detector.decide(scores, embeddings)
            assert decision.content == expected, (clip.name, decision)


def test_results_of_an_analysis_are_read_directly():
    clip = sorted(SPEECH.glob("*.ogg"))[0]
    assert content_of_results(analyze(clip, ("msd",)).results) == "speech"


def test_the_bundled_music_is_music(bundled_music, shipped):
    clips = sorted(bundled_music.glob("*.ogg"))
    assert len(clips) == 4
    for clip in clips:
        scores, embeddings = outputs(clip, **DEFAULT)
        decision = shipped.decide(scores, embeddings)
        assert decision.content == "music", (clip.name, decision)
        assert content_of({"msd": scores["msd"]}, {"msd": embeddings["msd"]}) == (
            "music"
        )


def test_the_shared_clips_are_music(shared_audio, shipped):
    clips = [p for p in sorted(shared_audio.iterdir()) if p.suffix in (".ogg", ".mp3")]
    assert clips
    for clip in clips:
        scores, embeddings = outputs(clip, **DEFAULT)
        decision = shipped.decide(scores, embeddings)
        assert decision.content == "music", (clip.name, decision)


def test_the_shipped_file_says_where_it_comes_from(shipped):
    assert [set(v.models) for v in shipped.variants] and {
        frozenset(v.models) for v in shipped.variants
    } == {frozenset({"msd", "mtt"}), frozenset({"msd"}), frozenset({"mtt"})}
    provenance = shipped.provenance
    assert provenance["fitted_by"] == "tools/fit_content.py"
    assert provenance["counts"] and provenance["date"]
    raw = json.loads(content.DEFAULT_PATH.read_text())
    for variant in raw["variants"]:
        figures = variant["cross_validated"]["out_of_fold_mtt_share_0.34"]
        assert figures["music_flagged"][0] == 0  # the rule the threshold keeps


def test_importing_the_module_imports_no_numpy():
    code = (
        "import sys, beetsplug.musicnn.labels.content as c; "
        "c.load_content_model(); print('numpy' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.stdout.strip() == "False"


# The pure function on a model whose answer is known -----------------------------


def variant(models, music=0.0, speech=0.0, effects=0.0, threshold=1.0, weight=0.0):
    """A variant whose class logits are the intercepts, plus ``weight`` times
    the first feature (the first embedding value) for speech."""
    blocks = [{"model": m, "kind": "embedding", "size": 200} for m in models] + [
        {"model": m, "kind": "score_logits", "size": 50} for m in models
    ]
    size = 250 * len(models)
    speech_row = [0.0] * size
    speech_row[0] = weight
    return {
        "models": list(models),
        "blocks": blocks,
        "mean": [0.0] * size,
        "scale": [1.0] * size,
        "coef": [[0.0] * size, speech_row, [0.0] * size],
        "intercept": [music, speech, effects],
        "threshold": threshold,
    }


def model(*variants) -> ContentModel:
    return ContentModel.from_dict(
        {
            "format": 1,
            "classes": ["music", "speech", "effects"],
            "variants": list(variants),
        },
        "test",
    )


def track(*models, first=0.0):
    scores = {m: np.full(50, 0.5) for m in models}
    embeddings = {m: np.zeros(200) for m in models}
    for m in models:
        embeddings[m][0] = first
    return scores, embeddings


class TestContentOf:
    def test_flags_only_above_the_threshold(self):
        detector = model(variant(["msd"], speech=2.0, threshold=1.0))
        assert content_of(*track("msd"), detector) == "speech"
        detector = model(variant(["msd"], speech=2.0, threshold=3.0))
        assert content_of(*track("msd"), detector) == "music"

    def test_non_music_is_the_likelier_of_speech_and_effects(self):
        detector = model(variant(["msd"], speech=1.0, effects=3.0, threshold=0.0))
        assert content_of(*track("msd"), detector) == "effects"

    def test_the_features_count(self):
        detector = model(variant(["msd"], weight=1.0, threshold=0.5))
        assert content_of(*track("msd", first=3.0), detector) == "speech"
        assert content_of(*track("msd", first=-3.0), detector) == "music"

    def test_the_first_variant_the_models_allow_is_used(self):
        detector = model(
            variant(["msd"], speech=5.0), variant(["msd", "mtt"]), variant(["mtt"])
        )
        assert content_of(*track("msd", "mtt"), detector) == "speech"
        assert content_of(*track("mtt"), detector) == "music"
        decision = detector.decide(*track("mtt"))
        assert decision.models == ("mtt",)

    def test_no_usable_model_is_music(self):
        detector = model(variant(["msd", "mtt"], speech=5.0))
        assert content_of(*track("msd"), detector) == "music"
        assert content_of({}, {}, detector) == "music"
        scores, embeddings = track("msd", "mtt")
        scores["mtt"] = None
        assert detector.decide(scores, embeddings).models == ()

    def test_the_shipped_model_without_outputs_is_music(self):
        assert content_of({}, {}) == "music"

    def test_a_wrong_length_is_named(self):
        scores, embeddings = track("msd")
        embeddings["msd"] = np.zeros(199)
        with pytest.raises(ValueError, match=r"msd embedding has shape \(199,\)"):
            content_of(scores, embeddings, model(variant(["msd"])))

    def test_a_nan_is_named(self):
        scores, embeddings = track("msd")
        scores["msd"][3] = np.nan
        with pytest.raises(ValueError, match="msd scores holds nan"):
            content_of(scores, embeddings, model(variant(["msd"])))


class TestModelFile:
    def test_not_json_names_the_file(self, tmp_path):
        path = tmp_path / "content.json"
        path.write_text("{not json")
        with pytest.raises(ContentModelError, match=f"{path} is not JSON"):
            load_content_model(path)

    def test_a_missing_file_is_named(self, tmp_path):
        with pytest.raises(ContentModelError, match="cannot read content model"):
            load_content_model(tmp_path / "absent.json")

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"format": 2}, "format 2 is not 1"),
            ({"classes": ["music", "speech"]}, "classes"),
            ({"variants": []}, "'variants' must be a non-empty list"),
        ],
    )
    def test_a_bad_header_is_named(self, tmp_path, change, message):
        data = {
            "format": 1,
            "classes": ["music", "speech", "effects"],
            "variants": [variant(["msd"])],
        }
        data.update(change)
        path = tmp_path / "content.json"
        path.write_text(json.dumps(data))
        with pytest.raises(ContentModelError, match=message):
            load_content_model(path)

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"threshold": "high"}, r"variants\[0\].threshold 'high' is not a number"),
            ({"scale": [0.0] * 250}, r"variants\[0\].scale holds 0.0"),
            ({"mean": [0.0] * 3}, r"variants\[0\].mean has 3 numbers, expected 250"),
            ({"coef": [[0.0] * 250]}, r"variants\[0\].coef must be 3 rows"),
            ({"models": ["mtt"]}, r"variants\[0\].models \['mtt'\] are not"),
            ({"blocks": [{"model": "msd", "kind": "chroma", "size": 12}]}, "chroma"),
        ],
    )
    def test_a_bad_variant_is_named(self, change, message):
        bad = variant(["msd"])
        bad.update(change)
        with pytest.raises(ContentModelError, match=message):
            model(bad)
