"""Installing the project claims no generic top-level name."""

import ast
import os
import runpy

import setuptools

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Names other distributions use, or too generic to own.
GENERIC_NAMES = {'datasets', 'evaluate', 'config', 'models', 'train', 'demo',
                 'algos', 'evaluation', 'dataset_preparation', 'tests',
                 'benchmarks', 'experiments', 'configs', 'docs', 'utils',
                 'data', 'common'}


def _setup_kwargs(monkeypatch):
  captured = {}
  monkeypatch.setattr(setuptools, 'setup', captured.update)
  monkeypatch.chdir(REPO)
  runpy.run_path(os.path.join(REPO, 'setup.py'), run_name='__main__')
  return captured


def _repo_top_level_modules():
  return {os.path.splitext(name)[0] for name in os.listdir(REPO)
          if name.endswith('.py') and name != 'setup.py'}


def test_setup_declares_only_library_packages(monkeypatch):
  kwargs = _setup_kwargs(monkeypatch)
  packages = list(kwargs.get('packages') or [])
  modules = list(kwargs.get('py_modules') or [])
  assert packages, 'setup.py declares no package'
  top_level = {name.split('.')[0] for name in packages + modules}
  forbidden = GENERIC_NAMES | _repo_top_level_modules()
  assert not top_level & forbidden, sorted(top_level & forbidden)
  assert not kwargs.get('package_dir'), (
      'package_dir {"": ...} would make `pip install -e .` put the '
      'repository root on sys.path')


def test_library_packages_import_nothing_of_the_repository(monkeypatch):
  repo_names = (_repo_top_level_modules() |
                {d for d in os.listdir(REPO)
                 if os.path.isfile(os.path.join(REPO, d, '__init__.py'))})
  for package in _setup_kwargs(monkeypatch)['packages']:
    own = package.split('.')[0]
    folder = os.path.join(REPO, *package.split('.'))
    for name in os.listdir(folder):
      if not name.endswith('.py'):
        continue
      tree = ast.parse(open(os.path.join(folder, name)).read())
      for node in ast.walk(tree):
        if isinstance(node, ast.Import):
          imported = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
          imported = [node.module]
        else:
          continue
        for module in imported:
          top = module.split('.')[0]
          assert top == own or top not in repo_names, (
              '%s/%s imports %s, which an install does not provide' %
              (package, name, module))
