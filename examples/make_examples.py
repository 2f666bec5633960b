"""Regenerate the bundled example archives (needs torch: ``pip install 'pt2canon[torch]'``).

* ``mlp_v1.pt2``          a small MLP with a dynamic batch dimension;
* ``mlp_v1_again.pt2``    the same module exported again under another file
                          name, with another batch size for the example input:
                          the same program, so the same hash;
* ``mlp_v2.pt2``          the same weights with one extra activation: one
                          added node in the diff.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).parent


class MLP(nn.Module):
    def __init__(self, extra_activation: bool = False) -> None:
        super().__init__()
        self.fc1 = nn.Linear(16, 32)
        self.fc2 = nn.Linear(32, 32)
        self.head = nn.Linear(32, 4)
        self.extra_activation = extra_activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc1(x))
        h = self.fc2(h)
        if self.extra_activation:
            h = torch.nn.functional.gelu(h)
        return torch.softmax(self.head(h), dim=-1)


def main() -> None:
    batch = torch.export.Dim("batch", min=1, max=1024)
    torch.manual_seed(0)
    v1 = MLP().eval()
    v2 = MLP(extra_activation=True).eval()
    v2.load_state_dict(v1.state_dict())
    torch.export.save(torch.export.export(v1, (torch.randn(8, 16),), dynamic_shapes=({0: batch},)), HERE / "mlp_v1.pt2")
    torch.export.save(torch.export.export(v1, (torch.randn(32, 16),), dynamic_shapes=({0: batch},)), HERE / "mlp_v1_again.pt2")
    torch.export.save(torch.export.export(v2, (torch.randn(8, 16),), dynamic_shapes=({0: batch},)), HERE / "mlp_v2.pt2")


if __name__ == "__main__":
    main()
