"""CIFAR's standard augmentation on whole batches: random crop with 4-pixel padding + flip.

The same transform as torchvision's `RandomCrop(32, padding=4)` then `RandomHorizontalFlip()`
(He et al. 2016, sec. 4.2): pad with black, cut a window at a uniform offset in [0, 2p] on each
axis (p = 4), mirror it with probability 1/2, then normalise with the dataset's mean/std.

How it stays cheap. A crop at offset (dy, dx) of the padded image is the image shifted by
(dy - p, dx - p) with the uncovered border black. In an image stored C x H x W in row-major
order, that shift moves every pixel of every channel by the same k = (dy - p) W + (dx - p)
elements: the crop is one contiguous block of memory, read k elements away from the image's
own, with the pixels that wrapped in from a neighbouring row, plane or image zeroed by one of
(2p + 1)^2 precomputed masks. So a batch is one `index_select` of whole contiguous blocks over
an overlapping strided view of the uint8 images (memory-speed, no per-pixel gather, no Python
per sample), a multiply by the masks, and the normalisation. Flips read a mirrored copy of the
images, kept beside them. It runs where the images are (CPU or GPU); offsets are drawn by a CPU
generator seeded from the run seed, so a seed gives the same crops on every device.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from relubench.data.batches import batch_orders


class CropFlip:
    """Seeded random crop (black padding `pad`) + horizontal flip of uint8 images, by batch."""

    def __init__(
        self,
        images: torch.Tensor,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        generator: torch.Generator,
        pad: int = 4,
    ) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"CropFlip takes uint8 (N, C, H, W) images, got {images.dtype}")
        n, c, h, w = images.shape
        self.n, self.c, self.h, self.w, self.pad = n, c, h, w, pad
        self.generator = generator
        self.block = c * h * w  # one image, in elements
        self.slack = pad * w + pad  # the largest shift: room before the first, after the last
        # [slack | the n images | their n mirror images | slack]
        store = images.new_zeros(2 * self.slack + 2 * n * self.block)
        body = store[self.slack : self.slack + 2 * n * self.block].view(2, n, c, h, w)
        body[0] = images
        body[1] = images.flip(3)
        self.store = store
        # blocks[o] = the `block` elements starting at element o: any shift of any image
        self.blocks = store.as_strided((store.numel() - self.block + 1, self.block), (1, 1))
        # masks[dy * (2p + 1) + dx]: 1 where the crop at (dy, dx) covers the image, 0 = padding
        dev = images.device
        shifts = torch.arange(-pad, pad + 1, device=dev).view(-1, 1)
        src_row = torch.arange(h, device=dev) + shifts  # (2p + 1, h): the image row read
        src_col = torch.arange(w, device=dev) + shifts
        rows_in, cols_in = (src_row >= 0) & (src_row < h), (src_col >= 0) & (src_col < w)
        masks = rows_in.view(-1, 1, h, 1) & cols_in.view(1, -1, 1, w)
        self.masks = masks.to(torch.uint8).view(-1, h, w)
        # normalise uint8 v as v * scale + shift = (v / 255 - mean) / std; stored at full image
        # shape, as a broadcast over (1, c, 1, 1) measured slower than plain elementwise
        std_t = torch.tensor(std, device=dev).view(1, c, 1, 1)
        mean_t = torch.tensor(mean, device=dev).view(1, c, 1, 1)
        self.scale = (1.0 / (255.0 * std_t)).expand(1, c, h, w).contiguous()
        self.shift = (-mean_t / std_t).expand(1, c, h, w).contiguous()

    def crops(
        self, idx: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flip: torch.Tensor
    ) -> torch.Tensor:
        """Normalised float crops of images `idx`: rows dy.., columns dx.. of the padded image,
        mirrored where `flip` - exactly flip(pad(image)[dy:dy+H, dx:dx+W]) where flip is set.

        (That is the crop at 2p - dx of the mirror image, which is what is read.)
        """
        return self._gather(*self._offsets(idx, dy, dx, flip))

    def _offsets(
        self, idx: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flip: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Where each crop starts in `store`, and which mask it takes."""
        p = self.pad
        dx = torch.where(flip, 2 * p - dx, dx)
        image = flip.long() * self.n + idx
        start = self.slack + image * self.block + (dy - p) * self.w + (dx - p)
        return start, dy * (2 * p + 1) + dx

    def _gather(self, start: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        u8 = self.blocks.index_select(0, start).view(len(start), self.c, self.h, self.w)
        u8.mul_(self.masks.index_select(0, mask).unsqueeze(1))
        x = u8.float()
        return torch.addcmul(self.shift, x, self.scale, out=x)  # one fused pass, in place

    def draw(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Offsets dy, dx in [0, 2p] and flips for n images, from the seeded CPU generator."""
        g = self.generator
        dy = torch.randint(0, 2 * self.pad + 1, (n,), generator=g)
        dx = torch.randint(0, 2 * self.pad + 1, (n,), generator=g)
        flip = torch.randint(0, 2, (n,), generator=g).bool()
        dev = self.store.device
        return dy.to(dev), dx.to(dev), flip.to(dev)

    def batches(
        self, y: torch.Tensor, batch_size: int, order: torch.Generator
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch of augmented (images, labels) batches, full batches only, shuffled by
        `order` exactly as `data.batches` would shuffle them (same generator, same order)."""
        # one draw per epoch (image i gets dy[i], dx[i], flip[i]), turned into offsets at once:
        # per batch, only two small gathers and the three passes over its pixels remain
        dev = self.store.device
        start, mask = self._offsets(torch.arange(self.n, device=dev), *self.draw(self.n))
        for idx in batch_orders(self.n, batch_size, order, True, dev):
            x = self._gather(start.index_select(0, idx), mask.index_select(0, idx))
            yield x, y.index_select(0, idx)
