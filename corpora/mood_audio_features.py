"""Handcrafted track-level audio features for the Emotify excerpts (an
experiment of issue 15, docs/labels.md: "How the heads were chosen, and what
did not work"; not part of the plugin).

Needs librosa and soundfile, which no extra of the project installs::

    python -m venv /tmp/mood-venv && /tmp/mood-venv/bin/pip install librosa soundfile
    OMP_NUM_THREADS=1 /tmp/mood-venv/bin/python corpora/mood_audio_features.py \
        --out /tmp/mood_features.npz [--limit N] [--part K/M]
    .venv/bin/python corpora/eval_mood_audio_features.py /tmp/mood_features.npz

Decodes each file with libsndfile (mono, resampled to 22050 Hz), computes a small set
of cheap features and writes features.npz: `files` (manifest `file`), `names`,
`X` (n_files, n_features), `seconds` (wall time of the feature computation per
file, decode included, one thread).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

for var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
):
    os.environ.setdefault(var, "1")

import librosa  # noqa: E402
import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

EMOTIFY = Path(__file__).resolve().parents[2] / "shared" / "emotify"
SR = 22050
HOP = 512

# Krumhansl-Kessler key profiles (C major / C minor).
KK_MAJOR = np.array(
    [6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88]
)
KK_MINOR = np.array(
    [6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17]
)


def decode(path: Path) -> np.ndarray:
    """Opus via libsndfile (ffmpeg is not on this machine's PATH), mono,
    resampled to 22050 Hz with soxr."""
    y, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return librosa.resample(
        y.mean(axis=1), orig_sr=sr, target_sr=SR, res_type="soxr_hq"
    )


def key_corrs(chroma_vec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pearson correlation of a 12-d chroma vector with the 12 rotations of
    the major and minor profiles."""

    def corr(profile):
        out = np.empty(12)
        c = chroma_vec - chroma_vec.mean()
        for k in range(12):
            p = np.roll(profile, k)
            p = p - p.mean()
            out[k] = c @ p / (np.linalg.norm(c) * np.linalg.norm(p) + 1e-12)
        return out

    return corr(KK_MAJOR), corr(KK_MINOR)


def key_features(chroma: np.ndarray, prefix: str) -> dict[str, float]:
    """Global key-mode features plus local (≈3 s windows) mode features."""
    out = {}
    maj, mnr = key_corrs(chroma.mean(axis=1))
    both = np.concatenate([maj, mnr])
    order = np.sort(both)
    out[f"{prefix}_major_best"] = maj.max()
    out[f"{prefix}_minor_best"] = mnr.max()
    out[f"{prefix}_mode_diff"] = maj.max() - mnr.max()  # >0: major-ish
    out[f"{prefix}_key_clarity"] = order[-1]
    out[f"{prefix}_key_margin"] = order[-1] - order[-2]
    # local: windows of ~3 s (129 frames at hop 512)
    win = 129
    diffs, clar = [], []
    for start in range(0, chroma.shape[1] - win + 1, win // 2):
        v = chroma[:, start : start + win].mean(axis=1)
        if v.sum() <= 1e-9:
            continue
        a, b = key_corrs(v)
        diffs.append(a.max() - b.max())
        clar.append(max(a.max(), b.max()))
    diffs = np.array(diffs) if diffs else np.zeros(1)
    clar = np.array(clar) if clar else np.zeros(1)
    out[f"{prefix}_local_mode_mean"] = diffs.mean()
    out[f"{prefix}_local_minor_share"] = float(np.mean(diffs < 0))
    out[f"{prefix}_local_clarity_mean"] = clar.mean()
    # chroma "entropy" (flat chroma = atonal/noisy)
    p = chroma.mean(axis=1)
    p = p / (p.sum() + 1e-12)
    out[f"{prefix}_entropy"] = float(-(p * np.log(p + 1e-12)).sum())
    return out


def roughness(
    S_mag: np.ndarray, freqs: np.ndarray, step: int = 8, n_peaks: int = 12
) -> float:
    """Sethares/Plomp-Levelt dissonance of the strongest spectral peaks,
    averaged over every `step`-th frame, normalised by the peaks' energy."""
    vals = []
    b1, b2, s1, s2, dstar = 3.5, 5.75, 0.0207, 19.96, 0.24
    for t in range(0, S_mag.shape[1], step):
        col = S_mag[:, t]
        # local maxima
        peaks = np.flatnonzero((col[1:-1] > col[:-2]) & (col[1:-1] >= col[2:])) + 1
        if len(peaks) < 2:
            continue
        peaks = peaks[np.argsort(col[peaks])[-n_peaks:]]
        f, a = freqs[peaks], col[peaks]
        fi, fj = np.meshgrid(f, f)
        ai, aj = np.meshgrid(a, a)
        fmin = np.minimum(fi, fj)
        s = dstar / (s1 * fmin + s2)
        d = np.abs(fi - fj)
        diss = ai * aj * (np.exp(-b1 * s * d) - np.exp(-b2 * s * d))
        vals.append(np.triu(diss, 1).sum() / (np.sum(a**2) + 1e-12))
    return float(np.mean(vals)) if vals else 0.0


def features(y: np.ndarray) -> dict[str, float]:
    out: dict[str, float] = {}
    dur = len(y) / SR
    S = np.abs(librosa.stft(y, n_fft=2048, hop_length=HOP))
    power = S**2
    freqs = librosa.fft_frequencies(sr=SR, n_fft=2048)

    # --- loudness / dynamics
    rms = librosa.feature.rms(S=S, frame_length=2048)[0]
    db = 20 * np.log10(rms + 1e-6)
    out["rms_db_mean"] = db.mean()
    out["rms_db_std"] = db.std()
    out["rms_dyn_range"] = np.percentile(db, 95) - np.percentile(db, 5)
    out["rms_low_share"] = float(np.mean(db < np.percentile(db, 95) - 20))

    # --- spectral shape
    cent = librosa.feature.spectral_centroid(S=S, sr=SR)[0]
    flat = librosa.feature.spectral_flatness(S=S)[0]
    roll = librosa.feature.spectral_rolloff(S=S, sr=SR)[0]
    bw = librosa.feature.spectral_bandwidth(S=S, sr=SR)[0]
    out["centroid_mean"] = np.log(cent + 1).mean()
    out["centroid_std"] = np.log(cent + 1).std()
    out["flatness_mean"] = np.log(flat + 1e-10).mean()
    out["flatness_std"] = np.log(flat + 1e-10).std()
    out["rolloff_mean"] = np.log(roll + 1).mean()
    out["rolloff_std"] = np.log(roll + 1).std()
    out["bandwidth_mean"] = np.log(bw + 1).mean()
    contrast = librosa.feature.spectral_contrast(S=S, sr=SR)
    for i, v in enumerate(contrast.mean(axis=1)):
        out[f"contrast_{i}"] = v
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=2048, hop_length=HOP)[0]
    out["zcr_mean"] = zcr.mean()
    # spectral flux (novelty) mean
    flux = np.sqrt((np.diff(np.log1p(S), axis=1).clip(min=0) ** 2).sum(axis=0))
    out["flux_mean"] = flux.mean()
    out["flux_std"] = flux.std()
    # low-frequency energy share (< 150 Hz) and high (> 4 kHz)
    tot = power.sum() + 1e-12
    out["low_energy_share"] = power[freqs < 150].sum() / tot
    out["high_energy_share"] = power[freqs > 4000].sum() / tot

    # --- harmonic / percussive
    H, P = librosa.decompose.hpss(S)
    h_e, p_e = (H**2).sum(), (P**2).sum()
    out["hp_ratio_db"] = 10 * np.log10((h_e + 1e-9) / (p_e + 1e-9))

    # --- rhythm
    onset_env = librosa.onset.onset_strength(
        S=librosa.amplitude_to_db(S, ref=np.max), sr=SR, hop_length=HOP
    )
    out["onset_env_mean"] = onset_env.mean()
    onsets = librosa.onset.onset_detect(onset_envelope=onset_env, sr=SR, hop_length=HOP)
    out["onset_rate"] = len(onsets) / dur
    tempo = float(
        np.atleast_1d(
            librosa.feature.tempo(onset_envelope=onset_env, sr=SR, hop_length=HOP)
        )[0]
    )
    out["tempo_log"] = np.log(tempo)
    _, beats = librosa.beat.beat_track(onset_envelope=onset_env, sr=SR, hop_length=HOP)
    out["beat_rate"] = len(beats) / dur
    # pulse clarity: peak of normalised onset autocorrelation at 0.25-2 s lags
    oe = onset_env - onset_env.mean()
    ac = np.correlate(oe, oe, mode="full")[len(oe) - 1 :]
    ac = ac / (ac[0] + 1e-12)
    lo, hi = int(0.25 * SR / HOP), int(2.0 * SR / HOP)
    out["pulse_clarity"] = ac[lo:hi].max()
    # tempogram-based: max of mean tempogram (excluding lag 0)
    tg = librosa.feature.tempogram(
        onset_envelope=onset_env, sr=SR, hop_length=HOP, win_length=384
    )
    out["tempogram_peak"] = tg[lo:hi].mean(axis=1).max()

    # --- tonality (chroma of the harmonic part)
    chroma_stft = librosa.feature.chroma_stft(S=H**2, sr=SR)
    out.update(key_features(chroma_stft, "kstft"))
    chroma_cqt = librosa.feature.chroma_cqt(y=y, sr=SR, hop_length=HOP)
    out.update(key_features(chroma_cqt, "kcqt"))
    tonnetz = librosa.feature.tonnetz(chroma=chroma_cqt)
    for i, v in enumerate(tonnetz.mean(axis=1)):
        out[f"tonnetz_{i}"] = v
    # harmonic change rate (chroma flux)
    cn = chroma_cqt / (np.linalg.norm(chroma_cqt, axis=0, keepdims=True) + 1e-9)
    out["chroma_change"] = np.linalg.norm(np.diff(cn, axis=1), axis=0).mean()

    # --- roughness
    out["roughness"] = roughness(H, freqs)

    # --- MFCC means/stds
    mel = librosa.feature.melspectrogram(S=power, sr=SR)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=13)
    for i in range(13):
        out[f"mfcc_mean_{i}"] = mfcc[i].mean()
    for i in range(13):
        out[f"mfcc_std_{i}"] = mfcc[i].std()
    return {k: float(v) for k, v in out.items()}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int)
    ap.add_argument("--part", default="0/1")
    ap.add_argument("--out", default="features.npz")
    args = ap.parse_args()
    k, m = map(int, args.part.split("/"))
    with open(EMOTIFY / "manifest.tsv") as f:
        files = [r["file"] for r in csv.DictReader(f, delimiter="\t")]
    files = files[k::m][: args.limit]
    rows, secs, dsecs, csecs = [], [], [], []
    names = None
    for i, name in enumerate(files):
        t0 = time.process_time()
        w0 = time.perf_counter()
        y = decode(EMOTIFY / name)
        t_dec = time.perf_counter() - w0
        feats = features(y)
        wall = time.perf_counter() - w0
        names = names or list(feats)
        rows.append([feats[n] for n in names])
        secs.append(wall)
        dsecs.append(t_dec)
        csecs.append(time.process_time() - t0)
        print(
            f"{i + 1}/{len(files)} {name} {wall:.2f}s (decode {t_dec:.2f}s, "
            f"cpu {time.process_time() - t0:.2f}s)",
            flush=True,
        )
    np.savez(
        args.out,
        files=np.array(files),
        names=np.array(names),
        X=np.array(rows),
        seconds=np.array(secs),
        decode_seconds=np.array(dsecs),
        cpu_seconds=np.array(csecs),
    )
    print(
        f"wrote {args.out}: {len(files)} x {len(names)}; "
        f"median {np.median(secs):.2f}s/track"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
