"""The class-conditional VAE: encoder q(z|x,y), decoder p(x|z,y), prior p(z|y), loss.

Kingma & Welling 2014 (VAE), Sohn et al. 2015 (CVAE). Two additions keep samples faithful
to their label when a class has only a handful of rows, where a plain CVAE learns to
ignore y:
- a learned per-class prior mean, p(z|y) = N(mu_y, I), so the latent space itself is
  partitioned by class and sampling from a class lands in that class's region;
- an auxiliary classifier fit on the real rows, whose cross-entropy on decoded prior
  samples (classifier weights frozen for that term) pushes the decoder to draw what the
  label says.

After training the model also keeps the posterior q(z|x,y) (mean and log-variance) of every
real row it was fit on, so it can draw a real row's style under any label (`sample_posterior`
with a target label): with a shared N(0, I) prior, z holds what varies within classes and y
what separates them, so the variation learned from plentiful classes can be drawn in a rare one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.config import ModelConfig
from pipeline.data.codec import Block

LOG_SIGMA_MIN = -4.0
SAMPLE_CHUNK = 256


@dataclass(frozen=True)
class ModelShape:
    """What the network needs to know about the data (stored with the weights)."""

    input_shape: tuple[int, ...]  # (D,) for tables, (C, H, W) for images
    n_classes: int
    arch: str  # "mlp" or "conv", resolved from "auto"

    @property
    def flat_dim(self) -> int:
        return int(torch.tensor(self.input_shape).prod())


def resolve_arch(arch: str, input_shape: tuple[int, ...]) -> str:
    if arch != "auto":
        return arch
    if len(input_shape) == 3 and min(input_shape[1:]) >= 16 and all(s % 4 == 0 for s in input_shape[1:]):
        return "conv"
    return "mlp"


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class _ConvTrunk(nn.Module):
    """Two stride-2 convolutions: (C, H, W) -> flat features of size ch[-1] * H/4 * W/4."""

    def __init__(self, shape: tuple[int, ...], channels: list[int]) -> None:
        super().__init__()
        c, h, w = shape
        self.net = nn.Sequential(
            nn.Conv2d(c, channels[0], 4, 2, 1),
            nn.SiLU(),
            nn.Conv2d(channels[0], channels[1], 4, 2, 1),
            nn.SiLU(),
            nn.Flatten(),
        )
        self.out_dim = channels[1] * (h // 4) * (w // 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _ConvHead(nn.Module):
    """Mirror of _ConvTrunk: a vector -> (C, H, W) logits."""

    def __init__(self, in_dim: int, shape: tuple[int, ...], channels: list[int]) -> None:
        super().__init__()
        c, h, w = shape
        self.grid = (channels[1], h // 4, w // 4)
        self.fc = nn.Sequential(nn.Linear(in_dim, channels[1] * (h // 4) * (w // 4)), nn.SiLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(channels[1], channels[0], 4, 2, 1),
            nn.SiLU(),
            nn.ConvTranspose2d(channels[0], c, 4, 2, 1),
        )

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.net(self.fc(v).view(-1, *self.grid))


class CVAE(nn.Module):
    def __init__(self, shape: ModelShape, cfg: ModelConfig, layout: list[Block]) -> None:
        super().__init__()
        self.shape, self.cfg, self.layout = shape, cfg, layout
        k, d, zdim = shape.n_classes, shape.flat_dim, cfg.latent_dim
        if shape.arch == "conv":
            self.enc_trunk: nn.Module = _ConvTrunk(shape.input_shape, cfg.conv_channels)
            self.enc_head = nn.Sequential(
                nn.Linear(self.enc_trunk.out_dim + k, cfg.hidden[-1]), nn.SiLU(), nn.Linear(cfg.hidden[-1], 2 * zdim)
            )
            self.dec: nn.Module = _ConvHead(zdim + k, shape.input_shape, cfg.conv_channels)
            trunk = _ConvTrunk(shape.input_shape, cfg.conv_channels)
            self.classifier = nn.Sequential(trunk, nn.Dropout(0.3), nn.Linear(trunk.out_dim, k))
        else:
            self.enc_trunk = nn.Flatten()
            self.enc_head = _mlp([d + k, *cfg.hidden, 2 * zdim])
            self.dec = _mlp([zdim + k, *reversed(cfg.hidden), d])
            self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.1), _mlp([d, cfg.hidden[0], k]))
        # prior p(z|y) = N(mu_y, I); class means start spread apart so classes begin separated
        prior = torch.randn(k, zdim) * cfg.prior_spread / max(zdim, 1) ** 0.5
        if cfg.prior == "learned":
            self.prior_mu = nn.Parameter(prior)
        else:
            self.register_buffer("prior_mu", torch.zeros(k, zdim))
        self.register_buffer("eye", torch.eye(k), persistent=False)
        self.modality = "image" if len(shape.input_shape) == 3 else "table"
        self.label_weight = cfg.label_weight_for(self.modality)
        self.free_bits = cfg.free_bits_for(self.modality)
        gauss = [i for b in layout if b.kind == "gaussian" for i in range(b.start, b.stop)]
        self.register_buffer("gauss_idx", torch.tensor(gauss, dtype=torch.long))
        self.log_sigma = nn.Parameter(torch.zeros(len(gauss)))
        # posteriors of the real rows (set by remember_posteriors after training); the
        # "variations" and "interpolate" sampling modes start from these
        self.register_buffer("post_mu", torch.zeros(0, zdim))
        self.register_buffer("post_logvar", torch.zeros(0, zdim))
        self.register_buffer("post_y", torch.zeros(0, dtype=torch.long))

    # --- the model ---------------------------------------------------------------------
    def onehot(self, y: torch.Tensor) -> torch.Tensor:
        return self.eye[y]  # F.one_hot checks y's range with a host sync on every call

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.enc_head(torch.cat([self.enc_trunk(x), self.onehot(y)], 1)).chunk(2, 1)
        return mu, logvar.clamp(-12, 8)

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Raw outputs, flat (N, D): Bernoulli logits, Gaussian means, categorical logits."""
        return self.dec(torch.cat([z, self.onehot(y)], 1)).flatten(1)

    def forward(self, x: torch.Tensor, y: torch.Tensor):
        mu, logvar = self.encode(x, y)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()  # reparameterisation
        return self.decode(z, y), mu, logvar

    def _randn(self, rows: int, width: int, generator: torch.Generator | None) -> torch.Tensor:
        """Standard normal noise; a CPU generator keeps sampling reproducible on any device."""
        device = self.prior_mu.device
        if generator is None:
            return torch.randn(rows, width, device=device)
        return torch.randn(rows, width, generator=generator).to(device)

    def output_noise(self, raw: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw Gaussian columns from p(x|z,y) (mean + sigma * eps) instead of taking the mean:
        decoder means alone are narrower than the data (a VAE's under-dispersion)."""
        if not len(self.gauss_idx):
            return raw
        sigma = self.log_sigma.clamp(min=LOG_SIGMA_MIN).exp()
        raw = raw.clone()
        raw[:, self.gauss_idx] += sigma * self._randn(len(raw), len(self.gauss_idx), generator)
        return raw

    def sample(
        self, y: torch.Tensor, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Decoder outputs for z ~ p(z|y), the latent noise scaled by temperature."""
        return self._decode_rows(
            self.prior_mu[y] + temperature * self._randn(len(y), self.cfg.latent_dim, generator), y
        )

    @torch.no_grad()
    def remember_posteriors(self, x: torch.Tensor, y: torch.Tensor, batch: int = 1024) -> None:
        """Store q(z|x,y) of the real rows (x, y) as buffers, so they travel with the weights."""
        mus, logvars = [], []
        for s in range(0, len(x), batch):
            mu, logvar = self.encode(x[s : s + batch], y[s : s + batch])
            mus.append(mu)
            logvars.append(logvar)
        zdim = self.cfg.latent_dim
        self.post_mu = torch.cat(mus) if mus else x.new_zeros(0, zdim)
        self.post_logvar = torch.cat(logvars) if logvars else x.new_zeros(0, zdim)
        self.post_y = y.detach().clone().long()

    def sample_posterior(
        self,
        source: torch.Tensor,
        y: torch.Tensor,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Decode, under label y, z drawn near the stored posterior of real row `source`:
        z = mu + temperature * sigma * eps. With y the row's own label this is a variation of
        the row; with another label it is the row's style drawn in that class."""
        mu, std = self.post_mu[source], (0.5 * self.post_logvar[source]).exp()
        mu = mu - self.prior_mu[self.post_y[source]] + self.prior_mu[y]  # the style, moved to y's prior
        return self._decode_rows(mu + temperature * std * self._randn(len(source), self.cfg.latent_dim, generator), y)

    def _decode_rows(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """decode(); when sampling a conv model, in chunks of SAMPLE_CHUNK rows (the same
        numbers, 1.35x faster on the CPU than 4096 rows at once: BENCHMARKS.md)."""
        if self.shape.arch != "conv" or torch.is_grad_enabled() or len(z) <= SAMPLE_CHUNK:
            return self.decode(z, y)
        return torch.cat(
            [self.decode(z[s : s + SAMPLE_CHUNK], y[s : s + SAMPLE_CHUNK]) for s in range(0, len(z), SAMPLE_CHUNK)]
        )

    def mean_input(self, raw: torch.Tensor) -> torch.Tensor:
        """Decoder outputs as a point in input space (what the classifier sees)."""
        if all(b.kind == "gaussian" for b in self.layout):  # numbers only: the means themselves
            return raw.view(-1, *self.shape.input_shape)
        parts = []
        for b in self.layout:
            part = raw[:, b.start : b.stop]
            parts.append(
                torch.sigmoid(part)
                if b.kind == "bernoulli"
                else torch.softmax(part, 1)
                if b.kind == "categorical"
                else part
            )
        return torch.cat(parts, 1).view(-1, *self.shape.input_shape)

    # --- the loss ----------------------------------------------------------------------
    def recon_nll(self, raw: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """-log p(x|z,y) per row, summed over features by each block's likelihood."""
        x = x.flatten(1)
        nll = raw.new_zeros(len(raw))
        for b in self.layout:
            if b.kind == "gaussian":  # all Gaussian columns at once, below
                continue
            r, t = raw[:, b.start : b.stop], x[:, b.start : b.stop]
            if b.kind == "bernoulli":
                nll = nll + F.binary_cross_entropy_with_logits(r, t, reduction="none").sum(1)
            else:
                nll = nll - (t * F.log_softmax(r, 1)).sum(1)
        if len(self.gauss_idx):
            log_sigma = self.log_sigma.clamp(min=LOG_SIGMA_MIN)
            diff = (raw[:, self.gauss_idx] - x[:, self.gauss_idx]) / log_sigma.exp()
            g = 0.5 * diff**2 + log_sigma + 0.9189385  # + log sqrt(2 pi)
            if mask is not None:
                g = g * mask[:, self.gauss_idx]
            nll = nll + g.sum(1)
        return nll

    def kl(self, mu: torch.Tensor, logvar: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """KL(q(z|x,y) || N(mu_y, I)) per latent unit, averaged over the batch."""
        per_unit = 0.5 * (logvar.exp() + (mu - self.prior_mu[y]) ** 2 - 1.0 - logvar)
        return per_unit.mean(0)

    def label_loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(classifier CE on real rows, decoder CE on prior samples judged by the frozen classifier)."""
        real_ce = F.cross_entropy(self.classifier(x), y)
        frozen = {n: p.detach() for n, p in self.classifier.named_parameters()}
        fake = self.mean_input(self.sample(y))
        fake_ce = F.cross_entropy(torch.func.functional_call(self.classifier, frozen, (fake,)), y)
        return real_ce, fake_ce

    def loss(self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None, beta: float) -> dict[str, torch.Tensor]:
        """Negative ELBO with free bits, plus the label terms."""
        raw, mu, logvar = self(x, y)
        recon = self.recon_nll(raw, x, mask).mean()
        kl_units = self.kl(mu, logvar, y)
        kl = kl_units.sum()
        kl_pen = kl_units.clamp(min=self.free_bits).sum() if self.free_bits > 0 else kl
        total = recon + beta * kl_pen
        out = {"recon": recon, "kl": kl}
        if self.label_weight > 0:
            real_ce, fake_ce = self.label_loss(x, y)
            total = total + real_ce + self.label_weight * fake_ce
            out |= {"clf_real": real_ce, "clf_fake": fake_ce}
        out["loss"] = total
        return out
