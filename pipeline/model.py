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
real row it was fit on, so it can draw variations of real rows (sample near a row's
posterior) or latent interpolations between two rows of a class, not only prior samples.
For images it also keeps the real pixels (8-bit), so it can bend a real image along the
generator's own variation (`sample_warp`): the shape of a new sample, the strokes of a row.

Unlabelled rows, when the user has them, train the same model semi-supervised (Kingma et
al. 2014, M2): the classifier q(y|x) weighs each candidate label's ELBO, so the decoder
learns the data's shape from every row while the labels come from the few labelled ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.config import ModelConfig
from pipeline.data.codec import Block
from pipeline.deform import register, warp

LOG_SIGMA_MIN = -4.0


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
        gauss = [i for b in layout if b.kind == "gaussian" for i in range(b.start, b.stop)]
        self.register_buffer("gauss_idx", torch.tensor(gauss, dtype=torch.long))
        self.log_sigma = nn.Parameter(torch.zeros(len(gauss)))
        # posteriors of the real rows (set by remember_posteriors after training); the
        # "variations" and "interpolate" sampling modes start from these
        self.register_buffer("post_mu", torch.zeros(0, zdim))
        self.register_buffer("post_logvar", torch.zeros(0, zdim))
        self.register_buffer("post_y", torch.zeros(0, dtype=torch.long))
        self.register_buffer("post_x", torch.zeros(0, dtype=torch.uint8))  # real pixels (images only)

    # --- the model ---------------------------------------------------------------------
    def onehot(self, y: torch.Tensor) -> torch.Tensor:
        return F.one_hot(y, self.shape.n_classes).float()

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

    def sample(
        self, y: torch.Tensor, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        if generator is None:
            eps = torch.randn(len(y), self.cfg.latent_dim, device=self.prior_mu.device)
        else:  # a CPU generator keeps sampling reproducible on any device
            eps = torch.randn(len(y), self.cfg.latent_dim, generator=generator).to(self.prior_mu.device)
        return self.decode(self.prior_mu[y] + temperature * eps, y)

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
        images = len(self.shape.input_shape) == 3
        self.post_x = (x * 255).round().clamp(0, 255).to(torch.uint8) if images else x.new_zeros(0, dtype=torch.uint8)

    def sample_posterior(
        self,
        source: torch.Tensor,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        partner: torch.Tensor | None = None,
        mix: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Decode z drawn near stored real rows: z = mu + temperature * sigma * eps.

        source indexes the stored posteriors; with partner and mix (in [0, 1]) the mean and
        sigma are interpolated between the two rows first (latent mixup within a class)."""
        mu, std = self.post_mu[source], (0.5 * self.post_logvar[source]).exp()
        if partner is not None:
            w = mix.to(mu.device, mu.dtype)[:, None]
            mu = (1 - w) * mu + w * self.post_mu[partner]
            std = (1 - w) * std + w * (0.5 * self.post_logvar[partner]).exp()
        if generator is None:
            eps = torch.randn(len(source), self.cfg.latent_dim, device=mu.device)
        else:
            eps = torch.randn(len(source), self.cfg.latent_dim, generator=generator).to(mu.device)
        return self.decode(mu + temperature * std * eps, self.post_y[source])

    def sample_warp(
        self, source: torch.Tensor, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Stored real images bent along the generator, as pixel means (N, C, H, W).

        For each row: the smooth warp that takes the decoder's picture of the row (its
        posterior mean) to a fresh prior sample of its class is found, then applied to the
        row's real pixels. The shape comes from the generator; the strokes stay sharp and
        real, where a decoded sample is a blurry average."""
        y = self.post_y[source]
        start = self.mean_input(self.decode(self.post_mu[source], y))
        goal = self.mean_input(self.sample(y, temperature, generator))
        return warp(self.post_x[source].to(start.dtype) / 255, register(start, goal)).clamp(0, 1)

    def mean_input(self, raw: torch.Tensor) -> torch.Tensor:
        """Decoder outputs as a point in input space (what the classifier sees)."""
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
            r, t = raw[:, b.start : b.stop], x[:, b.start : b.stop]
            if b.kind == "bernoulli":
                nll = nll + F.binary_cross_entropy_with_logits(r, t, reduction="none").sum(1)
            elif b.kind == "categorical":
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

    def unlabelled_loss(self, x: torch.Tensor, mask: torch.Tensor | None, beta: float) -> dict[str, torch.Tensor]:
        """M2's bound for rows without a label: sum_y q(y|x) * -ELBO(x, y) - H(q(y|x)).

        The sum runs over the `unlabelled_classes` most likely labels (all of them for up to
        that many classes), so a step costs that many decoder passes per row, not one per class."""
        logits = self.classifier(x)
        q = torch.softmax(logits, 1)
        entropy = -(q * torch.log_softmax(logits, 1)).sum(1)
        m = min(self.cfg.unlabelled_classes, self.shape.n_classes)
        weight, labels = q.topk(m, 1)
        xr = x.repeat_interleave(m, 0)
        mr = None if mask is None else mask.repeat_interleave(m, 0)
        raw, mu, logvar = self(xr, labels.flatten())
        kl = 0.5 * (logvar.exp() + (mu - self.prior_mu[labels.flatten()]) ** 2 - 1.0 - logvar)
        if self.cfg.free_bits > 0:  # the same floor per unit as the labelled term
            kl = kl.clamp(min=self.cfg.free_bits)
        bound = (self.recon_nll(raw, xr, mr) + beta * kl.sum(1)).view(len(x), m)
        return {"unlabelled": ((weight * bound).sum(1) - entropy).mean(), "unlabelled_entropy": entropy.mean().detach()}

    def loss(
        self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None, beta: float, train_classifier: bool = False
    ) -> dict[str, torch.Tensor]:
        """Negative ELBO with free bits, plus the label terms; train_classifier fits the
        classifier head on the labelled rows even without the label loss (M2 needs it)."""
        raw, mu, logvar = self(x, y)
        recon = self.recon_nll(raw, x, mask).mean()
        kl_units = self.kl(mu, logvar, y)
        kl = kl_units.sum()
        kl_pen = kl_units.clamp(min=self.cfg.free_bits).sum() if self.cfg.free_bits > 0 else kl
        total = recon + beta * kl_pen
        out = {"recon": recon, "kl": kl}
        weight = 1.0 if self.cfg.classifier_weight is None else self.cfg.classifier_weight
        if self.cfg.label_loss_weight > 0:
            real_ce, fake_ce = self.label_loss(x, y)
            total = total + weight * real_ce + self.cfg.label_loss_weight * fake_ce
            out |= {"clf_real": real_ce, "clf_fake": fake_ce}
        elif train_classifier:
            real_ce = F.cross_entropy(self.classifier(x), y)
            total = total + weight * real_ce
            out["clf_real"] = real_ce
        out["loss"] = total
        return out
