"""The benchmarks' throw-away databases are copies of one migrated template: project/migrated_template.py, which the
test suite uses too. Imported by the scripts as a sibling module (`python bench/<name>.py` puts this folder on
sys.path; the repository's root is on it as well)."""
from project.migrated_template import create_database, database_url, ensure_template, setup_bench_databases, use_template

__all__ = ["create_database", "database_url", "ensure_template", "setup_bench_databases", "use_template"]
