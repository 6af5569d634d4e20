"""The repository speaks to its users in versions and dates, not in the team's process words."""
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# a process word with a number, or the word for a working period: where a version or a date belongs
PROCESS_WORDS = re.compile(r'\b(stops?|milestones?|issues?) ?#?\d+|\bsessions?\b', re.IGNORECASE)
# pytest's own word for one run of the suite
PYTEST_SESSION = re.compile(r"scope='session'|test session|session checks|pytest session", re.IGNORECASE)


def test_no_process_vocabulary_in_the_repository():
    files = subprocess.run(['git', 'ls-files'], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    found = []
    for name in files:
        path = ROOT / name
        if name == 'test/test_vocabulary.py' or not path.is_file() or path.suffix in ('.png', '.pt', '.ply', '.obj'):
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if PROCESS_WORDS.search(line) and not PYTEST_SESSION.search(line):
                found.append(f'{name}:{number}: {line.strip()[:100]}')
    assert not found, 'process words where a version or date belongs:\n' + '\n'.join(found)
