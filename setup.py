"""Self-supervised representation learning on videos (TCC, SaL, TCN)."""

from setuptools import find_packages, setup

setup(
    name='tcc-video',
    version='0.1.0',
    description='Temporal Cycle-Consistency and friends: self-supervised '
                'video representation learning in TensorFlow 2.',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    python_requires='>=3.10',
    packages=find_packages(include=['tcc', 'tcc.*', 'seqalign', 'seqalign.*',
                                    'algos', 'algos.*',
                                    'evaluation', 'evaluation.*',
                                    'dataset_preparation',
                                    'dataset_preparation.*']),
    py_modules=['config', 'demo', 'datasets', 'models', 'train', 'evaluate',
                'extract_embeddings', 'visualize_alignment'],
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
    ],
    extras_require={'test': ['pytest']},
)
