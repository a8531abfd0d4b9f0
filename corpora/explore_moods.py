"""Which mood and energy thresholds? Chosen on the dev split, measured on test.

Every track's ``musicnn_mood`` and ``musicnn_energy`` are derived by the
plugin's own code (``fields.derive_fields`` with a ``moods.MoodRules``) at the
default setup (MSD on every patch, MTT on its default share), for a grid of
rules. Reported per rule, on dev (and with ``--final`` the chosen rule once on
test and on all tracks):

- how often a valence mood is set, and how many tracks get a *calm or happy*
  mood (mellow, chill, beautiful, happy, party, catchy, sexy) among the
  corpus' true metal tracks and among the tracks the plugin *calls* metal or
  hard rock (the genres ``FORBIDDEN_MOODS`` can act on);
- for each energy pole, how often it is set and its **precision** against
  measurements: ``loud`` against the loudest third of the corpus by
  integrated loudness (BS.1770, pyloudnorm), ``quiet`` against the quietest
  third, ``fast``/``slow`` against the top/bottom third by onset rate
  (librosa), and how many of its tracks are in the *opposite* third (a
  ``loud`` track among the quietest). Terciles are of all 140 tracks, so a
  label set at random would be right a third of the time.

    python corpora/explore_moods.py            # dev split
    python corpora/explore_moods.py --final    # + the chosen rule on test
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from labels_corpus_data import Track, load_corpus

from beetsplug.musicnn.labels import fields, moods
from beetsplug.musicnn.labels.calibration import Calibration, default_calibration
from beetsplug.musicnn.library.settings import DEFAULT_CONFIG

#: What the issue means by a mood metal must never get.
CALM_OR_HAPPY = moods.CALM_MOODS | moods.HAPPY_MOODS
#: Predicted genres whose lineage the forbidding can act on.
LOUD_GUITAR_GENRES = {"Heavy Metal", "Hard Rock"}
MODELS = tuple(DEFAULT_CONFIG["models"])
SHARES = dict(DEFAULT_CONFIG["patch_share"])


#: The calibration every score is judged with (``--calibration``).
CALIBRATION: list[Calibration] = []


def derive_all(tracks: list[Track], rules: moods.MoodRules) -> list[dict]:
    """The plugin's fields of every track under ``rules`` (default setup)."""
    settings = fields.FieldSettings(models=MODELS, mood_rules=rules)
    calibration = CALIBRATION[0] if CALIBRATION else default_calibration()
    return [
        fields.derive_fields(
            {m: t.song_scores(m, SHARES.get(m, 1.0)) for m in MODELS},
            settings,
            calibration,
        )
        for t in tracks
    ]


def terciles(tracks: list[Track]) -> dict[str, np.ndarray]:
    """Per energy pole, whether each track is in the tercile that pole claims."""
    lufs = np.array([t.loudness_lufs for t in tracks])
    onsets = np.array([t.onset_rate for t in tracks])
    low_l, high_l = np.nanpercentile(lufs, [100 / 3, 200 / 3])
    low_o, high_o = np.nanpercentile(onsets, [100 / 3, 200 / 3])
    return {
        "loud": lufs >= high_l,
        "quiet": lufs <= low_l,
        "fast": onsets >= high_o,
        "slow": onsets <= low_o,
    }


def summarise(tracks: list[Track], derived: list[dict], mask: np.ndarray) -> dict:
    """The numbers of one rule over the tracks of ``mask``."""
    truth = terciles(tracks)
    mood = np.array([d[fields.MOOD_FIELD] for d in derived])
    genre = [d[fields.GENRE_FIELD] for d in derived]
    energy = [set(d[fields.ENERGY_FIELD].split()) for d in derived]
    true_metal = mask & np.array([t.family == "metal" for t in tracks])
    called = mask & np.array(
        [bool(set(fields.genres.lineage(g)) & LOUD_GUITAR_GENRES) if g else False
         for g in genre]
    )
    calm_happy = np.isin(mood, sorted(CALM_OR_HAPPY))
    out = {
        "mood_set": float((mood[mask] != "").mean()),
        "true_metal": (int((calm_happy & true_metal).sum()), int(true_metal.sum())),
        "called_metal": (int((calm_happy & called).sum()), int(called.sum())),
        "true_metal_moods": Counter(mood[true_metal] if true_metal.any() else []),
    }
    opposite = {"loud": "quiet", "quiet": "loud", "fast": "slow", "slow": "fast"}
    for pole, right in truth.items():
        has = mask & np.array([pole in e for e in energy])
        wrong = truth[opposite[pole]]
        out[pole] = (int((has & right).sum()), int(has.sum()), int((has & wrong).sum()))
    return out


def fmt(result: dict) -> str:
    parts = [
        f"mood set {result['mood_set']:.0%}",
        "calm/happy: true metal {}/{}, called metal/hard rock {}/{}".format(
            *result["true_metal"], *result["called_metal"]
        ),
    ]
    for pole in ("loud", "quiet", "fast", "slow"):
        hits, n, wrong = result[pole]
        parts.append(
            f"{pole} {hits}/{n}"
            + (f" ({hits / n:.2f}, opposite third {wrong})" if n else "")
        )
    return "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--final", action="store_true",
                        help="evaluate the shipped rules once on test and all")
    parser.add_argument("--calibration", type=Path,
                        help="a calibration JSON instead of the shipped one (the "
                        "choice in docs/labels.md used that of commit 2cb138c)")
    args = parser.parse_args(argv)
    if args.calibration:
        CALIBRATION[:] = [Calibration.load(args.calibration)]
    tracks = load_corpus(require_all=True)
    dev = np.array([t.split == "dev" for t in tracks])
    test = ~dev
    print(f"# {int(dev.sum())} dev tracks, {int(test.sum())} test\n")

    print("## Valence: floor and margin (energy as shipped), dev\n")
    for floor in (0.6, 0.75, 0.85, 0.9, 0.95):
        for margin in (0.0, 0.05, 0.1):
            rules = moods.MoodRules(mood_min_strength=floor, mood_min_margin=margin)
            print(f"- floor {floor:.2f}, margin {margin:.2f}: "
                  f"{fmt(summarise(tracks, derive_all(tracks, rules), dev))}")
    print("\n## Valence without forbidding, shipped floor and margin, dev\n")
    rules = moods.MoodRules(forbidden={})
    print(f"- no forbidden moods: "
          f"{fmt(summarise(tracks, derive_all(tracks, rules), dev))}")
    print("\n## Energy: floor and margin, dev\n")
    for floor in (0.7, 0.8, 0.9):
        for margin in (0.1, 0.3, 0.5):
            rules = moods.MoodRules(energy_min_strength=floor, energy_min_margin=margin)
            print(f"- floor {floor:.2f}, margin {margin:.2f}: "
                  f"{fmt(summarise(tracks, derive_all(tracks, rules), dev))}")
    shipped = derive_all(tracks, moods.MoodRules())
    print(f"\n## Shipped rules (moods.py), dev\n\n- "
          f"{fmt(summarise(tracks, shipped, dev))}")
    if args.final:
        for name, mask in (("test", test), ("all", np.ones(len(tracks), bool))):
            result = summarise(tracks, shipped, mask)
            moods_of_metal = ", ".join(
                f"{m or '(none)'} {n}" for m, n in result["true_metal_moods"].items()
            )
            print(f"\n## Shipped rules, {name}\n\n- {fmt(result)}\n"
                  f"- moods of true metal tracks: {moods_of_metal}")
        for t, d in zip(tracks, shipped, strict=True):
            if t.family == "metal":
                print(f"  - {t.split} {t.package} {Path(t.path).name}: genre "
                      f"{d[fields.GENRE_FIELD]!r}, mood {d[fields.MOOD_FIELD]!r}, "
                      f"energy {d[fields.ENERGY_FIELD]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
