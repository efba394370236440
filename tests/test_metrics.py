"""Metric definitions against known answers."""
import itertools
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

from ganforge.metrics.fid import frechet_distance
from ganforge.metrics.inception_score import inception_score
from ganforge.metrics.kid import kernel_inception_distance, polynomial_mmd2_unbiased
from ganforge.metrics.prdc import density_coverage, prdc, precision_recall
from ganforge.metrics.stats import RunningStats
from ganforge.metrics.swd import PatchSampler, laplacian_pyramid, sliced_wasserstein, swd_from_descriptors


# ------------------------------------------------------------------ FID

def test_fid_closed_form_diagonal():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 1.0, 1.0])
    # ||mu1-mu2||^2 = 1 + 0 + 4 ; trace term = sum(s1 + s2 - 2 sqrt(s1 s2)) = (1+4-4) + (4+1-4) + (9+1-6)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(5 + 1 + 1 + 4)


def test_fid_closed_form_full_covariance():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    s1, s2 = a @ a.T + np.eye(4), b @ b.T + np.eye(4)
    mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
    # the textbook form (pytorch-fid's): sqrtm of the non-symmetric product
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2) - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0, abs=1e-8)


def test_fid_with_dead_features_equals_fid_without_them_and_does_not_warn():
    # Features that are always zero (dead ReLUs: 27 of the fmnist network's 128 on 5,000 real images)
    # add nothing to the distance, but make both covariances singular.
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(500, 5)), rng.normal(size=(400, 5)) @ rng.normal(size=(5, 5)) + 1
    live = frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    xd, yd = np.pad(x, ((0, 0), (0, 3))), np.pad(y, ((0, 0), (0, 3)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy's sqrtm warns "matrix is singular" on these
        dead = frechet_distance(xd.mean(0), np.cov(xd, rowvar=False), yd.mean(0), np.cov(yd, rowvar=False))
    assert dead == pytest.approx(live, rel=1e-8)


def test_fid_of_gaussian_samples_matches_closed_form():
    rng = np.random.default_rng(1)
    mu1, mu2 = np.zeros(3), np.array([1.0, -1.0, 0.5])
    s1, s2 = np.diag([1.0, 2.0, 0.5]), np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 1.0]])
    x = rng.multivariate_normal(mu1, s1, size=200_000)
    y = rng.multivariate_normal(mu2, s2, size=200_000)
    sx, sy = RunningStats(3), RunningStats(3)
    for chunk in np.array_split(x, 7):
        sx.update(chunk)
    sy.update(y)
    assert frechet_distance(*sx.mean_cov(), *sy.mean_cov()) == pytest.approx(frechet_distance(mu1, s1, mu2, s2),
                                                                            rel=0.02)


def test_running_stats_equal_numpy():
    x = np.random.default_rng(2).normal(size=(1000, 5)) * 3 + 7
    st = RunningStats(5)
    for chunk in np.array_split(x, 13):
        st.update(chunk)
    mu, cov = st.mean_cov()
    assert np.allclose(mu, x.mean(0)) and np.allclose(cov, np.cov(x, rowvar=False))


# ------------------------------------------------------------------ KID

def test_mmd_unbiased_matches_explicit_sums():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(6, 4)), rng.normal(size=(5, 4)) + 0.5
    k = lambda a, b: (a @ b / 4 + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(6), 2)) / (6 * 5)
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(5), 2)) / (5 * 4)
    xy = sum(k(a, b) for a in x for b in y) / (6 * 5)
    assert polynomial_mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy)


def test_kid_is_unbiased_near_zero_for_one_distribution():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(2000, 8)), rng.normal(size=(2000, 8))
    mean, std = kernel_inception_distance(x, y, num_subsets=50, subset_size=500)
    assert abs(mean) < 3 * std / np.sqrt(50) + 1e-3
    far, _ = kernel_inception_distance(x, y + 1, num_subsets=10, subset_size=500)
    assert far > 0.1


# ------------------------------------------------------------------ IS

def test_inception_score_of_fewer_images_than_splits():
    """8 images in 10 splits: a chunk per image, each scoring exp(KL(p || p)) = 1, where empty chunks gave NaN."""
    logits = np.random.default_rng(0).normal(size=(8, 10))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "Mean of empty slice" before
        assert inception_score(logits) == pytest.approx((1.0, 0.0))


def test_inception_score_extremes():
    assert inception_score(np.zeros((100, 10)), splits=1)[0] == pytest.approx(1.0)  # p(y|x) uniform
    confident = np.full((1000, 10), -1e4)
    confident[np.arange(1000), np.arange(1000) % 10] = 0  # one class each, classes balanced
    assert inception_score(confident, splits=10)[0] == pytest.approx(10.0, rel=1e-6)
    collapsed = np.full((1000, 10), -1e4)
    collapsed[:, 3] = 0  # every image the same class
    assert inception_score(collapsed, splits=10)[0] == pytest.approx(1.0, rel=1e-6)


# ------------------------------------------------------------------ precision / recall

def test_precision_recall_known_cases():
    rng = np.random.default_rng(5)
    real = rng.normal(size=(300, 2))
    assert precision_recall(real, real.copy(), k=3) == (1.0, 1.0)
    assert precision_recall(real, real + 100, k=3) == (0.0, 0.0)
    # fakes that all sit on one real point: precise but covering almost nothing
    fake = np.repeat(real[:1], 300, axis=0) + rng.normal(size=(300, 2)) * 1e-6
    p, r = precision_recall(real, fake, k=3)
    assert p == 1.0 and r < 0.05


def test_precision_recall_1d_by_hand():
    real = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])
    # k=1 radii of real points are all 1 -> real manifold is [-1, 5]
    fake = np.array([[0.5], [4.5], [9.0], [10.0], [11.0]])
    p, _ = precision_recall(real, fake, k=1)
    assert p == pytest.approx(2 / 5)


def test_density_coverage_1d_by_hand():
    real = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])  # k=1: every real ball has radius 1 (open)
    fake = np.array([[0.5], [4.5], [9.0], [10.0], [11.0]])
    density, coverage = density_coverage(real, fake, k=1)
    assert density == pytest.approx((2 + 1) / 5)  # 0.5 is in the balls of 0 and 1; 4.5 in that of 4
    assert coverage == pytest.approx(3 / 5)  # the balls of 0, 1 and 4 hold a fake


def test_density_coverage_match_the_definition_in_batches():
    rng = np.random.default_rng(7)
    real, fake = rng.normal(size=(230, 6)), rng.normal(size=(170, 6)) * 1.3
    d_rr = np.linalg.norm(real[:, None] - real[None], axis=-1)  # the whole matrices at once, in numpy
    radii = np.sort(d_rr, axis=1)[:, 5]  # 5th neighbour; column 0 is the point itself
    inside = np.linalg.norm(fake[:, None] - real[None], axis=-1) < radii[None]
    want = (inside.sum() / (5 * len(fake)), inside.any(0).mean())
    assert density_coverage(real, fake, k=5, batch=64) == pytest.approx(want, rel=1e-12)
    assert density_coverage(real, real.copy(), k=5)[1] == 1.0
    assert density_coverage(real, real + 100, k=5) == (0.0, 0.0)


def test_prdc_matches_the_definitions_from_its_shared_distances():
    """prdc reads all four figures off three distance matrices, in batches (the fake-to-real one serves recall
    transposed); numpy's whole matrices, each metric from its own, give the same. Of different sizes, so a
    recall that indexed the fake radii by the wrong axis would fail."""
    rng = np.random.default_rng(11)
    real, fake = rng.normal(size=(230, 6)), rng.normal(size=(170, 6)) * 1.3 + 0.2

    def radii(x, k):
        return np.sort(np.linalg.norm(x[:, None] - x[None], axis=-1), axis=1)[:, k]  # column 0: the point itself

    d_fr = np.linalg.norm(fake[:, None] - real[None], axis=-1)
    inside = d_fr < radii(real, 5)[None]
    want = {"precision": (d_fr <= radii(real, 3)[None]).any(1).mean(),
            "recall": (d_fr.T <= radii(fake, 3)[None]).any(1).mean(),
            "density": inside.sum() / (5 * len(fake)), "coverage": inside.any(0).mean()}
    got = prdc(real, fake, pr_k=3, dc_k=5, batch=64)
    assert got == pytest.approx(want, rel=1e-12)
    assert 0.1 < got["recall"] < 0.99 and 0.1 < got["precision"] < 0.99  # neither case trivial


def test_coverage_is_not_fooled_by_outliers_as_precision_is():
    rng = np.random.default_rng(0)
    real = np.concatenate([rng.normal(size=(300, 8)), 50 * np.eye(8)[:6]])  # 6 far outliers with huge balls
    away = rng.normal(size=(200, 8))
    fake = 25 * np.abs(away) / np.linalg.norm(away, axis=1, keepdims=True)  # all far from the real cloud
    precision, _ = precision_recall(real, fake, k=3)
    density, coverage = density_coverage(real, fake, k=5)
    assert precision > 0.9  # inside the outliers' balls
    assert coverage < 0.05 and density < 0.5  # the outliers count at most 6 balls of 306, over k


# ------------------------------------------------------------------ SWD

def test_sliced_wasserstein_1d_shift():
    a = torch.tensor([[0.0], [1.0], [2.0]])
    assert sliced_wasserstein(a, a + 1, num_directions=8) == pytest.approx(1.0)
    assert sliced_wasserstein(a, a.flip(0), num_directions=8) == pytest.approx(0.0)


def test_sliced_wasserstein_is_the_mean_of_scipys_1d_distances_over_its_directions():
    """Against scipy's W1 of each direction's projections, on sets of several dimensions (the 1-D test above
    cannot tell which axis the projections are sorted along)."""
    from scipy.stats import wasserstein_distance

    g = torch.Generator().manual_seed(4)
    a, b = torch.randn(300, 5, generator=g), torch.randn(300, 5, generator=g) * 1.5 + 0.3
    dirs = torch.randn(5, 16, generator=torch.Generator().manual_seed(7), dtype=torch.float64)  # its draw
    dirs /= dirs.norm(dim=0, keepdim=True)
    pa, pb = (a.double() @ dirs).numpy(), (b.double() @ dirs).numpy()
    expected = np.mean([wasserstein_distance(pa[:, k], pb[:, k]) for k in range(16)])
    assert sliced_wasserstein(a, b, num_directions=16, seed=7) == pytest.approx(expected, rel=1e-12)


def test_laplacian_pyramid_levels_and_reconstruction():
    x = torch.rand(2, 1, 28, 28)
    levels = laplacian_pyramid(x, 7)
    assert [lv.shape[-1] for lv in levels] == [28, 14, 7]
    # collapsing the pyramid gives the image back (band-pass + upsampled coarser level)
    import torch.nn.functional as F
    rec = levels[-1]
    for band in reversed(levels[:-1]):
        rec = band + F.interpolate(rec, size=band.shape[-2:], mode="bilinear", align_corners=False)
    assert torch.allclose(rec, x, atol=1e-5)


def test_swd_zero_for_same_images_and_grows_with_blur():
    g = torch.Generator().manual_seed(0)
    images = (torch.rand(200, 1, 28, 28, generator=g) * 255).to(torch.uint8)
    a = PatchSampler(200, 16, seed=1)(images)
    same = swd_from_descriptors(a, PatchSampler(200, 16, seed=1)(images))
    assert same["swd"] == pytest.approx(0.0, abs=1e-9)
    blurred = torch.nn.functional.avg_pool2d(images.float(), 3, 1, 1).to(torch.uint8)
    other = swd_from_descriptors(a, PatchSampler(200, 16, seed=1)(blurred))
    assert other["swd_level0"] > 10 * max(same["swd_level0"], 1e-3)


def test_patches_do_not_depend_on_batching():
    images = (torch.rand(50, 1, 28, 28, generator=torch.Generator().manual_seed(2)) * 255).to(torch.uint8)
    whole = PatchSampler(50, 8, seed=3)(images)
    sampler = PatchSampler(50, 8, seed=3)
    parts = [sampler(b) for b in images.split(7)]
    for level_whole, level_parts in zip(whole, zip(*parts)):
        assert torch.equal(level_whole, torch.cat(level_parts))
