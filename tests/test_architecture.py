"""The import graph points one way (docs/architecture.md).

An AST read of every project module outside tests/, benchmarks/ and
experiments/: no import cycle between top-level units, counting imports
written inside functions; no project import inside a function; no library
module importing a command-line script; `data/` importing nothing above
it (no `config`, no `datasets`); the runners (runners/) imported
only by the command lines, and importing none of them.
"""

import ast
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ON_TOP = {'tests', 'benchmarks', 'experiments', 'docs', 'configs', 'build'}
CLIS = {'train', 'evaluate', 'extract_embeddings', 'visualize_alignment',
        'demo'}
RUNNERS = 'runners'


def _modules():
  """{dotted module name: path} of the project's modules."""
  found = {}
  for directory, subdirs, files in os.walk(REPO):
    rel = os.path.relpath(directory, REPO)
    top = rel.split(os.sep)[0]
    if rel != '.' and (top in ON_TOP or top.startswith('.') or
                       top.endswith('egg-info') or top == '__pycache__'):
      subdirs[:] = []
      continue
    for name in files:
      if name.endswith('.py') and not (rel == '.' and name == 'setup.py'):
        path = os.path.normpath(os.path.join(rel, name))
        dotted = path[:-3].replace(os.sep, '.')
        found[dotted[:-len('.__init__')] if dotted.endswith('.__init__')
              else dotted] = os.path.join(directory, name)
  return found


def _imports(modules):
  """[(importing module, imported name, inside a function)] of project
  imports."""
  units = {m.split('.')[0] for m in modules}
  result = []
  for module, path in modules.items():
    with open(path) as f:
      tree = ast.parse(f.read())
    in_function = set()
    for node in ast.walk(tree):
      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        in_function.update(id(n) for n in ast.walk(node)
                           if isinstance(n, (ast.Import, ast.ImportFrom)))
    for node in ast.walk(tree):
      if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
      elif isinstance(node, ast.ImportFrom) and not node.level:
        names = [node.module or '']
      else:
        continue
      for name in names:
        if name.split('.')[0] in units:
          result.append((module, name, id(node) in in_function))
  return result


def _cycles(edges):
  """Strongly connected components with more than one unit (Tarjan)."""
  index, low, stack, on_stack, found = {}, {}, [], set(), []

  def visit(unit):
    index[unit] = low[unit] = len(index)
    stack.append(unit)
    on_stack.add(unit)
    for other in edges.get(unit, ()):
      if other not in index:
        visit(other)
        low[unit] = min(low[unit], low[other])
      elif other in on_stack:
        low[unit] = min(low[unit], index[other])
    if low[unit] == index[unit]:
      component = []
      while True:
        other = stack.pop()
        on_stack.discard(other)
        component.append(other)
        if other == unit:
          break
      if len(component) > 1:
        found.append(sorted(component))

  for unit in sorted(edges):
    if unit not in index:
      visit(unit)
  return found


def test_imports_point_one_way():
  modules = _modules()
  imports = _imports(modules)
  edges = {}
  for module, name, _ in imports:
    source, target = module.split('.')[0], name.split('.')[0]
    if source != target:
      edges.setdefault(source, set()).add(target)
  # The read sees the known downward edges.
  assert {'models', 'data', 'config'} <= edges['algos']
  assert 'datasets' in edges['evaluation']
  assert _cycles(edges) == []
  assert [(m, n) for m, n, deferred in imports if deferred] == []
  library = [(m, n) for m, n, _ in imports
             if n in CLIS and m.split('.')[0] not in CLIS | {'tools'}]
  assert library == []


def test_data_is_config_free():
  imports = _imports(_modules())
  data_imports = [(m, n) for m, n, _ in imports
                  if m.split('.')[0] == 'data']
  # The read sees the imports inside data/.
  assert {('data.features', 'data'), ('data.sampling', 'utils')} <= set(
      data_imports)
  above = [(m, n) for m, n in data_imports
           if n.split('.')[0] not in ('data', 'utils')]
  assert above == []


def test_runners_sit_between_the_library_and_the_command_lines():
  imports = _imports(_modules())
  # The read sees the runners and their users.
  assert {'runners.training', 'runners.evaluation'} <= {
      n for m, n, _ in imports if m in ('train', 'evaluate')}
  library = [(m, n) for m, n, _ in imports
             if n.split('.')[0] == RUNNERS and
             m.split('.')[0] not in CLIS | {'tools', RUNNERS}]
  assert library == []
  runner_clis = [(m, n) for m, n, _ in imports
                 if m.split('.')[0] == RUNNERS and n.split('.')[0] in CLIS | {
                     'tools'}]
  assert runner_clis == []


def test_the_check_can_fail():
  assert _cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [
      ['a', 'b', 'c']]
  assert _cycles({'a': {'b'}, 'b': set()}) == []
