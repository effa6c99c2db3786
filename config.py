"""The global experiment configuration.

`CONFIG` holds every default. Key names follow the published TCC configuration
so existing YAML files keep working. The defaults (no YAML at all) are the
embedded CPU demo: the synthetic pouring dataset and a small CNN.

Typical use:

    from config import CONFIG, load_config
    load_config(['configs/published/pouring.yml'], ['TRAIN.BATCH_SIZE=4'])

A tool that works on a trained run reads the run's config without touching
CONFIG and installs it only while it works on that run:

    run_config = config.read_config_from_logdir(logdir)
    with config.use_config(run_config):
      ...  # code that reads CONFIG sees the run's config

`tcc/` never imports this module.
"""

import contextlib
import copy
import difflib
import os

import yaml
from easydict import EasyDict as edict

from utils import atomic_files

CONFIG_FILENAME = 'config.yml'

_C = edict()

# ----------------------------------------------------------------------------
# Top level.
# ----------------------------------------------------------------------------
_C.LOGDIR = '/tmp/tcc_logs/'
_C.DATASETS = ['synthetic_pouring']
# '%s' is replaced by the dataset name. A leading '~' is expanded.
_C.PATH_TO_TFRECORDS = '~/.cache/tcc_video/%s_tfrecords/'
# One of: alignment, sal, tcn, alignment_sal_tcn, classification.
_C.TRAINING_ALGO = 'alignment'
_C.IMAGE_SIZE = 64
_C.SEED = 0

# ----------------------------------------------------------------------------
# Training.
# ----------------------------------------------------------------------------
_C.TRAIN = edict()
_C.TRAIN.MAX_ITERS = 1200
_C.TRAIN.BATCH_SIZE = 4
_C.TRAIN.NUM_FRAMES = 20
_C.TRAIN.VISUALIZE_INTERVAL = 200
# '' (float32), 'mixed_float16' (GPUs; uses loss scaling) or 'mixed_bfloat16'.
_C.TRAIN.MIXED_PRECISION = ''
# XLA-compile the training step.
_C.TRAIN.JIT_COMPILE = False
# Deterministic kernels and input pipeline
# (tf.config.experimental.enable_op_determinism): the same SEED then gives
# the same weights run after run. Without it, training on the CPU is not
# reproducible (threaded kernels and the parallel input pipeline). On the CPU
# it costs no measurable speed (CRW demo); on GPUs some kernels are slower
# and a few ops have no deterministic kernel and raise. It stays on for the
# rest of the process.
_C.TRAIN.DETERMINISTIC = False

# ----------------------------------------------------------------------------
# Evaluation.
# ----------------------------------------------------------------------------
_C.EVAL = edict()
_C.EVAL.BATCH_SIZE = 4
_C.EVAL.NUM_FRAMES = 20
# Number of validation batches for the algo_loss task.
_C.EVAL.VAL_ITERS = 10
_C.EVAL.TASKS = ['algo_loss', 'classification', 'kendalls_tau',
                 'event_completion', 'few_shot_classification']
# Frames embedded at a time when embedding whole videos.
_C.EVAL.FRAMES_PER_BATCH = 40
_C.EVAL.KENDALLS_TAU_STRIDE = 2
_C.EVAL.KENDALLS_TAU_DISTANCE = 'sqeuclidean'
_C.EVAL.CLASSIFICATION_FRACTIONS = [0.1, 0.5, 1.0]
_C.EVAL.FEW_SHOT_NUM_LABELED = [1, 5]
_C.EVAL.FEW_SHOT_NUM_EPISODES = 20
# Seconds between looks for a new checkpoint in --continuous mode.
_C.EVAL.POLL_INTERVAL = 10
# Stop following training after this many seconds without a new checkpoint.
_C.EVAL.TIMEOUT = 3600

# ----------------------------------------------------------------------------
# Model.
# ----------------------------------------------------------------------------
_C.MODEL = edict()
# 'conv' or 'convgru'.
_C.MODEL.EMBEDDER_TYPE = 'conv'

_C.MODEL.BASE_MODEL = edict()
# 'Resnet50_pretrained' (Keras ResNet50V2), 'VGGM' (the published VGG-M-esque
# network), 'SmallCNN', the name of any keras.applications model
# ('MobileNetV2', 'EfficientNetB0', 'ResNet50V2', ...) or the path of a saved
# Keras model file ('/path/model.keras').
_C.MODEL.BASE_MODEL.NETWORK = 'SmallCNN'
# Name of the layer whose output is the feature map (the cut point), e.g.
# 'conv4_block3_out' for ResNet50V2, 'conv4' for VGGM; '' = the network's own
# output. Ignored by SmallCNN.
_C.MODEL.BASE_MODEL.LAYER = 'conv4_block3_out'
# Weights of keras.applications networks other than Resnet50_pretrained (which
# reads MODEL.RESNET_PRETRAINED_WEIGHTS): a local .h5 / .weights.h5 file,
# 'imagenet' (Keras download) or '' for random init.
_C.MODEL.BASE_MODEL.WEIGHTS = 'imagenet'
# How frames in [-1, 1] are prepared for the base network: 'auto' (a
# keras.applications network gets its own preprocess_input; the others get
# [-1, 1]), 'none' ([-1, 1] unchanged), 'pixels' ([0, 255]) or the name of a
# keras.applications model whose preprocess_input to apply.
_C.MODEL.BASE_MODEL.PREPROCESSING = 'auto'
# SmallCNN channel widths; each stage halves the spatial size.
_C.MODEL.BASE_MODEL.SMALL_CNN_FILTERS = [32, 64, 128]

# 'frozen', 'only_bn' or 'train_all'.
_C.MODEL.TRAIN_BASE = 'train_all'
_C.MODEL.TRAIN_EMBEDDING = True
# Weights of Resnet50_pretrained: a local .h5 file, 'imagenet' (Keras
# download), or '' for random init.
_C.MODEL.RESNET_PRETRAINED_WEIGHTS = ''

# The VGG-M-esque base network (NETWORK: VGGM).
_C.MODEL.VGGM = edict()
_C.MODEL.VGGM.USE_BN = True

_C.MODEL.CONV_EMBEDDER_MODEL = edict()
# [filters, kernel_size, activate] per 3D conv layer: a convolution, BatchNorm
# when USE_BN, and a ReLU when activate is true.
_C.MODEL.CONV_EMBEDDER_MODEL.CONV_LAYERS = [[64, 3, True]]
# 'max_pool', 'avg_pool' or 'flatten'.
_C.MODEL.CONV_EMBEDDER_MODEL.FLATTEN_METHOD = 'max_pool'
# [units, activate] per fully connected layer: dropout (FC_DROPOUT_RATE), a
# Dense layer, and a ReLU when activate is true.
_C.MODEL.CONV_EMBEDDER_MODEL.FC_LAYERS = [[128, True], [128, True]]
# BatchNorm after the Dense of every FC layer (before its ReLU). Not in the
# published model (false there); the CPU demo trains with it.
_C.MODEL.CONV_EMBEDDER_MODEL.FC_BATCH_NORM = True
_C.MODEL.CONV_EMBEDDER_MODEL.CAPACITY_SCALAR = 1
_C.MODEL.CONV_EMBEDDER_MODEL.EMBEDDING_SIZE = 128
_C.MODEL.CONV_EMBEDDER_MODEL.L2_NORMALIZE = False
_C.MODEL.CONV_EMBEDDER_MODEL.BASE_DROPOUT_RATE = 0.0
_C.MODEL.CONV_EMBEDDER_MODEL.BASE_DROPOUT_SPATIAL = False
_C.MODEL.CONV_EMBEDDER_MODEL.FC_DROPOUT_RATE = 0.1
_C.MODEL.CONV_EMBEDDER_MODEL.USE_BN = True

_C.MODEL.CONVGRU_EMBEDDER_MODEL = edict()
# [filters, kernel_size, activate] per 2D conv layer (as CONV_LAYERS above).
_C.MODEL.CONVGRU_EMBEDDER_MODEL.CONV_LAYERS = [[512, 3, True], [512, 3, True]]
_C.MODEL.CONVGRU_EMBEDDER_MODEL.GRU_LAYERS = [128]
# Dropout before every conv layer.
_C.MODEL.CONVGRU_EMBEDDER_MODEL.DROPOUT_RATE = 0.0
_C.MODEL.CONVGRU_EMBEDDER_MODEL.USE_BN = True
# Size of the linear output layer after the GRUs.
_C.MODEL.CONVGRU_EMBEDDER_MODEL.EMBEDDING_SIZE = 128

# Weight decay: the L2 penalty of every regularized weight (kernels and biases
# of the embedder, the heads and VGGM/SmallCNN convolutions) is
# L2_REG_WEIGHT * sum(w^2), and the loss adds the MEAN of these penalties.
_C.MODEL.L2_REG_WEIGHT = 0.00001

# ----------------------------------------------------------------------------
# Temporal Cycle-Consistency (TCC).
# ----------------------------------------------------------------------------
_C.ALIGNMENT = edict()
_C.ALIGNMENT.STOCHASTIC_MATCHING = False
_C.ALIGNMENT.NORMALIZE_EMBEDDINGS = False
_C.ALIGNMENT.CYCLE_LENGTH = 2
_C.ALIGNMENT.LOSS_TYPE = 'regression_mse_var'
_C.ALIGNMENT.SIMILARITY_TYPE = 'l2'
_C.ALIGNMENT.SOFTMAX_TEMPERATURE = 0.1
_C.ALIGNMENT.LABEL_SMOOTHING = 0.1
_C.ALIGNMENT.VARIANCE_LAMBDA = 0.001
_C.ALIGNMENT.HUBER_DELTA = 0.1
_C.ALIGNMENT.NORMALIZE_INDICES = True
# Stochastic matching draws int(batch size * frames per video * FRACTION)
# cycles (at least 1).
_C.ALIGNMENT.FRACTION = 1.0

# ----------------------------------------------------------------------------
# Shuffle and Learn.
# ----------------------------------------------------------------------------
_C.SAL = edict()
_C.SAL.DROPOUT_RATE = 0.0
# [units, activate] per layer (dropout, Dense, ReLU when activate); the last
# layer must have 2 units.
_C.SAL.FC_LAYERS = [[128, True], [64, True], [2, False]]
# BatchNorm after the Dense of every layer but the last (not in the published
# model; the CPU demo trains with it).
_C.SAL.FC_BATCH_NORM = True
_C.SAL.SHUFFLE_FRACTION = 0.75
_C.SAL.NUM_SAMPLES = 8
_C.SAL.LABEL_SMOOTHING = 0.0

# ----------------------------------------------------------------------------
# Time-Contrastive Networks, single view.
# ----------------------------------------------------------------------------
_C.TCN = edict()
_C.TCN.POSITIVE_WINDOW = 5
_C.TCN.REG_LAMBDA = 0.002

# ----------------------------------------------------------------------------
# Weighted sum of TCC, SaL and TCN.
# ----------------------------------------------------------------------------
_C.ALIGNMENT_SAL_TCN = edict()
_C.ALIGNMENT_SAL_TCN.ALIGNMENT_LOSS_WEIGHT = 0.33
_C.ALIGNMENT_SAL_TCN.SAL_LOSS_WEIGHT = 0.33

# ----------------------------------------------------------------------------
# Supervised baseline (per-frame phase classification).
# ----------------------------------------------------------------------------
_C.CLASSIFICATION = edict()
_C.CLASSIFICATION.LABEL_SMOOTHING = 0.0
_C.CLASSIFICATION.DROPOUT_RATE = 0.0
# Number of phase classes; 0 = read num_classes from the datasets'
# dataset_info.json (train.py then writes the resolved number to config.yml).
_C.CLASSIFICATION.NUM_CLASSES = 0

# ----------------------------------------------------------------------------
# Optimizer and learning rate.
# ----------------------------------------------------------------------------
_C.OPTIMIZER = edict()
# 'AdamOptimizer' or 'MomentumOptimizer'.
_C.OPTIMIZER.TYPE = 'AdamOptimizer'
_C.OPTIMIZER.MOMENTUM = 0.9
# Adam's beta_1 (0.9: Keras's and PyTorch's default; TimeCycle's official
# code uses 0.5).
_C.OPTIMIZER.ADAM_BETA1 = 0.9
_C.OPTIMIZER.WEIGHT_DECAY = 0.0
# Clip the global gradient norm (0 = no clipping).
_C.OPTIMIZER.GRAD_CLIP_NORM = 0.0

_C.OPTIMIZER.LR = edict()
_C.OPTIMIZER.LR.INITIAL_LR = 0.002
# 'fixed', 'exp_decay' or 'manual'.
_C.OPTIMIZER.LR.DECAY_TYPE = 'manual'
_C.OPTIMIZER.LR.EXP_DECAY_RATE = 0.97
_C.OPTIMIZER.LR.EXP_DECAY_STEPS = 1000
_C.OPTIMIZER.LR.MANUAL_LR_STEP_BOUNDARIES = [900]
_C.OPTIMIZER.LR.MANUAL_LR_DECAY_RATE = 0.1
_C.OPTIMIZER.LR.NUM_WARMUP_STEPS = 0

# ----------------------------------------------------------------------------
# Data: sampling and input pipeline.
# ----------------------------------------------------------------------------
_C.DATA = edict()
# 'offset_uniform', 'stride' or 'all'.
_C.DATA.SAMPLING_STRATEGY = 'offset_uniform'
_C.DATA.RANDOM_OFFSET = 1
# Frames between consecutive sampled frames of the 'stride' strategy.
_C.DATA.STRIDE = 16
# Context frames per sampled frame, FRAME_STRIDE apart, ending at the frame.
# The demo uses 1 (published: 2); docs/configuration.md says why.
_C.DATA.NUM_STEPS = 1
_C.DATA.FRAME_STRIDE = 5
# Stride used when embedding every frame for evaluation.
_C.DATA.SAMPLE_ALL_STRIDE = 1
_C.DATA.FRAME_LABELS = True
# Fraction of each dataset's training videos used.
_C.DATA.PER_DATASET_FRACTION = 1.0
# Find a split's TFRecords as '<dir>/*<split>*' (every file whose name holds
# the split, e.g. one shard set per class in one directory) instead of
# '<dir>/<dataset>_<split>*'.
_C.DATA.PER_CLASS = False
_C.DATA.SHUFFLE_QUEUE_SIZE = 0
_C.DATA.NUM_PREFETCH_BATCHES = 1
# Parallel decode/augment calls in tf.data (-1 = autotune).
_C.DATA.NUM_PARALLEL_CALLS = -1

# ----------------------------------------------------------------------------
# Synthetic pouring dataset, generated on first use of a dataset
# whose name starts with 'synthetic'.
# ----------------------------------------------------------------------------
_C.SYNTHETIC = edict()
_C.SYNTHETIC.NUM_TRAIN_VIDEOS = 40
_C.SYNTHETIC.NUM_VAL_VIDEOS = 20
_C.SYNTHETIC.MIN_FRAMES = 60
_C.SYNTHETIC.MAX_FRAMES = 100
_C.SYNTHETIC.NUM_VIEWS = 1
_C.SYNTHETIC.SEED = 0
# Appearance variation between videos in [0, 1] (0: one fixed look, only the
# timing differs; 1: random hues, inverted luminance, strong texture, camera).
_C.SYNTHETIC.VARIATION = 0.5
# Mirror half of the synthetic videos horizontally.
_C.SYNTHETIC.MIRROR = True

# ----------------------------------------------------------------------------
# Augmentation, identical for every frame of one video.
# ----------------------------------------------------------------------------
_C.AUGMENTATION = edict()
_C.AUGMENTATION.RANDOM_FLIP = True
_C.AUGMENTATION.RANDOM_CROP = True
_C.AUGMENTATION.RANDOM_CROP_MIN_SCALE = 0.8
_C.AUGMENTATION.BRIGHTNESS = True
_C.AUGMENTATION.BRIGHTNESS_MAX_DELTA = 32.0 / 255
_C.AUGMENTATION.CONTRAST = True
_C.AUGMENTATION.CONTRAST_LOWER = 0.7
_C.AUGMENTATION.CONTRAST_UPPER = 1.3
_C.AUGMENTATION.HUE = False
_C.AUGMENTATION.HUE_MAX_DELTA = 0.2
_C.AUGMENTATION.SATURATION = False
_C.AUGMENTATION.SATURATION_LOWER = 0.5
_C.AUGMENTATION.SATURATION_UPPER = 1.5

# ----------------------------------------------------------------------------
# Logging and checkpoints.
# ----------------------------------------------------------------------------
_C.LOGGING = edict()
_C.LOGGING.REPORT_INTERVAL = 50

_C.CHECKPOINT = edict()
_C.CHECKPOINT.SAVE_INTERVAL = 250
_C.CHECKPOINT.MAX_TO_KEEP = 5

# ----------------------------------------------------------------------------
# Data pipeline variants (not in the published code; off by default).
# ----------------------------------------------------------------------------
# Mix the datasets of DATASETS inside each batch (round robin over videos).
# Off: as published, each batch comes from a single dataset.
_C.DATA.MIX_DATASETS_IN_BATCH = False
# offset_uniform: draw the offset uniformly in [0, RANDOM_OFFSET) instead of
# using RANDOM_OFFSET itself (published).
_C.DATA.DRAW_RANDOM_OFFSET = False
# A video too short for its sampling strategy gets indices spread evenly over
# all its frames instead of being padded with its last frame (published).
_C.DATA.SPREAD_SHORT_VIDEOS = False
# ----------------------------------------------------------------------------
# Training at scale (docs/scaling.md).
# ----------------------------------------------------------------------------
# Training steps run inside one tf.function call: losses are averaged on the
# device, summaries are written and the non-finite check runs once per loop.
# A loop always ends at the next checkpoint, report and visualization step.
_C.TRAIN.STEPS_PER_LOOP = 10
# Pairwise losses (TCC, and the TCC part of alignment_sal_tcn) align the
# videos of the whole global batch under a tf.distribute strategy; false
# aligns only the videos of each replica's share (the published behaviour).
_C.TRAIN.CROSS_REPLICA_ALIGNMENT = True
# With MODEL.TRAIN_BASE 'frozen': compute the base CNN's features of every
# training frame once (beside the TFRecords) and train the embedder from
# them; frames are then not augmented (see data/features.py).
_C.DATA.CACHE_BASE_FEATURES = False
# 'float32' (exact) or 'float16' (half the disk space).
_C.DATA.CACHE_BASE_FEATURES_DTYPE = 'float32'
# ----------------------------------------------------------------------------
# Multi-view Time-Contrastive Networks (defaults of the published TCN code,
# tensorflow/models research/tcn: tcn_default.yml and pouring.yml).
# ----------------------------------------------------------------------------
_C.MVTCN = edict()
# 'npairs' (published pouring experiments) or 'triplet' (semi-hard mining).
_C.MVTCN.LOSS = 'npairs'
# Pairs are drawn from a random window of this many frames (29 fps * 20 s).
_C.MVTCN.WINDOW = 580
_C.MVTCN.NPAIRS_REG_LAMBDA = 0.002
# L2-normalise the embedding (in the model, so evaluation sees it too).
_C.MVTCN.NPAIRS_EMBEDDING_L2 = False
_C.MVTCN.TRIPLET_MARGIN = 0.2
_C.MVTCN.TRIPLET_EMBEDDING_L2 = True

# Single-view TCN triplet loss: positives within POS_RADIUS frames of the
# anchor, negatives farther than NEG_RADIUS frames.
_C.SVTCN = edict()
_C.SVTCN.POS_RADIUS = 6
_C.SVTCN.NEG_RADIUS = 12
_C.SVTCN.MARGIN = 0.2
_C.SVTCN.EMBEDDING_L2 = True

# alignment_mvtcn: w * TCC + (1 - w) * multi-view TCN.
_C.ALIGNMENT_MVTCN = edict()
_C.ALIGNMENT_MVTCN.ALIGNMENT_LOSS_WEIGHT = 0.5

# alignment_svtcn: w * TCC + (1 - w) * single-view TCN, on svtcn's windows.
_C.ALIGNMENT_SVTCN = edict()
_C.ALIGNMENT_SVTCN.ALIGNMENT_LOSS_WEIGHT = 0.5

# ----------------------------------------------------------------------------
# Sequence-alignment methods after TCC (the seqalign/ library): LAV, SCL of
# CARL, GTA; CARL's Transformer embedder; the training protocol of a run.
# ----------------------------------------------------------------------------
# How the datasets of a run relate to the classes of a multi-action benchmark
# (Penn Action), reported by evaluate.py: 'per_class' (DATASETS is one action;
# one model per action, as TCC), 'all_classes' (DATASETS lists every action;
# one model for all, as LAV and later papers), or '' (single-dataset data such
# as Pouring; nothing to choose).
_C.DATA.PROTOCOL = ''

# K of the `retrieval` evaluation task (mAP@K, CARL's fine-grained frame
# retrieval). Add 'retrieval' and 'progress_error' to EVAL.TASKS to run them.
_C.EVAL.RETRIEVAL_KS = [5, 10, 15]

# Synthetic takes in which the container is put back where it was picked up,
# along the path it came: only the liquid tells forwards from backwards.
_C.SYNTHETIC.TIME_SYMMETRIC = False

# LAV (Haresh et al., CVPR 2021): soft-DTW + contrastive IDM regulariser.
_C.LAV = edict()
_C.LAV.SOFT_DTW_GAMMA = 0.1
# Weight alpha of the IDM regulariser.
_C.LAV.ALPHA = 0.5
# Frames within WINDOW frames of each other are pulled together, others
# pushed beyond MARGIN (squared distance).
_C.LAV.WINDOW = 10
_C.LAV.MARGIN = 2.0
# L2-normalise embeddings inside the loss (LAV's embedder does).
_C.LAV.NORMALIZE_EMBEDDINGS = True

# SCL, the sequence contrastive loss of CARL (Chen et al., CVPR 2022). Each
# video gives two views, each TRAIN.NUM_FRAMES frames from its own random
# temporal crop (a fraction in [MIN_CROP_FRACTION, 1] of the video).
_C.SCL = edict()
_C.SCL.SOFTMAX_TEMPERATURE = 0.1
# sigma^2 of the Gaussian target, in frames^2.
_C.SCL.LABEL_VARIANCE = 10.0
_C.SCL.NORMALIZE_EMBEDDINGS = True
_C.SCL.MIN_CROP_FRACTION = 0.6

# GTA (Hadji et al., CVPR 2021): smoothed DTW with global cycle-consistency.
_C.GTA = edict()
# Smoothing of the smoothed DTW (gamma_s).
_C.GTA.GAMMA = 0.1
# Temperature of the -log softmax cost (gamma_f).
_C.GTA.COST_TEMPERATURE = 0.1
_C.GTA.LABEL_SMOOTHING = 0.1
# Weight of each of the two alignment costs.
_C.GTA.ALIGNMENT_WEIGHT = 0.1
_C.GTA.NORMALIZE_EMBEDDINGS = True

# CARL's Transformer over the per-frame features of a sequence
# (MODEL.EMBEDDER_TYPE: transformer). With positional encoding it can read
# frame positions: use it with SCL only (see docs/alignment_methods.md).
_C.MODEL.TRANSFORMER_EMBEDDER_MODEL = edict()
# [units, batch_norm] per fully connected layer before the Transformer.
_C.MODEL.TRANSFORMER_EMBEDDER_MODEL.FC_LAYERS = [[256, True]]
_C.MODEL.TRANSFORMER_EMBEDDER_MODEL.HIDDEN_SIZE = 128
_C.MODEL.TRANSFORMER_EMBEDDER_MODEL.NUM_LAYERS = 2
_C.MODEL.TRANSFORMER_EMBEDDER_MODEL.NUM_HEADS = 4
_C.MODEL.TRANSFORMER_EMBEDDER_MODEL.D_FF = 256
_C.MODEL.TRANSFORMER_EMBEDDER_MODEL.DROPOUT_RATE = 0.1
_C.MODEL.TRANSFORMER_EMBEDDER_MODEL.EMBEDDING_SIZE = 128
# Sin-cos positional encoding of the frame's position in the sequence (CARL).
_C.MODEL.TRANSFORMER_EMBEDDER_MODEL.POSITIONAL_ENCODING = True
_C.MODEL.TRANSFORMER_EMBEDDER_MODEL.L2_NORMALIZE = True

# ----------------------------------------------------------------------------
# Space-time correspondence: the fully-convolutional ResNet-18 encoder, label
# propagation, the contrastive random walk (CRW), TimeCycle, and the synthetic
# moving-objects data (DAVIS layout + TFRecords).
# ----------------------------------------------------------------------------
# MODEL.BASE_MODEL.NETWORK 'FCResNet18': ResNet-18 with stride 8 (CRW).
_C.FC_RESNET18 = edict()
# Channels of the first stage (64 = ResNet-18; smaller for the CPU demo).
_C.FC_RESNET18.WIDTH = 64
# Stages used in training (4 = the whole network, as CRW trains).
_C.FC_RESNET18.NUM_STAGES = 4
# 'reflect' (CRW's encoder trained from scratch) or 'zeros'.
_C.FC_RESNET18.PADDING = 'reflect'

# Label propagation (evaluation task `label_propagation`, tools/propagate_labels.py).
_C.PROPAGATION = edict()
# A DAVIS-layout folder; '' = the one generated beside the TFRecords of the
# first synthetic_objects dataset of DATASETS (<tfrecords dir>/davis).
_C.PROPAGATION.DAVIS_ROOT = ''
_C.PROPAGATION.SPLIT = 'val'
# Preceding frames in the context queue (besides the first frame).
_C.PROPAGATION.NUM_CONTEXT = 20
_C.PROPAGATION.TOPK = 10
# Spatial radius, in feature cells, for the preceding frames.
_C.PROPAGATION.RADIUS = 12.0
_C.PROPAGATION.TEMPERATURE = 0.05
# Encoder stages whose output is propagated (CRW drops ResNet stage 4 at test
# time: 3); 0 = the whole base network.
_C.PROPAGATION.ENCODER_STAGES = 3
# Frames are resized by this factor (bilinear) before their features are
# computed; masks and keypoints are scored at the stored size. 1.0 = the
# frames as stored (the published DAVIS protocol: 480p). The CPU demo configs
# use 2.0: the published models train on 256 px frames and propagate on 480p
# ones (about 1.9x); the demo trains on 96 px frames.
_C.PROPAGATION.FRAME_SCALE = 1.0
# Score only the first N sequences (0 = all).
_C.PROPAGATION.MAX_SEQUENCES = 0
# 'crw': the shared protocol above (CRW's). 'timecycle': TimeCycle's own
# (test_davis.py): each context frame attended on its own over all its cells
# (RADIUS unused), its top-k softmax weights summed over the frames, and each
# label min-max scaled per frame; its published run: NUM_CONTEXT 7, TOPK 5,
# TEMPERATURE 512 ** -0.5 (configs/methods/timecycle.yml).
_C.PROPAGATION.PROTOCOL = 'crw'

# Contrastive random walk (Jabri, Owens and Efros, NeurIPS 2020).
_C.CRW = edict()
# Frames per training clip (the paper's training command: 4; code default 8).
_C.CRW.CLIP_LENGTH = 4
# Frames between consecutive clip frames.
_C.CRW.FRAME_STRIDE = 1
# Softmax temperature of the transitions (training command 0.05).
_C.CRW.TEMPERATURE = 0.05
# Probability of dropping an edge of the affinity before the softmax.
_C.CRW.EDGE_DROPOUT = 0.1
# Nodes: a grid of PATCH_SIZE patches every PATCH_STRIDE pixels (64 / 32 on
# 256 px frames = 7 x 7 nodes).
_C.CRW.PATCH_SIZE = 64
_C.CRW.PATCH_STRIDE = 32
# Training augmentation of the published command (--frame-transforms crop
# --frame-aug grid): every frame of a clip gets its own random resized crop
# (area fraction FRAME_CROP_SCALE, aspect ratio FRAME_CROP_RATIO, resized
# back to IMAGE_SIZE), then every patch its own spatial jitter (area
# fraction PATCH_JITTER_SCALE, aspect ratio 3/4 .. 4/3, resized back to
# PATCH_SIZE). A scale of [1.0, 1.0] turns that crop off.
_C.CRW.FRAME_CROP_SCALE = [0.8, 0.95]
_C.CRW.FRAME_CROP_RATIO = [0.7, 1.3]
_C.CRW.PATCH_JITTER_SCALE = [0.7, 0.9]
# Node embedding: mean-pooled patch features -> HEAD_DEPTH hidden layers
# (0 = one linear layer) -> EMBEDDING_SIZE, L2-normalised.
_C.CRW.HEAD_DEPTH = 0
_C.CRW.EMBEDDING_SIZE = 128

# TimeCycle (Wang, Jabri and Efros, CVPR 2019).
_C.TIMECYCLE = edict()
# A training sample, as the official code: the patch is tracked through
# CLIP_LENGTH frames FRAME_STRIDE apart (official videoLen 4, frame_gap 2);
# it is cut from a target frame (CLIP_LENGTH + TARGET_DISTANCE) *
# FRAME_STRIDE - 1 frames after the first (official predDistance 4: 15
# frames), and the frame FRAME_STRIDE after the target is read for motion.
_C.TIMECYCLE.CLIP_LENGTH = 4
_C.TIMECYCLE.FRAME_STRIDE = 2
_C.TIMECYCLE.TARGET_DISTANCE = 4
# The patch is centred on one of the 10 most-moving windows of 3 x 3 cells
# of a MOTION_GRID x MOTION_GRID grid (official gridSize 9), rotated by up
# to MAX_ROTATION degrees either way (official 45).
_C.TIMECYCLE.MOTION_GRID = 9
_C.TIMECYCLE.MAX_ROTATION = 45.0
# Side of the patch cropped from the target frame, as a fraction of the frame
# (the image features are 30 x 30 and the patch features 10 x 10 in the paper,
# so 1/3).
_C.TIMECYCLE.PATCH_FRACTION = 0.3333
# Channels of the feature projection (1x1 convolution + ReLU; paper 512). It
# reads the base network's stage that propagation uses
# (PROPAGATION.ENCODER_STAGES of an FCResNet18), as the official code
# projects the res4 features it propagates.
_C.TIMECYCLE.FEATURE_DIM = 512
# Tracker head (localizer) regressing the transform from the affinity:
# 'valid4x4' (the official code: two 4x4 convolutions without padding, 10 x
# 10 patch cells -> 7 x 7 -> 4 x 4; needs patches of 7 x 7 cells or more) or
# 'same3x3' (two 3x3 convolutions that keep the size, for small patches).
_C.TIMECYCLE.LOCALIZER = 'valid4x4'
# Affinity temperature (on cosine similarities): the official --T, 512**-0.5.
_C.TIMECYCLE.TEMPERATURE = 512 ** -0.5
# Weights of the long-cycle, skip-cycle and feature-similarity losses: the
# official training loss, inlier + lamda * skip + 0.2 * lamda * long with
# lamda = 0.1 (train_video_cycle_simple.py).
_C.TIMECYCLE.LONG_WEIGHT = 0.02
_C.TIMECYCLE.SKIP_WEIGHT = 0.1
_C.TIMECYCLE.SIMILARITY_WEIGHT = 1.0

# Synthetic textured objects over moving textured backgrounds.
_C.SYNTHETIC_OBJECTS = edict()
_C.SYNTHETIC_OBJECTS.NUM_TRAIN_VIDEOS = 40
_C.SYNTHETIC_OBJECTS.NUM_VAL_VIDEOS = 8
_C.SYNTHETIC_OBJECTS.NUM_FRAMES = 24
# Side of the rendered frames (the DAVIS copy and the TFRecords).
_C.SYNTHETIC_OBJECTS.FRAME_SIZE = 96
_C.SYNTHETIC_OBJECTS.MAX_OBJECTS = 3
_C.SYNTHETIC_OBJECTS.SEED = 0
# A named test set where colour does not identify the objects ('' = the
# default objects above): instance, drift, instance_drift, camouflage_0.0,
# camouflage_0.5, camouflage_0.8 or camouflage_1.0
# (dataset_preparation/synthetic_objects.py SETS, docs/correspondence.md).
# Each has its own fixed seed (SEED is then unused) and is written to its own
# folder (config.tfrecords_dir: the dataset's name with '-<SET>' after it).
_C.SYNTHETIC_OBJECTS.SET = ''

CONFIG = _C
# Pristine copy, so that load_config can start from the defaults every time.
_DEFAULTS = copy.deepcopy(_C)


class ConfigError(ValueError):
  """A configuration key or value that cannot be used."""


def _all_keys(cfg, prefix=''):
  keys = []
  for k, v in cfg.items():
    full = prefix + k
    keys.append(full)
    if isinstance(v, dict):
      keys.extend(_all_keys(v, full + '.'))
  return keys


def _unknown_key_error(full_key, source):
  close = difflib.get_close_matches(full_key, _all_keys(_DEFAULTS), n=3,
                                    cutoff=0.5)
  hint = (' Closest known keys: %s.' % ', '.join(close)) if close else ''
  return ConfigError('%sunknown config key %s.%s' % (source, full_key, hint))


def _check_type(full_key, default, value, source):
  """Returns `value` converted to the type of `default`, or raises."""
  def fail():
    return ConfigError(
        '%sconfig key %s expects %s (default %r), got %r.' %
        (source, full_key, type(default).__name__, default, value))
  if isinstance(default, bool):
    if not isinstance(value, bool):
      raise fail()
    return value
  if isinstance(default, int):
    if isinstance(value, bool) or not isinstance(value, int):
      raise fail()
    return value
  if isinstance(default, float):
    if isinstance(value, str):
      # YAML 1.1 reads '1e-4' (no dot) as a string; accept it as a number.
      try:
        return float(value)
      except ValueError:
        raise fail() from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
      raise fail()
    return float(value)
  if isinstance(default, str):
    if not isinstance(value, str):
      raise fail()
    return value
  if isinstance(default, (list, tuple)):
    if not isinstance(value, (list, tuple)):
      raise fail()
    return list(value)
  return value


# Keys of earlier releases that are gone, each with the one value that means
# what the code now does. A config.yml of such a release (in an old logdir)
# still loads when the key holds that value; another value is refused.
REMOVED_KEYS = {
    # The monotonic soft-DTW term added to TCC; 0 is the published TCC.
    'ALIGNMENT.SOFT_DTW_WEIGHT': 0.0,
    # Shortest CRW palindrome walk scored; the published code scores k >= 2.
    'CRW.MIN_WALK_LENGTH': 2,
    # TimeCycle's feature-similarity term: the official code's inlier count.
    'TIMECYCLE.SIMILARITY': 'inlier',
}


def _check_removed_key(full_key, value, source):
  """Accepts removed key `full_key` at its REMOVED_KEYS value, or raises."""
  expected = REMOVED_KEYS[full_key]
  same_kind = (isinstance(value, str) if isinstance(expected, str) else
               isinstance(value, (int, float)) and not isinstance(value, bool))
  if same_kind and value == expected:
    return
  raise ConfigError(
      '%sconfig key %s was removed; it can only hold %r (what the code does '
      'now), got %r: delete the key.' % (source, full_key, expected, value))


def _merge(src, dst, prefix, source):
  for k, v in src.items():
    full = prefix + k
    if k not in dst and full in REMOVED_KEYS:
      _check_removed_key(full, v, source)
      continue
    if k not in dst:
      raise _unknown_key_error(full, source)
    if isinstance(dst[k], dict):
      if not isinstance(v, dict):
        raise ConfigError('%sconfig key %s is a section; give a mapping, '
                          'got %r.' % (source, full, v))
      _merge(v, dst[k], full + '.', source)
    else:
      dst[k] = _check_type(full, dst[k], v, source)


def merge_dict(values, cfg=None, source=''):
  """Merges a (nested) dict into `cfg` (default CONFIG), checking keys/types."""
  _merge(values, CONFIG if cfg is None else cfg, '', source)


# configs/ is split into published/, methods/ and demo/; the flat paths of the
# published code and of earlier releases (configs/demo.yml, configs/pouring.yml,
# ...) still name the same files.
CONFIG_GROUPS = ('published', 'methods', 'demo')


def resolve_config_path(path):
  """`path`, or where a flat `configs/NAME.yml` path now lives.

  Args:
    path: a YAML path as the user wrote it.

  Returns:
    `path` when it exists; else, for a file directly under a `configs`
    folder, the first existing `configs/<group>/NAME.yml`; else `path`.
  """
  if os.path.isfile(path):
    return path
  folder, name = os.path.split(path)
  if os.path.basename(os.path.normpath(folder or '.')) == 'configs':
    for group in CONFIG_GROUPS:
      candidate = os.path.join(folder, group, name)
      if os.path.isfile(candidate):
        return candidate
  return path


def merge_yaml(path, cfg=None):
  """Merges the YAML file at `path` into `cfg` (default CONFIG)."""
  path = resolve_config_path(path)
  if not os.path.isfile(path):
    raise ConfigError('%s: config file not found; check --config_path.' % path)
  with open(path) as f:
    try:
      values = yaml.safe_load(f) or {}
    except yaml.YAMLError as e:
      raise ConfigError('%s: not valid YAML (%s).' % (path, str(e).replace(
          '\n', ' '))) from None
  if not isinstance(values, dict):
    raise ConfigError('%s: a config file must hold a mapping of keys.' % path)
  merge_dict(values, cfg, source='%s: ' % path)


def apply_override(override, cfg=None):
  """Applies one 'KEY.SUB=VALUE' string; VALUE is parsed as YAML."""
  if '=' not in override:
    raise ConfigError('override %r must look like KEY.SUB=VALUE.' % override)
  key, raw = override.split('=', 1)
  key = key.strip()
  try:
    value = yaml.safe_load(raw) if raw.strip() else ''
  except yaml.YAMLError:
    value = raw
  nested = value
  for part in reversed(key.split('.')):
    nested = {part: nested}
  merge_dict(nested, cfg, source='--override %s: ' % key)


def _install(values):
  """Replaces the contents of CONFIG, in place, by those of `values`."""
  CONFIG.clear()
  vars(CONFIG).clear()  # EasyDict also keeps every key as an attribute.
  CONFIG.update(values)


def declare_section(name, defaults):
  """Adds the config section `name`, declared by a method in its own module.

  A method added to the algorithm registry (`algos.register`) declares its
  settings beside its code; this makes them keys like every other: merged
  from YAML, checked by type, saved in config.yml. A section that exists
  already must have the same defaults.

  Args:
    name: the section, e.g. 'MYMETHOD'.
    defaults: dict of its keys and default values (nested dicts allowed).

  Raises:
    ConfigError: `name` exists with other defaults.
  """
  values = edict(copy.deepcopy(defaults))
  if name in _DEFAULTS:
    if to_plain(_DEFAULTS[name]) != to_plain(values):
      raise ConfigError('config section %s is declared twice with different '
                        'defaults.' % name)
    return
  _DEFAULTS[name] = values
  CONFIG[name] = copy.deepcopy(values)


def reset_config():
  """Restores every key of CONFIG to its default, in place."""
  _install(copy.deepcopy(_DEFAULTS))


def build_config(config_paths=(), overrides=()):
  """A new config: defaults, then YAML files left to right, then overrides.

  CONFIG is not touched.

  Args:
    config_paths: list of YAML paths, or one comma-separated string.
    overrides: list of 'KEY.SUB=VALUE' strings.

  Returns:
    a new EasyDict with every key of CONFIG.
  """
  if isinstance(config_paths, str):
    config_paths = [p for p in config_paths.split(',') if p.strip()]
  if isinstance(overrides, str):
    overrides = [overrides]
  cfg = copy.deepcopy(_DEFAULTS)
  for path in config_paths:
    merge_yaml(path.strip(), cfg)
  for override in overrides:
    apply_override(override, cfg)
  return cfg


def load_config(config_paths=(), overrides=()):
  """Installs `build_config(config_paths, overrides)` into CONFIG.

  For a process that runs one experiment (train.py, the benchmarks). CONFIG
  is unchanged when a file or override is rejected.

  Returns:
    CONFIG.
  """
  _install(build_config(config_paths, overrides))
  return CONFIG


def read_config_from_logdir(logdir, overrides=()):
  """The config that training wrote in `logdir`, plus overrides.

  CONFIG is not touched: run code under `use_config(cfg)` to use it.

  Args:
    logdir: the --logdir of train.py.
    overrides: list of 'KEY.SUB=VALUE' strings applied on top of config.yml.

  Returns:
    a new EasyDict: the defaults, then <logdir>/config.yml, then `overrides`.

  Raises:
    ConfigError: no config.yml in `logdir`, or a bad key or value.
  """
  path = os.path.join(logdir, CONFIG_FILENAME)
  if not os.path.isfile(path):
    raise ConfigError('%s: no config.yml in this logdir; is it a logdir that '
                      'train.py wrote? Pass the --logdir given to train.py.'
                      % path)
  return build_config([path], overrides)


@contextlib.contextmanager
def use_config(cfg):
  """Within it, CONFIG holds a copy of `cfg`; afterwards its old contents.

  CONFIG is changed in place (modules hold it by name), and restored also
  when the block raises. Changes made to CONFIG inside the block are lost at
  its end and do not reach `cfg`.

  Args:
    cfg: a complete config, e.g. from `build_config` or
      `read_config_from_logdir`.

  Yields:
    CONFIG.
  """
  previous = dict(CONFIG)
  _install(copy.deepcopy(cfg))
  try:
    yield CONFIG
  finally:
    _install(previous)


def to_plain(cfg):
  """A plain dict/list copy of `cfg` (what YAML dumps)."""
  if isinstance(cfg, dict):
    return {k: to_plain(v) for k, v in cfg.items()}
  if isinstance(cfg, (list, tuple)):
    return [to_plain(v) for v in cfg]
  return cfg


def save_config(logdir, cfg=None):
  """Writes `cfg` (default CONFIG) to <logdir>/config.yml atomically."""
  os.makedirs(logdir, exist_ok=True)
  path = os.path.join(logdir, CONFIG_FILENAME)
  with atomic_files.atomic_open(path, 'w') as f:
    yaml.safe_dump(to_plain(CONFIG if cfg is None else cfg), f,
                   default_flow_style=None, sort_keys=False)
  return path


def tfrecords_dir(dataset, cfg=None):
  """Directory holding the TFRecords of `dataset`; a synthetic_objects
  dataset with a SYNTHETIC_OBJECTS.SET has its own: that of
  '<dataset>-<set>' (or <PATH_TO_TFRECORDS>/<set> without a '%s')."""
  cfg = CONFIG if cfg is None else cfg
  set_name = (cfg.SYNTHETIC_OBJECTS.SET
              if dataset.startswith('synthetic_objects') else '')
  path = cfg.PATH_TO_TFRECORDS
  if '%s' in path:
    path = path % ('%s-%s' % (dataset, set_name) if set_name else dataset)
  elif set_name:
    path = os.path.join(path, set_name)
  return os.path.expanduser(path)
