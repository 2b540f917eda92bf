"""convpool.nn.functional: the same functions as convpool.functional (PyTorch's
torch.nn.functional path), so `import convpool.nn.functional as F` works too."""

from ..functional import *  # noqa: F403
from ..functional import __all__  # noqa: F401
