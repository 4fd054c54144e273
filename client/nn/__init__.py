"""gradwire.nn: modules, parameters, containers, layers, losses and initializers, as torch.nn."""
from . import functional, init  # noqa: F401
from .activation import (CELU, ELU, GELU, GLU, SELU, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSigmoid,
                         LogSoftmax, Mish, ReLU, ReLU6, Sigmoid, SiLU, Softmax, Softmin, Softplus, Softsign, Tanh,
                         Tanhshrink, Threshold, Hardshrink, Softshrink, RReLU)
from .conv_layers import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d, AdaptiveMaxPool1d,
                          AdaptiveMaxPool2d, AdaptiveMaxPool3d, AvgPool1d, AvgPool2d, AvgPool3d, ConstantPad1d,
                          ConstantPad2d, Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d, Fold,
                          LPPool1d, LPPool2d, LPPool3d, MaxPool1d, MaxPool2d, MaxPool3d, MaxUnpool1d, MaxUnpool2d,
                          MaxUnpool3d, PixelShuffle, PixelUnshuffle, ReflectionPad1d, ReflectionPad2d, ReplicationPad1d,
                          ReplicationPad2d, Unfold, ZeroPad2d)
from .attention import MultiheadAttention
from .channel_dropout import Dropout1d, Dropout2d, Dropout3d
from .containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from .layers import (BatchNorm1d, BatchNorm2d, BatchNorm3d, Bilinear, Dropout, Embedding, Flatten, GroupNorm,
                     Identity, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d, LayerNorm, Linear, RMSNorm, Unflatten, Upsample)
from .loss import (BCELoss, BCEWithLogitsLoss, CosineSimilarity, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss,
                   MarginRankingLoss, MSELoss, NLLLoss, PairwiseDistance, SmoothL1Loss, SoftMarginLoss,
                   MultiLabelSoftMarginLoss, HingeEmbeddingLoss, CosineEmbeddingLoss, TripletMarginLoss, PoissonNLLLoss)
from . import parameter, utils  # noqa: F401  (gw.nn.parameter and gw.nn.utils, as torch.nn's)
from .lazy import (LazyBatchNorm1d, LazyBatchNorm2d, LazyBatchNorm3d, LazyConv1d, LazyConv2d, LazyConv3d,
                   LazyConvTranspose1d, LazyConvTranspose2d, LazyConvTranspose3d, LazyLinear, UninitializedBuffer,
                   UninitializedParameter)
from .module import Module, Parameter
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from .transformer import (Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
                          TransformerEncoderLayer)

__all__ = [n for n in dir() if not n.startswith("_")]
