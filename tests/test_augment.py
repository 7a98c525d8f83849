"""CIFAR augmentation on whole batches: exactly crop-from-padding + flip, seeded, in bounds."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from relubench.data.augment import CropFlip
from relubench.data.batches import batch_orders, batches
from relubench.data.load import normalize
from relubench.registry.datasets import DATASETS

SPEC = DATASETS["cifar10"]


def images(n: int = 64, c: int = 3, size: int = 32) -> torch.Tensor:
    return torch.randint(
        0, 256, (n, c, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )


def reference(x: torch.Tensor, dy, dx, flip, pad: int = 4) -> torch.Tensor:
    """The per-image definition: pad with black, cut the window at (dy, dx), mirror if flip."""
    out = []
    for img, y0, x0, f in zip(x, dy.tolist(), dx.tolist(), flip.tolist(), strict=True):
        crop = F.pad(img, (pad, pad, pad, pad))[:, y0 : y0 + img.shape[1], x0 : x0 + img.shape[2]]
        out.append(crop.flip(2) if f else crop)
    return torch.stack(out)


@pytest.mark.parametrize(("c", "size"), [(3, 32), (1, 28)])
def test_crops_are_windows_of_the_padded_image_mirrored_where_flipped(c, size):
    x = images(64, c, size)
    mean, std = (0.5,) * c, (0.25,) * c
    aug = CropFlip(x, mean, std, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    idx = torch.randperm(64, generator=g)[:48]
    dy, dx = torch.randint(0, 9, (48,), generator=g), torch.randint(0, 9, (48,), generator=g)
    dy[:4], dx[:4] = torch.tensor([0, 8, 0, 8]), torch.tensor([0, 0, 8, 8])  # the corners
    flip = torch.rand(48, generator=g) < 0.5
    got = aug.crops(idx, dy, dx, flip)
    want = reference(x[idx], dy, dx, flip).float().div(255).sub(0.5).div(0.25)
    assert got.shape == (48, c, size, size) and got.dtype == torch.float32
    torch.testing.assert_close(got, want)


def test_normalised_like_the_rest_of_the_data():
    x = images(8)
    aug = CropFlip(x, SPEC.mean, SPEC.std, torch.Generator())
    centre = torch.full((8,), 4)  # offset 4 of 8 = the image itself
    got = aug.crops(torch.arange(8), centre, centre, torch.zeros(8, dtype=torch.bool))
    torch.testing.assert_close(got, normalize(x, SPEC))


def epoch(seed: int, order_seed: int = 7):
    x = images(64)
    y = torch.arange(64) % 10
    aug = CropFlip(x, SPEC.mean, SPEC.std, torch.Generator().manual_seed(seed))
    return list(aug.batches(y, 16, torch.Generator().manual_seed(order_seed)))


def test_same_seed_same_batches_and_the_shuffle_order_of_plain_batches():
    a, b, c = epoch(0), epoch(0), epoch(1)
    assert len(a) == 4 and all(xb.shape == (16, 3, 32, 32) for xb, _ in a)
    same = [
        torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b, strict=True)
    ]
    assert all(same) and len(same) == 4
    assert not any(torch.equal(xa, xc) for (xa, _), (xc, _) in zip(a, c, strict=True))
    # augmentation never changes which images form a batch: same order as batches
    x = images(64)
    plain = batches(x, torch.arange(64) % 10, 16, torch.Generator().manual_seed(7), True)
    assert [yb.tolist() for _, yb in plain] == [yb.tolist() for _, yb in c]


def test_epoch_batches_are_the_crops_of_that_epochs_draw():
    # batches() precomputes every image's offsets once per epoch; it must cut the very crops
    # that crops() cuts for the same draw (which the window test above checks pixel by pixel)
    x = images(64)
    y = torch.arange(64) % 10
    aug = CropFlip(x, SPEC.mean, SPEC.std, torch.Generator().manual_seed(3))
    got = list(aug.batches(y, 16, torch.Generator().manual_seed(4)))
    twin = CropFlip(x, SPEC.mean, SPEC.std, torch.Generator().manual_seed(3))
    dy, dx, flip = twin.draw(64)
    order = torch.Generator().manual_seed(4)
    for (xb, yb), idx in zip(got, batch_orders(64, 16, order, True, "cpu"), strict=True):
        assert torch.equal(xb, twin.crops(idx, dy[idx], dx[idx], flip[idx]))
        assert torch.equal(yb, y[idx])


def test_offsets_cover_the_whole_range_and_flip_half():
    aug = CropFlip(images(4), SPEC.mean, SPEC.std, torch.Generator().manual_seed(0))
    dy, dx, flip = aug.draw(20_000)
    assert sorted(dy.unique().tolist()) == list(range(9)) == sorted(dx.unique().tolist())
    assert 0.48 < flip.float().mean().item() < 0.52


def test_only_uint8_images():
    with pytest.raises(ValueError, match="uint8"):
        CropFlip(torch.zeros(2, 3, 32, 32), SPEC.mean, SPEC.std, torch.Generator())
