"""Self-supervised representation learning on videos (TCC, SaL, TCN).

Installing puts only the standalone library packages on the path (the loss
library `tcc`), never the repository's top-level modules and folders
(`datasets`, `evaluate`, `config`, `models`, `train`, `demo`, `algos`,
`evaluation`, `dataset_preparation`, ...), whose generic names would hide
other packages (e.g. Hugging Face's `datasets` and `evaluate`). The
command-line tools run from the repository root (`python demo.py`,
`python train.py`, `python -m dataset_preparation.videos_to_tfrecords`).
"""

import os

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))
# The release number, read from the one file that holds it.
with open(os.path.join(HERE, 'VERSION')) as f:
  VERSION = f.read().strip()

# Standalone library packages (no import of the repository's modules); each
# is installed with its sub-packages.
LIBRARY_PACKAGES = ['tcc', 'tcn', 'seqalign']

setup(
    name='tcc-video',
    version=VERSION,
    description='Temporal Cycle-Consistency and friends: self-supervised '
                'video representation learning in TensorFlow 2.',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    python_requires='>=3.10',
    packages=LIBRARY_PACKAGES,
    py_modules=[],
    install_requires=[
        'tensorflow>=2.16',
        'tensorboard',
        'numpy',
        'scipy',
        'scikit-learn',
        'opencv-python-headless',
        'matplotlib',
        'absl-py',
        'easydict',
        'pyyaml',
        # Installed with scikit-learn; limits BLAS threads where
        # evaluation/kendall.py runs its own threads.
        'threadpoolctl',
    ],
    extras_require={'test': ['pytest', 'pytest-xdist']},
)
