"""A plain textbook CVAE (Sohn et al. 2015), the reference the product must not fall below.

Nothing from the product's model: one-hot label concatenated into encoder and decoder MLPs,
standard normal prior N(0, I), beta = 1, Adam 1e-3 for a fixed number of steps. The
likelihood follows the codec's blocks: squared error (summed, i.e. a fixed-variance
Gaussian) on standardised numbers, binary cross-entropy on pixels and missing flags,
cross-entropy on one-hot categories. Samples are z ~ N(0, I) decoded with the wanted label;
the codec turns decoder outputs into rows of the user's schema (means for numbers and
pixels, categories drawn from their softmax), and every generated row is used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.data.codec import Codec


class TextbookCVAE(nn.Module):
    """Two-layer MLP encoder q(z|x,y) and decoder p(x|z,y) on the flat encoded row."""

    def __init__(self, width: int, n_classes: int, latent: int, hidden: int) -> None:
        super().__init__()
        self.n_classes, self.latent = n_classes, latent
        self.encoder = nn.Sequential(
            nn.Linear(width + n_classes, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 2 * latent),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent + n_classes, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, width),
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        onehot = F.one_hot(y, self.n_classes).float()
        mu, logvar = self.encoder(torch.cat([x, onehot], 1)).chunk(2, 1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decoder(torch.cat([z, onehot], 1)), mu, logvar

    @torch.no_grad()
    def sample(self, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Raw decoder outputs (means, logits) for z drawn from the N(0, I) prior."""
        z = torch.randn(len(y), self.latent, generator=generator)
        return self.decoder(torch.cat([z, F.one_hot(y, self.n_classes).float()], 1))


def reconstruction(raw: torch.Tensor, x: torch.Tensor, codec: Codec) -> torch.Tensor:
    """Per-row negative log-likelihood, summed over the codec's blocks."""
    total = torch.zeros(len(x))
    for block in codec.layout:
        out, target = raw[:, block.start : block.stop], x[:, block.start : block.stop]
        if block.kind == "gaussian":
            total = total + ((out - target) ** 2).sum(1)
        elif block.kind == "bernoulli":
            total = total + F.binary_cross_entropy_with_logits(out, target, reduction="none").sum(1)
        else:
            total = total + F.cross_entropy(out, target.argmax(1), reduction="none")
    return total


def textbook_size(width: int) -> tuple[int, int]:
    """(latent units, hidden width of both MLP layers) for a flat input of `width` units."""
    return (16 if width > 100 else 8 if width > 20 else 4), (400 if width > 100 else 128)


def fit_textbook_cvae(
    x: torch.Tensor,
    y: torch.Tensor,
    codec: Codec,
    n_classes: int,
    seed: int,
    steps: int = 3000,
    batch: int = 64,
    latent: int | None = None,
    hidden: int | None = None,
) -> TextbookCVAE:
    """Train on every training row (rare and plentiful classes alike), ELBO with beta = 1."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    flat = x.flatten(1)
    width = flat.shape[1]
    latent = latent or textbook_size(width)[0]
    hidden = hidden or textbook_size(width)[1]
    model = TextbookCVAE(width, n_classes, latent, hidden)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(steps):
        idx = torch.randint(len(flat), (min(batch, len(flat)),), generator=gen)
        raw, mu, logvar = model(flat[idx], y[idx])
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
        loss = (reconstruction(raw, flat[idx], codec) + kl).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    return model


def textbook_rows(model: TextbookCVAE, codec: Codec, want: dict[int, int], seed: int):
    """`want[class index] = rows` as a frame of the user's feature columns, plus the class index per row."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.cat([torch.full((n,), c, dtype=torch.long) for c, n in want.items() if n > 0])
    raw = model.sample(labels, gen)
    if codec.modality == "image":
        raw = raw.reshape(-1, *codec.input_shape)
    return codec.decode(raw, generator=gen), labels
