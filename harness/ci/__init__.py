"""Building blocks of `harness ci`: what a git change affects, the base version of a prompt read
from git, and the Markdown / JUnit writers. The command itself lives in harness.cli."""
